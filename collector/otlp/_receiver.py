"""`hoptrace collect`'s receiver: HTTP and gRPC servers, limits and connections, and their lifecycle.

The HTTP protocol handling is in `collector.otlp._http`, the gRPC one in
`collector.otlp._grpc`; both hand their spans to `Receiver.accept`, the store's one write
queue (`collector.store.WriteQueue`, the exporter's too), which spools each request
before the 200 / OK when a spool is given. `Receiver.stop()` stops accepting on both,
lets in-flight requests finish, then drains the queue into the store before returning.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from collector.ingest import SpanBatch, coalesce
from collector.otlp import _decode as _otlp
from collector.otlp._admission import Evictable
from collector.otlp._http import TRACES_PATH, Handler, HTTPError, Server
from collector.store import DEFAULT_MAX_QUEUE_SPANS, Spool, WriteQueue

if TYPE_CHECKING:
    from collector.otlp._grpc import GrpcServer

__all__ = ["TRACES_PATH", "Receiver"]

log = logging.getLogger("hoptrace.collect")


class Receiver:
    """An OTLP/HTTP and OTLP/gRPC trace receiver feeding a single writer thread.

    Args:
        write: Called by the writer thread with coalesced batches, typically
            `SpanStore(db).write`. It must be idempotent (retried requests re-send spans).
        host: Bind address; loopback by default.
        port: OTLP/HTTP's TCP port; 0 picks a free one (see `address`); None: no HTTP.
        grpc_port: OTLP/gRPC's TCP port (4317 is its default); 0 picks a free one (see
            `grpc_endpoint`); None (the default here; `hoptrace collect` serves it): no gRPC.
        token: When set, every request needs `Authorization: Bearer <token>` (a header
            over HTTP, metadata `authorization` over gRPC).
        max_queue_spans: Queue bound in spans; beyond it requests get 503.
        max_body_bytes: Request size limit, before and after decompression (gRPC's
            receive limit too: RESOURCE_EXHAUSTED past it).
        retry_after: Seconds announced in `Retry-After` on 503.
        max_connections: Open connections (= handler threads) at most. Past it the
            connection longest idle or still sending its request head is shut down to
            make room; only when every connection is busy does a new one get 503.
        max_concurrent_bodies: Requests whose bodies are read and decoded at once;
            together with `max_body_bytes` and `max_queue_spans` this bounds memory.
        header_timeout: Seconds for a request line and headers, in total (not per read).
        body_timeout: Seconds for a body, plus one per MiB declared; past it, 408.
        idle_timeout: Seconds an idle keep-alive connection is kept open.
    """

    def __init__(
        self,
        write: Callable[[SpanBatch], None],
        *,
        host: str = "127.0.0.1",
        port: int | None = 4318,
        grpc_port: int | None = None,
        token: str | None = None,
        max_queue_spans: int = DEFAULT_MAX_QUEUE_SPANS,
        max_body_bytes: int = _otlp.MAX_BODY_BYTES,
        max_write_spans: int | None = None,
        retry_after: int = 1,
        max_connections: int = 128,
        max_concurrent_bodies: int = 4,
        header_timeout: float = 10.0,
        body_timeout: float = 30.0,
        idle_timeout: float = 15.0,
        spool: Spool | None = None,
    ) -> None:
        self.max_body_bytes = max_body_bytes
        self.retry_after = retry_after
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.idle_timeout = idle_timeout
        self.evicted_connections = 0
        self.body_slot_timeout = 10.0
        self._body_slots = threading.BoundedSemaphore(max_concurrent_bodies)
        self._open_connections = 0
        self._token = token.encode() if token else None
        kwargs = {} if max_write_spans is None else {"max_write_spans": max_write_spans}
        self.spool = spool
        self.queue: WriteQueue[SpanBatch] = WriteQueue(
            write,
            coalesce=coalesce,
            size=len,
            max_spans=max_queue_spans,
            spool=spool,
            autostart=False,  # start() replays the spool first
            name="hoptrace-collect-writer",
            **kwargs,
        )
        self.rejected_spans = 0
        self.refused_requests = 0  # 503s
        self._lock = threading.Lock()
        self._connections: dict[Handler, bool] = {}  # handler -> busy
        self._evictable: Evictable[Handler] = Evictable()  # idle, or still sending its head
        self._stopping = False
        if port is None and grpc_port is None:
            raise ValueError("serve HTTP, gRPC or both: port and grpc_port are both None")
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        if port is not None:
            self._server = Server((host, port), Handler, bind_and_activate=True)
            self._server.receiver = self
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="hoptrace-collect-http",
                daemon=True,
            )
        self.grpc: GrpcServer | None = None
        if grpc_port is not None:
            from collector.otlp._grpc import GrpcServer  # grpcio loads only when served

            try:
                self.grpc = GrpcServer(self, host, grpc_port)
            except OSError:
                if self._server is not None:
                    self._server.server_close()
                raise

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port) of OTLP/HTTP."""
        if self._server is None:
            raise RuntimeError("this receiver does not serve OTLP/HTTP")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def endpoint(self) -> str:
        """The traces URL, e.g. http://127.0.0.1:4318/v1/traces."""
        host, port = self.address
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}{TRACES_PATH}"

    @property
    def http_enabled(self) -> bool:
        return self._server is not None

    @property
    def grpc_endpoint(self) -> str:
        """The OTLP/gRPC target, e.g. 127.0.0.1:4317 (exporters: http://127.0.0.1:4317)."""
        if self.grpc is None:
            raise RuntimeError("this receiver does not serve OTLP/gRPC")
        return self.grpc.endpoint

    def start(self) -> Receiver:
        """Replay the spool (what an earlier run acknowledged), then write and serve."""
        self.queue.start(replay=lambda kind, raw: _otlp.decode(raw, kind).batch)
        if self._thread is not None:
            self._thread.start()
        if self.grpc is not None:
            self.grpc.start()
        return self

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until everything accepted so far has been written (tests, benchmarks)."""
        return self.queue.wait_idle(timeout)

    def stop(self, timeout: float | None = 30.0) -> bool:
        """Stop accepting, finish in-flight requests, write everything queued.

        Args:
            timeout: Seconds to wait for the drain; None waits as long as the writes
                take (requests in flight get at most their 30 s socket timeout).

        Returns:
            True when every accepted span was written (or dropped after logged
            failures) in time.
        """
        grace = Handler.timeout + 5 if timeout is None else timeout
        # gRPC refuses new RPCs from here on; those in flight finish meanwhile
        grpc_done = None if self.grpc is None else self.grpc.stop(grace)
        if self._server is not None and self._thread is not None:
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
        if grpc_done is not None and self.grpc is not None:
            grpc_done.wait(grace + 1)
            self.grpc.close()
        return self.queue.close(timeout)

    def _wait_requests(self, timeout: float | None) -> None:
        deadline = time.monotonic() + (Handler.timeout + 5 if timeout is None else timeout)
        while time.monotonic() < deadline:
            with self._lock:
                if not any(self._connections.values()):
                    return
            time.sleep(0.01)

    # -- called by the server and the handlers --

    def admit_connection(self) -> bool:
        with self._lock:
            if self._open_connections >= self.max_connections:
                victim = self._evictable.pop_oldest()
                if victim is None:
                    self.refused_requests += 1
                    return False
                # The victim's slot is released when its thread ends: until then the
                # count may exceed the limit, by at most the connections being evicted.
                self.evicted_connections += 1
                with contextlib.suppress(OSError):
                    victim.connection.shutdown(socket.SHUT_RDWR)
                log.info(
                    "%d connections open: closed the one from %s idle or in its head longest",
                    self._open_connections,
                    victim.address_string(),
                )
            self._open_connections += 1
            return True

    def release_connection(self) -> None:
        with self._lock:
            self._open_connections -= 1

    def connection_opened(self, handler: Handler) -> None:
        with self._lock:
            self._connections[handler] = False
            self._evictable.add(handler)

    def connection_closed(self, handler: Handler) -> None:
        with self._lock:
            self._connections.pop(handler, None)
            self._evictable.discard(handler)

    def head_done(self, handler: Handler) -> None:
        # a request whose head has arrived is served, never evicted
        with self._lock:
            self._evictable.discard(handler)

    def set_busy(self, handler: Handler, busy: bool) -> bool:
        with self._lock:
            if busy and self._stopping:
                return False  # a request that arrives while stopping is not taken on
            self._connections[handler] = busy
            if not busy:
                self._evictable.add(handler)
            return True

    def authorized(self, header: str | None) -> bool:
        """True when no token is set or `header` is `Bearer <token>` (constant-time)."""
        if self._token is None:
            return True
        scheme, _, given = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), self._token
        )

    def check_auth(self, header: str | None) -> None:
        """Raise HTTPError 401 unless `authorized(header)`."""
        if not self.authorized(header):
            raise HTTPError(401, "missing or wrong bearer token (Authorization: Bearer <token>)")

    def body_slot(self) -> contextlib.AbstractContextManager[bool]:
        """Take one of the `max_concurrent_bodies` slots (waits up to `body_slot_timeout`);
        the context's value is False when none came free."""
        return _Slot(self._body_slots, self.body_slot_timeout)

    def accept(self, batch: SpanBatch, body: bytes = b"", kind: str = "protobuf") -> bool:
        """The one write path of both protocols: spool (durable) and queue `batch`.

        Returns False when the queue is full (answer 503 / UNAVAILABLE); raises HTTPError
        503 when the spool cannot take it (a full disk). Only after True may the request
        be answered 200 / OK: nothing is acknowledged that is not on disk.
        """
        try:
            queued = self.queue.put(batch, raw=body, kind=kind)
        except OSError as exc:
            with self._lock:
                self.refused_requests += 1
            log.warning("cannot spool a request (%s); answering 503", exc)
            raise HTTPError(
                503,
                f"the collector cannot make spans durable right now ({exc.strerror or exc}); "
                "retry later",
                {"Retry-After": str(self.retry_after)},
            ) from None
        if not queued:
            with self._lock:
                self.refused_requests += 1
        return queued

    def count_rejected(self, n: int) -> None:
        """Count spans refused one by one (partial success)."""
        with self._lock:
            self.rejected_spans += n


class _Slot:
    def __init__(self, semaphore: threading.BoundedSemaphore, timeout: float) -> None:
        self._semaphore = semaphore
        self._timeout = timeout
        self._taken = False

    def __enter__(self) -> bool:
        self._taken = self._semaphore.acquire(timeout=self._timeout)
        return self._taken

    def __exit__(self, *exc: object) -> None:
        if self._taken:
            self._semaphore.release()
