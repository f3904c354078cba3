"""The gRPC side of `hoptrace collect`: OTLP/gRPC `TraceService/Export`, on 4317 by default.

The same write path as OTLP/HTTP: an Export is decoded by `collector.otlp._decode` and
handed to `Receiver.accept`, which spools it (fsync'd) and queues it on the one write
queue before OK is answered, so an OK means what HTTP's 200 means: durable.

Answers (the OTLP/gRPC spec's codes):
- OK with an empty `ExportTraceServiceResponse`, or with `partial_success` naming the
  spans refused one by one (bad ids, a timestamp past 2^63 ns); their neighbours are stored.
- INVALID_ARGUMENT: the message is not an `ExportTraceServiceRequest`; nothing is stored.
- RESOURCE_EXHAUSTED: over the receiver's `max_body_bytes` (gRPC's own receive limit, also
  after decompression), or more RPCs at once than `max_concurrent_rpcs` (gRPC's own answer,
  without retry info: the limit matches HTTP's 128 connections so that producers rarely
  meet it; some exporters, Go's, retry RESOURCE_EXHAUSTED only with retry info).
- UNAVAILABLE with retry info: the write queue is full or the spool cannot write (a full
  disk). The delay is sent both as `grpc-status-details-bin` (a `google.rpc.Status` with a
  `RetryInfo` detail, the standard form) and as `google.rpc.retryinfo-bin` (a bare
  `RetryInfo`, the key the OTel Python exporter 1.45 reads).
- UNAUTHENTICATED: a token is set and `authorization: Bearer <token>` is missing or wrong;
  decided from the call's metadata before its message is read (`_TokenCheck`).

The service is opentelemetry-proto's generated `TraceServiceServicer`, registered with a
bytes-in handler instead of `add_TraceServiceServicer_to_server`: that one parses requests
itself and answers a message it cannot parse with INTERNAL before our code runs (OTLP asks
for INVALID_ARGUMENT, which clients do not retry), and with the raw bytes the spool keeps
the request as received, without re-serialising it.

Memory stays bounded: `workers` threads receive and decode (each holds at most one message
of `max_body_bytes`), at most `max_concurrent_rpcs` RPCs are admitted at once, and a
connection is recycled after `max_connection_age` seconds (GOAWAY, then `connection_grace`
for RPCs in flight), which also bounds how long a stalled sender can hold a worker.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, NamedTuple

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceServicer

from collector.otlp import _decode as _otlp
from collector.otlp._http import HTTPError

if TYPE_CHECKING:
    from collector.otlp._receiver import Receiver

__all__ = ["EXPORT_METHOD", "SERVICE", "GrpcServer", "TraceService"]

log = logging.getLogger("hoptrace.collect")

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
EXPORT_METHOD = f"/{SERVICE}/Export"
_RETRY_INFO_KEY = "google.rpc.retryinfo-bin"
_STATUS_DETAILS_KEY = "grpc-status-details-bin"
_NO_TOKEN = "missing or wrong bearer token (metadata authorization: Bearer <token>)"


class _Status(NamedTuple):
    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, bytes], ...]


class _Refusal(Exception):
    """End the current RPC with `code` and `message` (retryable ones carry retry info)."""

    def __init__(self, code: grpc.StatusCode, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


class TraceService(TraceServiceServicer):  # type: ignore[misc]
    """`Export` into `receiver`'s write path; requests arrive as raw bytes (see the module doc)."""

    def __init__(self, receiver: Receiver) -> None:
        self._receiver = receiver

    def Export(self, request: bytes, context: grpc.ServicerContext) -> ExportTraceServiceResponse:
        try:
            return self._export(request, context)
        except _Refusal as refusal:
            self._abort(context, refusal)
        except Exception:  # a bug must cost one RPC, never the server
            log.exception("internal error while handling a gRPC Export")
            self._abort(context, _Refusal(grpc.StatusCode.INTERNAL, "internal error"))
        raise AssertionError("unreachable: abort raises")  # pragma: no cover

    def _export(self, request: bytes, context: grpc.ServicerContext) -> ExportTraceServiceResponse:
        receiver = self._receiver
        if not receiver.authorized(_metadata(context, "authorization")):  # _TokenCheck's too
            raise _Refusal(grpc.StatusCode.UNAUTHENTICATED, _NO_TOKEN)
        try:
            decoded = _otlp.decode(request, "protobuf")
        except _otlp.DecodeError as exc:
            raise _Refusal(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
        if len(decoded.batch):
            try:
                accepted = receiver.accept(decoded.batch, request, "protobuf")
            except HTTPError as err:  # the spool cannot write: nothing is answered OK
                raise _Refusal(
                    grpc.StatusCode.UNAVAILABLE, err.message, receiver.retry_after
                ) from None
            if not accepted:
                raise _Refusal(
                    grpc.StatusCode.UNAVAILABLE,
                    "queue full: the collector is writing as fast as it can, retry later",
                    receiver.retry_after,
                )
        if decoded.rejected or decoded.error_message:
            receiver.count_rejected(decoded.rejected)
            return ExportTraceServiceResponse(
                partial_success=ExportTracePartialSuccess(
                    rejected_spans=decoded.rejected, error_message=decoded.error_message
                )
            )
        return ExportTraceServiceResponse()

    @staticmethod
    def _abort(context: grpc.ServicerContext, refusal: _Refusal) -> None:
        level = logging.WARNING if refusal.retry_after is not None else logging.INFO
        log.log(level, "gRPC Export -> %s %s", refusal.code.name, refusal.message)
        context.abort_with_status(_status(refusal))


def _status(refusal: _Refusal) -> _Status:
    details: list[any_pb2.Any] = []
    trailing: list[tuple[str, bytes]] = []
    if refusal.retry_after is not None:
        info = error_details_pb2.RetryInfo(
            retry_delay=duration_pb2.Duration(seconds=refusal.retry_after)
        )
        packed = any_pb2.Any()
        packed.Pack(info)
        details.append(packed)
        trailing.append((_RETRY_INFO_KEY, info.SerializeToString()))
    rpc_status = status_pb2.Status(
        code=getattr(code_pb2, refusal.code.name), message=refusal.message, details=details
    )
    trailing.insert(0, (_STATUS_DETAILS_KEY, rpc_status.SerializeToString()))
    return _Status(refusal.code, refusal.message, tuple(trailing))


def _metadata(context: grpc.ServicerContext, key: str) -> str | None:
    return _find(context.invocation_metadata(), key)


def _find(metadata: object, key: str) -> str | None:
    for k, value in metadata or ():  # type: ignore[attr-defined]
        if k == key:
            return value if isinstance(value, str) else None
    return None


class _TokenCheck(grpc.ServerInterceptor):  # type: ignore[misc]
    """Refuse a call without the token before its message is read.

    Interceptors run when the call arrives, on the server's own thread; the refusal is
    a stream handler that never reads its request, so a client without the token cannot
    hold a worker by sending its message slowly (or never).
    """

    def __init__(self, receiver: Receiver) -> None:
        self._receiver = receiver
        self._refuse = grpc.stream_unary_rpc_method_handler(_unauthenticated)

    def intercept_service(self, continuation: Any, details: Any) -> Any:
        if self._receiver.authorized(_find(details.invocation_metadata, "authorization")):
            return continuation(details)
        return self._refuse


def _unauthenticated(_requests: object, context: grpc.ServicerContext) -> None:
    log.info("gRPC Export -> UNAUTHENTICATED %s", _NO_TOKEN)
    context.abort(grpc.StatusCode.UNAUTHENTICATED, _NO_TOKEN)


class GrpcServer:
    """The OTLP/gRPC listener of a `Receiver`: bound at construction, served from `start()`.

    Raises:
        OSError: the address cannot be bound (in use, not local).
    """

    def __init__(
        self,
        receiver: Receiver,
        host: str,
        port: int,
        *,
        workers: int = 4,
        max_concurrent_rpcs: int = 128,
        max_connection_age: float = 30.0,
        connection_grace: float = 30.0,
    ) -> None:
        self.host = host
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="hoptrace-collect-grpc")
        limit = receiver.max_body_bytes
        handler = grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "Export": grpc.unary_unary_rpc_method_handler(
                    TraceService(receiver).Export,
                    request_deserializer=None,  # raw bytes: see the module doc
                    response_serializer=ExportTraceServiceResponse.SerializeToString,
                )
            },
        )
        self._server = grpc.server(
            self._executor,
            handlers=(handler,),
            interceptors=(_TokenCheck(receiver),),
            maximum_concurrent_rpcs=max_concurrent_rpcs,
            options=(
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", 1 << 20),
                # a second collector on the same port must fail, not share it silently
                ("grpc.so_reuseport", 0),
                # an RPC admitted but waiting for a worker buffers no more than the initial
                # flow-control window (no bandwidth-delay probing growing it)
                ("grpc.http2.bdp_probe", 0),
                ("grpc.max_connection_age_ms", int(max_connection_age * 1000)),
                ("grpc.max_connection_age_grace_ms", int(connection_grace * 1000)),
            ),
        )
        target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        error: RuntimeError | None = None
        try:
            bound = self._server.add_insecure_port(target)
        except RuntimeError as exc:  # grpcio >= 1.56 raises; older ones return 0
            bound, error = 0, exc
        if not bound:
            self._server.stop(None)
            self._executor.shutdown(wait=False)
            raise OSError(f"cannot bind gRPC to {target}" + (f" ({error})" if error else ""))
        self.port = int(bound)

    @property
    def endpoint(self) -> str:
        """host:port, as gRPC exporters take it (e.g. 127.0.0.1:4317)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def start(self) -> None:
        self._server.start()

    def stop(self, grace: float | None) -> threading.Event:
        """Stop taking RPCs at once; those in flight get `grace` seconds to finish.

        Returns an event set once every RPC has ended.
        """
        return self._server.stop(grace)  # type: ignore[no-any-return]

    def close(self) -> None:
        self._executor.shutdown(wait=False)
