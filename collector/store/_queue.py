"""The receiver's bounded span queue and its single writer thread.

Request threads decode a body and `put` the resulting `SpanBatch`; the queue is
bounded by *spans* (not requests), so memory stays bounded whatever the request
sizes, and a full queue is reported to the client as 503 + Retry-After (OTLP's
back-pressure signal) instead of growing. One `Writer` thread takes everything
queued, coalesces it into one `SpanBatch` and hands it to the store in a single
`write` (one transaction), so the receiver process is the DuckDB file's only
writer and per-transaction costs are paid per coalesced batch, not per request.

Write failures never lose data silently while the store can still recover: a
failing coalesced write is retried request by request, each with a few backed-off
attempts (the store itself already retries lock conflicts); only a request that
still fails is dropped, and that is logged with its span count.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from collector.ingest import SpanBatch

__all__ = [
    "DEFAULT_MAX_QUEUE_SPANS",
    "SpanQueue",
    "Writer",
    "drop_superseded_pending",
    "is_transient",
]

log = logging.getLogger("hoptrace.collect")

DEFAULT_MAX_QUEUE_SPANS = 100_000
"""About 200 MB of decoded spans (~2 KB each at hoptrace's typical span size)."""
DEFAULT_MAX_WRITE_SPANS = 50_000
_ATTEMPTS = 3


_TRANSIENT_TEXT = (
    "No space left", "Could not write", "Unique file handle", "writer process",
    "stayed locked", "Conflicting lock", "Disk quota", "Read-only file system",
)  # fmt: skip


def is_transient(exc: BaseException) -> bool:
    """A write failure the store recovers from by itself (space, locks, a restarted child).

    Errors cross the writer child's pipe as text, so the message decides, not the class.
    """
    if isinstance(exc, OSError):
        return True
    text = f"{type(exc).__name__}: {exc}"
    return any(marker in text for marker in _TRANSIENT_TEXT) or "StoreBusyError" in text


class SpanQueue:
    """A FIFO of `SpanBatch`es holding at most `max_spans` spans in total."""

    def __init__(self, max_spans: int = DEFAULT_MAX_QUEUE_SPANS) -> None:
        self.max_spans = max_spans
        self._items: deque[SpanBatch] = deque()
        self._spans = 0
        self._closed = False
        self._cond = threading.Condition()

    @property
    def spans(self) -> int:
        """Spans currently queued."""
        return self._spans

    def put(self, batch: SpanBatch) -> bool:
        """Enqueue `batch`; False when it does not fit (the caller answers 503).

        A batch larger than the whole bound is still accepted into an empty queue,
        otherwise a big (but size-limit-conforming) request could never succeed.
        """
        n = len(batch)
        with self._cond:
            if self._closed:
                return False
            if self._spans and self._spans + n > self.max_spans:
                return False
            self._items.append(batch)
            self._spans += n
            self._cond.notify()
            return True

    def take(self, max_spans: int, timeout: float | None = None) -> list[SpanBatch] | None:
        """Remove queued batches (at least one, then up to `max_spans` spans).

        Blocks until something is queued; returns [] on timeout and None once the
        queue is closed and empty (the writer's signal to stop).
        """
        with self._cond:
            if not self._items:
                if self._closed:
                    return None
                self._cond.wait(timeout)
                if not self._items:
                    return None if self._closed else []
            taken = [self._items.popleft()]
            total = len(taken[0])
            while self._items and total + len(self._items[0]) <= max_spans:
                batch = self._items.popleft()
                total += len(batch)
                taken.append(batch)
            self._spans -= total
            return taken

    def close(self) -> None:
        """Refuse further puts; `take` drains what is left, then returns None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def drop_superseded_pending(batch: SpanBatch) -> tuple[SpanBatch, int]:
    """Leave out pending copies (`end_ns` None) of spans whose finished version is in `batch`.

    hoptrace's tracer exports every span twice, a pending copy at its start and the
    finished span at its end; for short spans both often reach the writer in one batch.
    The store would keep only the finished one anyway (a pending copy never replaces a
    finished span), so leaving the copy out saves the store that work.
    Returns the batch to write and how many copies were left out.
    """
    ends = batch.end_ns
    if None not in ends:
        return batch, 0
    finished = {
        (t, s) for t, s, e in zip(batch.trace_id, batch.span_id, ends, strict=True) if e is not None
    }
    keep = [
        i
        for i, (t, s, e) in enumerate(zip(batch.trace_id, batch.span_id, ends, strict=True))
        if e is not None or (t, s) not in finished
    ]
    if len(keep) == len(ends):
        return batch, 0
    out = SpanBatch()
    for name in out.__dataclass_fields__:
        column = getattr(batch, name)
        getattr(out, name).extend([column[i] for i in keep])
    return out, len(ends) - len(keep)


class Writer(threading.Thread):
    """The one thread that writes queued spans to the store."""

    def __init__(
        self,
        queue: SpanQueue,
        write: Callable[[SpanBatch], None],
        *,
        max_write_spans: int = DEFAULT_MAX_WRITE_SPANS,
        retry_delay: float = 0.2,
        on_written: Callable[[SpanBatch], None] | None = None,
    ) -> None:
        super().__init__(name="hoptrace-collect-writer", daemon=True)
        self._queue = queue
        self._write = write
        self._max_write_spans = max_write_spans
        self._retry_delay = retry_delay
        self._on_written = on_written
        self._cond = threading.Condition()
        self.enqueued_spans = 0
        self.written_spans = 0
        self.dropped_spans = 0
        self.writes = 0

    def note_enqueued(self, n: int) -> None:
        """Count spans accepted into the queue (for `wait_idle`)."""
        with self._cond:
            self.enqueued_spans += n

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every span counted by `note_enqueued` was written or dropped."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self.written_spans + self.dropped_spans < self.enqueued_spans:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def run(self) -> None:
        while True:
            taken = self._queue.take(self._max_write_spans, timeout=0.5)
            if taken is None:
                return
            if taken:
                self._write_coalesced(taken)

    def _write_coalesced(self, taken: list[SpanBatch]) -> None:
        if len(taken) == 1:
            self._write_one(taken[0])
            return
        merged = SpanBatch()
        for batch in taken:
            merged.extend(batch)
        merged, superseded = drop_superseded_pending(merged)
        try:
            self._write(merged)
        except Exception:
            log.warning(
                "coalesced write of %d spans failed; retrying per request",
                len(merged),
                exc_info=True,
            )
            for batch in taken:
                self._write_one(batch)
        else:
            for batch in taken:
                self._committed(batch)
            # the left-out pending copies count as written: their finished form just was
            self._done(written=len(merged) + superseded)

    def _write_one(self, batch: SpanBatch) -> None:
        # left-out pending copies share the fate of their finished span
        original = batch
        batch, superseded = drop_superseded_pending(batch)
        attempt = 0
        while True:
            try:
                self._write(batch)
            except Exception as exc:
                attempt += 1
                if is_transient(exc):
                    # a full disk, a held file, a dead writer child: the data is fine,
                    # the store will take it later. Waiting here fills the queue, and
                    # a full queue answers 503: back-pressure, never a silent drop.
                    if attempt == 1 or attempt % 20 == 0:
                        log.warning("store write failed (%s); retrying until it succeeds", exc)
                    time.sleep(min(self._retry_delay * (2 ** min(attempt, 5)), 5.0))
                    continue
                if attempt < _ATTEMPTS:
                    time.sleep(self._retry_delay * (2 ** (attempt - 1)))
                    continue
                # the store refuses these very spans: they stay in the spool (if any),
                # which keeps them on disk for a replay after a fix
                log.exception("store refuses %d spans after %d writes", len(batch), attempt)
                self._done(dropped=len(batch) + superseded)
                return
            self._committed(original)
            self._done(written=len(batch) + superseded)
            return

    def _committed(self, batch: SpanBatch) -> None:
        if self._on_written is not None:
            try:
                self._on_written(batch)
            except Exception:
                log.exception("releasing a written batch failed")

    def _done(self, *, written: int = 0, dropped: int = 0) -> None:
        with self._cond:
            self.written_spans += written
            self.dropped_spans += dropped
            self.writes += 1
            self._cond.notify_all()
