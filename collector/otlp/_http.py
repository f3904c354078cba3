"""The HTTP side of `hoptrace collect`: request handling for OTLP/HTTP `POST /v1/traces`.

Stdlib only (`http.server.ThreadingHTTPServer`, one thread per connection,
HTTP/1.1 keep-alive). Each request is checked in the order that reads the least
of an unwanted body: path (404) and method (405), bearer token (401), content
type and encoding (415), declared length (411/413, the body is never read when
it is over the limit), a free body slot (503), then the body is read, inflated
under the same cap (413), decoded (400), enqueued (503 + Retry-After when the
queue is full) and answered 200 with an `ExportTraceServiceResponse` (partial
success when spans were refused). Responses use the request's content type;
errors carry a `google.rpc.Status`. The lifecycle, limits and queue live in
`collector.otlp._receiver.Receiver`.
"""

from __future__ import annotations

import io
import logging
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)

from collector.otlp import _decode as _otlp
from collector.otlp._admission import MIN_BODY_BYTES_PER_S, DeadlineReader, Server

if TYPE_CHECKING:
    from collector.otlp._receiver import Receiver

__all__ = ["TRACES_PATH", "HTTPError", "Handler", "Server"]

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
    408: code_pb2.DEADLINE_EXCEEDED,
    411: code_pb2.INVALID_ARGUMENT,
    413: code_pb2.RESOURCE_EXHAUSTED,
    415: code_pb2.INVALID_ARGUMENT,
    500: code_pb2.INTERNAL,
    503: code_pb2.UNAVAILABLE,
}
_EMPTY_RESPONSE_JSON = b"{}"


class HTTPError(Exception):
    """Answer the current request with `status` and a `google.rpc.Status` saying `message`."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class Handler(BaseHTTPRequestHandler):
    """Serves the requests of one connection."""

    server: Server
    protocol_version = "HTTP/1.1"
    server_version = "hoptrace-collect"
    # The socket timeout while writing a response. Reads run under per-phase deadlines
    # (the receiver's idle, header and body timeouts), not a per-recv timeout.
    timeout = 30

    # -- connection bookkeeping (so stop() can end idle keep-alive connections) --

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # replaced: reads end by the current deadline
        self._reader = DeadlineReader(self.connection, self.timeout)
        self.rfile = self._buffered = io.BufferedReader(self._reader, 65536)
        self._first = True
        self.server.receiver.connection_opened(self)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.receiver.connection_closed(self)

    def handle_one_request(self) -> None:
        receiver = self.server.receiver
        receiver.set_busy(self, False)
        if not self._read_head(receiver):
            self.close_connection = True
            return
        if len(self.raw_requestline) > 65536:
            self.requestline = self.request_version = self.command = ""
            self.send_error(414)
            return
        if not self.parse_request():
            return
        receiver.head_done(self)
        try:
            method = getattr(self, "do_" + self.command, None)
            if method is None:
                self._not_allowed()
            else:
                method()
            self.wfile.flush()
        except OSError:  # the client went away or stopped reading its response
            self.close_connection = True
        finally:
            receiver.set_busy(self, False)

    def _read_head(self, receiver: Receiver) -> bool:
        # A fresh connection has `header_timeout` for its first request head in all;
        # a kept-alive one waits up to `idle_timeout` for a first byte, then the same.
        reader = self._reader
        try:
            if self._first:
                self._first = False
                reader.set_deadline(receiver.header_timeout)
            else:
                reader.set_deadline(receiver.idle_timeout)
                if not self._buffered.peek(1):
                    return False
                reader.set_deadline(receiver.header_timeout)
        except OSError:
            return False  # idle keep-alive timeout, close or eviction: nothing to report
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except OSError as exc:
            return self._head_failed(exc)
        return bool(self.raw_requestline) and receiver.set_busy(self, True)

    def parse_request(self) -> bool:
        try:
            return super().parse_request()  # reads the headers, under the header deadline
        except OSError as exc:
            self.close_connection = True
            return self._head_failed(exc)

    def _head_failed(self, exc: OSError) -> bool:
        if isinstance(exc, TimeoutError):
            log.info(
                "%s: request head not complete within %.3g s, connection closed",
                self.address_string(),
                self._reader.budget,
            )
        return False

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    # -- methods --

    def do_POST(self) -> None:
        encoding = self._response_encoding()
        try:
            if self.path.split("?", 1)[0] != TRACES_PATH:
                raise HTTPError(404, f"not found: only POST {TRACES_PATH} is served")
            body = self._export()
        except HTTPError as err:
            self._send_status(err.status, err.message, encoding, err.headers)
            return
        except OSError:
            raise  # the connection failed: nothing to answer (handle_one_request closes it)
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
        receiver.check_auth(self.headers.get("Authorization"))
        content_type = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if content_type in _PROTOBUF_TYPES:
            kind = "protobuf"
        elif content_type == _JSON_TYPE:
            kind = "json"
        else:
            self.close_connection = True  # the body was not read
            raise HTTPError(
                415,
                f"unsupported content type {content_type or '(none)'!r}: "
                "send application/x-protobuf or application/json",
            )
        content_encoding = (self.headers.get("Content-Encoding") or "").strip().lower()
        if content_encoding not in _ENCODINGS:
            self.close_connection = True
            raise HTTPError(
                415, f"unsupported content encoding {content_encoding!r}: use gzip or deflate"
            )
        # Bodies are read and decoded by at most `max_concurrent_bodies` threads at once:
        # that bounds the memory of requests in flight (each up to the size limit twice,
        # compressed and inflated), and decoding is CPU-bound anyway.
        with receiver.body_slot() as slot:
            if not slot:
                self.close_connection = True  # the body was not read
                raise HTTPError(
                    503,
                    "too many requests in flight, retry later",
                    {"Retry-After": str(receiver.retry_after)},
                )
            return self._decode_and_enqueue(receiver, kind, content_encoding)

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
                raise HTTPError(413, str(exc)) from None
            except _otlp.DecodeError as exc:
                raise HTTPError(400, str(exc)) from None
        try:
            decoded = _otlp.decode(raw, kind)
        except _otlp.DecodeError as exc:
            raise HTTPError(400, str(exc)) from None
        if len(decoded.batch) and not receiver.accept(decoded.batch, raw, kind):
            raise HTTPError(
                503,
                "queue full: the collector is writing as fast as it can, retry later",
                {"Retry-After": str(receiver.retry_after)},
            )
        if decoded.rejected or decoded.error_message:
            receiver.count_rejected(decoded.rejected)
            response = ExportTraceServiceResponse(
                partial_success=ExportTracePartialSuccess(
                    rejected_spans=decoded.rejected, error_message=decoded.error_message
                )
            )
        else:
            response = None
        return _serialize(response, self._response_encoding())

    def version_string(self) -> str:
        return self.server_version

    def handle_expect_100(self) -> bool:
        # `Expect: 100-continue` (curl sends it for bodies over 1 KiB) is answered in
        # _read_body, once the request is known to be acceptable: a client told 401, 413
        # or 415 straight away never uploads the body.
        return True

    def _read_body(self, limit: int) -> bytes:
        chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
        length_header = self.headers.get("Content-Length")
        length = 0
        if not chunked:
            if length_header is None:
                self.close_connection = True
                raise HTTPError(411, "Content-Length (or chunked transfer encoding) is required")
            try:
                length = int(length_header)
                if length < 0:
                    raise ValueError
            except ValueError:
                self.close_connection = True
                raise HTTPError(400, f"invalid Content-Length {length_header!r}") from None
            if length > limit:
                self.close_connection = True  # never read an over-limit body
                raise HTTPError(413, f"body of {length} bytes exceeds the {limit}-byte limit")
        if (self.headers.get("Expect") or "").lower() == "100-continue":
            self.send_response_only(100)
            self.end_headers()
            self.wfile.flush()
        receiver = self.server.receiver
        self._reader.set_deadline(
            receiver.body_timeout + (limit if chunked else length) / MIN_BODY_BYTES_PER_S
        )
        try:
            if chunked:
                return self._read_chunked(limit)
            body = self.rfile.read(length)
        except OSError as exc:  # the deadline passed, or the client went away
            self.close_connection = True
            what = f"not complete within {self._reader.budget:.3g} s"
            if not isinstance(exc, TimeoutError):
                what = f"cut off ({exc})"
            raise HTTPError(408, f"request body {what}") from None
        if len(body) != length:
            self.close_connection = True
            raise HTTPError(408, f"body ended after {len(body)} of {length} bytes")
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
                raise HTTPError(400, "malformed chunked body") from None
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers are ignored
                return b"".join(parts)
            total += size
            if total > limit:
                self.close_connection = True
                raise HTTPError(413, f"body exceeds the {limit}-byte limit")
            chunk = self.rfile.read(size)
            if len(chunk) != size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                self.close_connection = True
                raise HTTPError(400, "truncated chunked body")
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
