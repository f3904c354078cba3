"""Per-request deadlines and connection eviction for `hoptrace collect`'s HTTP server.

A socket timeout bounds one `recv`, so a client that trickles one byte per
timeout could hold a connection (and a handler thread) forever. Instead, a
`DeadlineReader` sits under the handler's `rfile`: every `recv` waits at most
until the current deadline (set per phase: idle keep-alive, request head,
body) and raises `TimeoutError` past it.

When every connection slot is taken, `Evictable` names the connection that
has gone longest without completing a request head (an idle keep-alive
connection or one still sending its head), so the receiver can shut it down
and serve the new one instead of answering 503.
"""

from __future__ import annotations

import contextlib
import io
import logging
import socket
import sys
import time
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from collector.otlp._receiver import Receiver

__all__ = ["MIN_BODY_BYTES_PER_S", "DeadlineReader", "Evictable", "Server"]

log = logging.getLogger("hoptrace.collect")

# A body's deadline grows by one second per this many bytes declared (or allowed, when chunked).
MIN_BODY_BYTES_PER_S = 1024 * 1024

_T = TypeVar("_T")


class DeadlineReader(io.RawIOBase):
    """A raw reader over `sock` whose reads all end by one deadline.

    Between reads the socket's timeout is `send_timeout`, so responses are
    written under their own bound.
    """

    def __init__(self, sock: socket.socket, send_timeout: float) -> None:
        super().__init__()
        self._sock = sock
        self._send_timeout = send_timeout
        self._deadline: float | None = None
        self.budget = 0.0  # seconds the current deadline allowed (for messages)

    def readable(self) -> bool:
        return True

    def set_deadline(self, seconds: float | None) -> None:
        """Every read from now on must end within `seconds` (None: no deadline)."""
        self.budget = seconds or 0.0
        self._deadline = None if seconds is None else time.monotonic() + seconds

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        left = None if self._deadline is None else self._deadline - time.monotonic()
        if left is not None and left <= 0:
            raise TimeoutError("read deadline passed")
        self._sock.settimeout(left)
        try:
            return self._sock.recv_into(buffer)
        finally:
            with contextlib.suppress(OSError):
                self._sock.settimeout(self._send_timeout)


class Evictable(Generic[_T]):
    """Connections that may be shut down to make room, each with when it became so.

    Not thread-safe: the receiver calls it under its own lock.
    """

    def __init__(self) -> None:
        self._since: dict[_T, float] = {}

    def add(self, item: _T) -> None:
        self._since[item] = time.monotonic()

    def discard(self, item: _T) -> None:
        self._since.pop(item, None)

    def pop_oldest(self) -> _T | None:
        """Remove and return the item evictable for longest, or None."""
        if not self._since:
            return None
        item = min(self._since, key=self._since.__getitem__)
        del self._since[item]
        return item

    def __len__(self) -> int:
        return len(self._since)


class Server(ThreadingHTTPServer):
    """The listening socket; one `Handler` thread per admitted connection."""

    # stop() waits for busy requests itself; idle keep-alives must not block exit
    daemon_threads = True
    request_queue_size = 128  # listen backlog: many producers may connect at once
    receiver: Receiver

    def process_request(self, request: Any, client_address: Any) -> None:
        # One thread per connection, but never more than `max_connections` of them:
        # past that a connection gets an immediate 503 instead of a thread.
        if not self.receiver.admit_connection():
            _refuse_connection(request, self.receiver.retry_after)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.receiver.release_connection()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.receiver.release_connection()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that goes away is one line, a bug a traceback
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            log.info("connection from %s ended: %s", client_address[0], exc)
        else:
            log.exception("internal error on the connection from %s", client_address[0])


def _refuse_connection(sock: socket.socket, retry_after: int) -> None:
    body = b"too many connections"
    with contextlib.suppress(OSError):
        sock.settimeout(0.5)
        sock.sendall(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
            b"Retry-After: %d\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
            % (retry_after, len(body), body)
        )
