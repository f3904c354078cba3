"""`hoptrace collect`'s HTTP server: OTLP/HTTP `POST /v1/traces` into the span queue.

Stdlib only (`http.server.ThreadingHTTPServer`, one thread per connection,
HTTP/1.1 keep-alive). Each request is checked in the order that reads the least
of an unwanted body: path (404) and method (405), bearer token (401), content
type and encoding (415), declared length (411/413, the body is never read when
it is over the limit), then the body is read, inflated under the same cap (413),
decoded (400), enqueued (503 + Retry-After when the queue is full) and answered
200 with an `ExportTraceServiceResponse` (partial success when spans were
refused). The 200 is sent once the spans are queued, not once they are committed:
see `docs/readme/collect.md` for that durability trade-off. Responses use the
request's content type; errors carry a `google.rpc.Status`.

`Receiver.stop()` stops accepting, lets in-flight requests finish, then drains
the queue into the store before returning.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)

from collector import _otlp
from collector._batch import SpanBatch
from collector._receiver_queue import DEFAULT_MAX_QUEUE_SPANS, SpanQueue, Writer

__all__ = ["TRACES_PATH", "Receiver"]

log = logging.getLogger("hoptrace.collect")

TRACES_PATH = "/v1/traces"
_PROTOBUF_TYPES = frozenset(("application/x-protobuf", "application/protobuf"))
_JSON_TYPE = "application/json"
_ENCODINGS = frozenset(("", "identity", "gzip", "deflate", "x-gzip"))
_GRPC_CODE = {
    400: code_pb2.INVALID_ARGUMENT,
    401: code_pb2.UNAUTHENTICATED,
    404: code_pb2.NOT_FOUND,
    405: code_pb2.UNIMPLEMENTED,
    411: code_pb2.INVALID_ARGUMENT,
    413: code_pb2.RESOURCE_EXHAUSTED,
    415: code_pb2.INVALID_ARGUMENT,
    500: code_pb2.INTERNAL,
    503: code_pb2.UNAVAILABLE,
}
_EMPTY_RESPONSE_JSON = b"{}"


class _HTTPError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class _Server(ThreadingHTTPServer):
    # stop() waits for busy requests itself; idle keep-alives must not block exit
    daemon_threads = True
    request_queue_size = 128  # listen backlog: many producers may connect at once
    receiver: Receiver

    def process_request(self, request: Any, client_address: Any) -> None:
        # One thread per connection, but never more than `max_connections` of them:
        # past that a connection gets an immediate 503 instead of a thread.
        if not self.receiver._admit_connection():
            _refuse_connection(request, self.receiver.retry_after)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.receiver._release_connection()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.receiver._release_connection()


def _refuse_connection(sock: socket.socket, retry_after: int) -> None:
    body = b"too many connections"
    with contextlib.suppress(OSError):
        sock.settimeout(0.5)
        sock.sendall(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
            b"Retry-After: %d\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
            % (retry_after, len(body), body)
        )


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "hoptrace-collect"
    sys_version = ""
    timeout = 30  # socket timeout: idle keep-alive and slow (slowloris) clients are dropped

    # -- connection bookkeeping (so stop() can end idle keep-alive connections) --

    def setup(self) -> None:
        super().setup()
        self.server.receiver._connection_opened(self)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.receiver._connection_closed(self)

    def handle_one_request(self) -> None:
        receiver = self.server.receiver
        receiver._set_busy(self, False)
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except (TimeoutError, OSError):
            self.close_connection = True
            return
        if not self.raw_requestline or not receiver._set_busy(self, True):
            self.close_connection = True
            return
        if len(self.raw_requestline) > 65536:
            self.requestline = self.request_version = self.command = ""
            self.send_error(414)
            return
        if not self.parse_request():
            return
        try:
            method = getattr(self, "do_" + self.command, None)
            if method is None:
                self._not_allowed()
            else:
                method()
            self.wfile.flush()
        except (TimeoutError, ConnectionError):
            self.close_connection = True
        finally:
            receiver._set_busy(self, False)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    # -- methods --

    def do_POST(self) -> None:
        encoding = self._response_encoding()
        try:
            if self.path.split("?", 1)[0] != TRACES_PATH:
                raise _HTTPError(404, f"not found: only POST {TRACES_PATH} is served")
            body = self._export()
        except _HTTPError as err:
            self._send_status(err.status, err.message, encoding, err.headers)
            return
        except Exception:  # a bug must cost one request, never the server
            log.exception("internal error while handling a request")
            self._send_status(500, "internal error", encoding, {})
            self.close_connection = True
            return
        self._send(200, body, encoding, {})

    def _not_allowed(self) -> None:
        encoding = self._response_encoding()
        if self.path.split("?", 1)[0] == TRACES_PATH:
            self._send_status(
                405, f"method {self.command} not allowed: use POST", encoding, {"Allow": "POST"}
            )
        else:
            self._send_status(404, f"not found: only POST {TRACES_PATH} is served", encoding, {})

    do_GET = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _not_allowed

    # -- the export pipeline --

    def _export(self) -> bytes:
        receiver = self.server.receiver
        receiver._check_auth(self.headers.get("Authorization"))
        content_type = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if content_type in _PROTOBUF_TYPES:
            kind = "protobuf"
        elif content_type == _JSON_TYPE:
            kind = "json"
        else:
            self.close_connection = True  # the body was not read
            raise _HTTPError(
                415,
                f"unsupported content type {content_type or '(none)'!r}: "
                "send application/x-protobuf or application/json",
            )
        content_encoding = (self.headers.get("Content-Encoding") or "").strip().lower()
        if content_encoding not in _ENCODINGS:
            self.close_connection = True
            raise _HTTPError(
                415, f"unsupported content encoding {content_encoding!r}: use gzip or deflate"
            )
        # Bodies are read and decoded by at most `max_concurrent_bodies` threads at once:
        # that bounds the memory of requests in flight (each up to the size limit twice,
        # compressed and inflated), and decoding is CPU-bound anyway.
        if not receiver._body_slots.acquire(timeout=receiver.body_slot_timeout):
            self.close_connection = True  # the body was not read
            raise _HTTPError(
                503,
                "too many requests in flight, retry later",
                {"Retry-After": str(receiver.retry_after)},
            )
        try:
            return self._decode_and_enqueue(receiver, kind, content_encoding)
        finally:
            receiver._body_slots.release()

    def _decode_and_enqueue(self, receiver: Receiver, kind: str, content_encoding: str) -> bytes:
        raw = self._read_body(receiver.max_body_bytes)
        if content_encoding in ("gzip", "x-gzip", "deflate"):
            try:
                raw = _otlp.decompress(
                    raw,
                    "deflate" if content_encoding == "deflate" else "gzip",
                    receiver.max_body_bytes,
                )
            except _otlp.BodyTooLarge as exc:
                raise _HTTPError(413, str(exc)) from None
            except _otlp.DecodeError as exc:
                raise _HTTPError(400, str(exc)) from None
        try:
            decoded = _otlp.decode(raw, kind)
        except _otlp.DecodeError as exc:
            raise _HTTPError(400, str(exc)) from None
        if len(decoded.batch) and not receiver._enqueue(decoded.batch):
            raise _HTTPError(
                503,
                "queue full: the collector is writing as fast as it can, retry later",
                {"Retry-After": str(receiver.retry_after)},
            )
        if decoded.rejected or decoded.error_message:
            receiver._count_rejected(decoded.rejected)
            response = ExportTraceServiceResponse(
                partial_success=ExportTracePartialSuccess(
                    rejected_spans=decoded.rejected, error_message=decoded.error_message
                )
            )
        else:
            response = None
        return _serialize(response, self._response_encoding())

    def _read_body(self, limit: int) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked(limit)
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            self.close_connection = True
            raise _HTTPError(411, "Content-Length (or chunked transfer encoding) is required")
        try:
            length = int(length_header)
            if length < 0:
                raise ValueError
        except ValueError:
            self.close_connection = True
            raise _HTTPError(400, f"invalid Content-Length {length_header!r}") from None
        if length > limit:
            self.close_connection = True  # never read an over-limit body
            raise _HTTPError(413, f"body of {length} bytes exceeds the {limit}-byte limit")
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            raise _HTTPError(400, f"body ended after {len(body)} of {length} bytes")
        return body

    def _read_chunked(self, limit: int) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1026)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise _HTTPError(400, "malformed chunked body") from None
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers are ignored
                return b"".join(parts)
            total += size
            if total > limit:
                self.close_connection = True
                raise _HTTPError(413, f"body exceeds the {limit}-byte limit")
            chunk = self.rfile.read(size)
            if len(chunk) != size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                self.close_connection = True
                raise _HTTPError(400, "truncated chunked body")
            parts.append(chunk)

    # -- responses --

    def _response_encoding(self) -> str:
        content_type = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        return "protobuf" if content_type in _PROTOBUF_TYPES else "json"

    def _send_status(
        self, status: int, message: str, encoding: str, headers: dict[str, str]
    ) -> None:
        if status >= 500:
            log.warning("%s %s -> %d %s", self.command, self.path, status, message)
        else:
            log.info("%s %s -> %d %s", self.command, self.path, status, message)
        body = _serialize(
            status_pb2.Status(code=_GRPC_CODE.get(status, code_pb2.UNKNOWN), message=message),
            encoding,
        )
        if status == 401:
            headers = {**headers, "WWW-Authenticate": 'Bearer realm="hoptrace"'}
        self._send(status, body, encoding, headers)

    def _send(self, status: int, body: bytes, encoding: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header(
            "Content-Type", "application/x-protobuf" if encoding == "protobuf" else _JSON_TYPE
        )
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _serialize(message: Any, encoding: str) -> bytes:
    if message is None:
        return b"" if encoding == "protobuf" else _EMPTY_RESPONSE_JSON
    if encoding == "protobuf":
        data: bytes = message.SerializeToString()
        return data
    return json_format.MessageToJson(message, indent=None).encode()


class Receiver:
    """An OTLP/HTTP trace receiver feeding a single writer thread.

    Args:
        write: Called by the writer thread with coalesced batches, typically
            `SpanStore(db).write`. It must be idempotent (retried requests re-send spans).
        host: Bind address; loopback by default.
        port: TCP port; 0 picks a free one (see `address`).
        token: When set, every request needs `Authorization: Bearer <token>`.
        max_queue_spans: Queue bound in spans; beyond it requests get 503.
        max_body_bytes: Request size limit, before and after decompression.
        retry_after: Seconds announced in `Retry-After` on 503.
        max_connections: Open connections (= handler threads) at most; more get 503.
        max_concurrent_bodies: Requests whose bodies are read and decoded at once;
            together with `max_body_bytes` and `max_queue_spans` this bounds memory.
    """

    def __init__(
        self,
        write: Callable[[SpanBatch], None],
        *,
        host: str = "127.0.0.1",
        port: int = 4318,
        token: str | None = None,
        max_queue_spans: int = DEFAULT_MAX_QUEUE_SPANS,
        max_body_bytes: int = _otlp.MAX_BODY_BYTES,
        max_write_spans: int | None = None,
        retry_after: int = 1,
        max_connections: int = 128,
        max_concurrent_bodies: int = 4,
    ) -> None:
        self.max_body_bytes = max_body_bytes
        self.retry_after = retry_after
        self.max_connections = max_connections
        self.body_slot_timeout = 10.0
        self._body_slots = threading.BoundedSemaphore(max_concurrent_bodies)
        self._open_connections = 0
        self._token = token.encode() if token else None
        self.queue = SpanQueue(max_queue_spans)
        kwargs = {} if max_write_spans is None else {"max_write_spans": max_write_spans}
        self.writer = Writer(self.queue, write, **kwargs)
        self.rejected_spans = 0
        self.refused_requests = 0  # 503s
        self._lock = threading.Lock()
        self._connections: dict[_Handler, bool] = {}  # handler -> busy
        self._stopping = False
        self._server = _Server((host, port), _Handler, bind_and_activate=True)
        self._server.receiver = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="hoptrace-collect-http",
            daemon=True,
        )

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port)."""
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def endpoint(self) -> str:
        """The traces URL, e.g. http://127.0.0.1:4318/v1/traces."""
        host, port = self.address
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}{TRACES_PATH}"

    def start(self) -> Receiver:
        """Start the writer and serve in background threads."""
        self.writer.start()
        self._thread.start()
        return self

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until everything accepted so far has been written (tests, benchmarks)."""
        return self.writer.wait_idle(timeout)

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop accepting, finish in-flight requests, write everything queued.

        Returns True when every accepted span was written (or dropped after logged
        failures) within `timeout`.
        """
        if self._thread.is_alive():
            self._server.shutdown()  # no new connections are accepted after this returns
        self._server.server_close()
        with self._lock:
            self._stopping = True
            idle = [h for h, busy in self._connections.items() if not busy]
        for handler in idle:  # wake threads parked in a keep-alive read
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RD)
        self._wait_requests(timeout)
        self.queue.close()
        if self.writer.is_alive():
            self.writer.join(timeout)
        return not self.writer.is_alive()

    def _wait_requests(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not any(self._connections.values()):
                    return
            time.sleep(0.01)

    # -- called by the server and the handlers --

    def _admit_connection(self) -> bool:
        with self._lock:
            if self._open_connections >= self.max_connections:
                self.refused_requests += 1
                return False
            self._open_connections += 1
            return True

    def _release_connection(self) -> None:
        with self._lock:
            self._open_connections -= 1

    def _connection_opened(self, handler: _Handler) -> None:
        with self._lock:
            self._connections[handler] = False

    def _connection_closed(self, handler: _Handler) -> None:
        with self._lock:
            self._connections.pop(handler, None)

    def _set_busy(self, handler: _Handler, busy: bool) -> bool:
        with self._lock:
            if busy and self._stopping:
                return False  # a request that arrives while stopping is not taken on
            self._connections[handler] = busy
            return True

    def _check_auth(self, header: str | None) -> None:
        if self._token is None:
            return
        scheme, _, given = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), self._token
        ):
            raise _HTTPError(401, "missing or wrong bearer token (Authorization: Bearer <token>)")

    def _enqueue(self, batch: SpanBatch) -> bool:
        # Counted before the put so that wait_idle() can never see it written but not counted.
        self.writer.note_enqueued(len(batch))
        if self.queue.put(batch):
            return True
        self.writer.note_enqueued(-len(batch))
        with self._lock:
            self.refused_requests += 1
        return False

    def _count_rejected(self, n: int) -> None:
        with self._lock:
            self.rejected_spans += n
