"""The one write queue: every ingest path (the embedded exporter, the OTLP receiver) feeds it.

One policy for all of them:
- **Bounded by spans**, not requests or batches, so memory stays bounded whatever the
  batch sizes. A `put` that does not fit waits up to `wait` seconds for room, then is
  refused: the receiver answers that with 503 + Retry-After (wait 0: an HTTP client
  retries), the exporter with a counted, logged drop after a bounded wait (nobody
  retries an embedded span). A batch larger than the whole bound still fits into an
  empty queue, or it could never be written.
- **Durable when asked**: with a `Spool`, a put that carries the raw request appends it
  (fsync'd) before the batch is queued; the record is released once its spans are
  committed, and `start()` replays what an earlier run left.
- **One writer thread** takes everything queued (up to `max_write_spans`), coalesces it
  and writes it in one transaction, so per-transaction costs are paid per coalesced
  write. With `min_interval`, it rests between writes (twice as long as the last write
  took, at most 0.5 s, at least `min_interval`) unless `wake_spans` are waiting or a
  `flush()` asks: a trickle of spans does not keep a core busy.
- **Retries**: a failed write puts its batches back at the head of the queue (order is
  kept, and later batches join the next try). A transient failure (a full disk, a held
  file, a restarted writer child: `is_transient`) is retried until it passes, backing
  off up to 5 s; meanwhile the queue fills, so back-pressure reaches the senders. Any
  other failure is retried batch by batch, `_ATTEMPTS` times each, then that batch is
  dropped with an error log (its spool record stays on disk for a replay after a fix).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from collector.store._spool import Spool, SpoolRecord

__all__ = ["DEFAULT_MAX_QUEUE_SPANS", "WriteQueue", "is_transient"]

log = logging.getLogger("hoptrace.collect")

T = TypeVar("T")

DEFAULT_MAX_QUEUE_SPANS = 100_000
"""About 200 MB of decoded spans (~2 KB each at hoptrace's typical span size)."""
DEFAULT_MAX_WRITE_SPANS = 50_000
_ATTEMPTS = 3
_MAX_BACKOFF_S = 5.0
_REST_FACTOR = 2.0
_MAX_REST_S = 0.5

_TRANSIENT_TEXT = (
    "No space left", "Could not write", "Unique file handle", "writer process",
    "stayed locked", "Conflicting lock", "Disk quota", "Read-only file system",
)  # fmt: skip


def is_transient(exc: BaseException) -> bool:
    """A write failure the store recovers from by itself (space, locks, a restarted child).

    Errors cross the writer child's pipe as text, so the message decides, not the class;
    a store this layer cannot import (ClickHouse, above it) decides itself instead, by
    giving its exception a bool `transient` attribute, which wins over the text.
    """
    marked = getattr(exc, "transient", None)
    if isinstance(marked, bool):
        return marked
    if isinstance(exc, OSError):
        return True
    text = f"{type(exc).__name__}: {exc}"
    return any(marker in text for marker in _TRANSIENT_TEXT) or "StoreBusyError" in text


@dataclass
class _Entry(Generic[T]):
    item: T
    spans: int
    record: SpoolRecord | None
    failures: int = 0
    alone: bool = False  # part of a refused coalesced write: written by itself from now on


class WriteQueue(Generic[T]):
    """A bounded FIFO of batches and the one thread that writes them (see the module doc).

    Args:
        write: Writes one coalesced batch in one transaction; idempotent (a batch
            can be written again after a failure that came after its commit).
        coalesce: Makes one batch of several, in order.
        size: The number of spans in a batch.
        max_spans: Spans queued at most (batches being written are not counted).
        max_write_spans: Spans coalesced into one write at most.
        min_interval: Seconds the writer rests between writes at least (0: none).
        wake_spans: Queued spans that end a rest early.
        spool: Makes puts that carry their raw request durable before they are queued.
        retry_delay: First back-off after a failed write, in seconds.
        autostart: Start the writer thread at the first put (else at `start()`).
    """

    def __init__(
        self,
        write: Callable[[T], None],
        *,
        coalesce: Callable[[list[T]], T],
        size: Callable[[T], int],
        max_spans: int = DEFAULT_MAX_QUEUE_SPANS,
        max_write_spans: int = DEFAULT_MAX_WRITE_SPANS,
        min_interval: float = 0.0,
        wake_spans: int | None = None,
        spool: Spool | None = None,
        retry_delay: float = 0.2,
        autostart: bool = True,
        name: str = "hoptrace-writer",
    ) -> None:
        self._autostart = autostart
        self.max_spans = max(max_spans, 1)
        self.spool = spool
        self._write = write
        self._coalesce = coalesce
        self._size = size
        self._max_write = max(max_write_spans, 1)
        self._min_interval = min_interval
        self._wake_spans = wake_spans if wake_spans is not None else self.max_spans
        self._retry_delay = retry_delay
        self._name = name
        self._entries: deque[_Entry[T]] = deque()
        self._queued = 0
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._abandon = False
        self._hurry = False  # ends a rest (enough spans waiting)
        self._flushing = False  # ends a rest or a back-off (flush() or close())
        self._backing_off = False
        self._not_before = 0.0  # monotonic time the writer rests (or backs off) until
        self._failed_writes = 0
        self.enqueued_spans = 0
        self.written_spans = 0
        self.dropped_spans = 0
        self.refused_spans = 0
        self.writes = 0

    @property
    def spans(self) -> int:
        """Spans queued and not yet taken by the writer."""
        return self._queued

    @property
    def unwritten_spans(self) -> int:
        """Spans accepted and neither written nor dropped yet (queued or being written)."""
        with self._cond:
            return self.enqueued_spans - self.written_spans - self.dropped_spans

    # --- lifecycle --------------------------------------------------------------------

    def start(self, replay: Callable[[str, bytes], T | None] | None = None) -> WriteQueue[T]:
        """Replay the spool (each record `replay(kind, raw)`'s batch, written at once), then
        start the writer thread."""
        if self.spool is not None and replay is not None:

            def _one(kind: str, raw: bytes) -> None:
                batch = replay(kind, raw)
                if batch is None or not self._size(batch):
                    return
                attempt = 0
                while True:
                    try:
                        self._write(self._coalesce([batch]))
                        return
                    except Exception as exc:
                        # a full disk or a held file at start must not move acknowledged
                        # spans to failed/: wait it out; anything else raises, and the
                        # segment goes to failed/ so it cannot block the start
                        if not is_transient(exc):
                            raise
                        if attempt % 20 == 0:
                            log.warning("replaying the spool: store write failed (%s); "
                                        "retrying until it succeeds", exc)  # fmt: skip
                        time.sleep(min(self._retry_delay * (2 ** min(attempt, 5)), _MAX_BACKOFF_S))
                        attempt += 1

            replayed, failed = self.spool.replay(_one)
            if replayed or failed:
                log.info("replayed %d spooled requests (%d segments kept in failed/)",
                         replayed, failed)  # fmt: skip
        self._ensure_thread()
        return self

    def close(self, timeout: float | None = None) -> bool:
        """Refuse further puts and write everything queued; True when all of it was
        written (or dropped after logged refusals) within `timeout` seconds. Past the
        timeout what is left is abandoned: counted as dropped and logged."""
        with self._cond:
            self._closed = True
            self._flushing = True
            self._cond.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                with self._cond:
                    self._abandon = True
                    self._cond.notify_all()
                thread.join(1.0)
                return False
        return True

    # --- the producers' side ----------------------------------------------------------

    def put(
        self, item: T, *, wait: float = 0.0, raw: bytes | None = None, kind: str = "protobuf"
    ) -> bool:
        """Queue `item`; False when there is no room within `wait` seconds (or closed).

        With a spool and `raw`, the raw request is made durable first; an OSError from
        the spool (a full disk) is raised before anything is queued.
        """
        n = self._size(item)
        record = (
            self.spool.append(raw, kind) if self.spool is not None and raw is not None else None
        )
        with self._cond:
            deadline = time.monotonic() + wait
            while self._queued and self._queued + n > self.max_spans and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            if self._closed or (self._queued and self._queued + n > self.max_spans):
                self.refused_spans += n
                refused = True
            else:
                self._entries.append(_Entry(item, n, record))
                self._queued += n
                self.enqueued_spans += n
                if self._queued >= self._wake_spans:
                    self._hurry = True
                self._cond.notify_all()
                refused = False
        if refused:
            if record is not None:
                self.spool.release(record)  # type: ignore[union-attr]
            return False
        if self._autostart:
            self._ensure_thread()
        return True

    def flush(self, timeout: float | None = None) -> bool:
        """Write now what was queued before this call; True once it is written (or
        dropped after logged refusals). False when a write fails meanwhile (the spans
        stay queued and are retried) or `timeout` passes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self.enqueued_spans
            failed = self._failed_writes
            if self._thread is None:  # not started: nothing can be written yet
                return self.written_spans + self.dropped_spans >= target
            self._flushing = True
            self._cond.notify_all()
            while self.written_spans + self.dropped_spans < target:
                if self._failed_writes != failed:
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every accepted span was written or dropped (failures are waited out)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self.written_spans + self.dropped_spans < self.enqueued_spans:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    # --- the writer thread ------------------------------------------------------------

    def _ensure_thread(self) -> None:
        with self._cond:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            taken = self._take()
            if taken is None:
                return
            started = time.monotonic()
            ok = self._write_entries(taken)
            if ok and self._min_interval > 0:
                took = time.monotonic() - started
                rest = max(self._min_interval, min(_MAX_REST_S, _REST_FACTOR * took))
                with self._cond:
                    self._not_before = time.monotonic() + rest

    def _take(self) -> list[_Entry[T]] | None:
        """Wait for work (and out the rest or back-off), then take it; None: stop."""
        with self._cond:
            while True:
                if self._abandon:
                    self._abandon_entries()
                    return None
                if not self._entries:
                    if self._closed:
                        return None
                    self._cond.wait()
                    continue
                delay = self._not_before - time.monotonic()
                cut = self._flushing or (self._hurry and not self._backing_off)
                if delay > 0 and not cut:
                    self._cond.wait(delay)
                    continue
                self._hurry = self._flushing = self._backing_off = False
                taken = [self._entries.popleft()]
                total = taken[0].spans
                while (
                    not taken[0].alone
                    and self._entries
                    and not self._entries[0].alone
                    and total + self._entries[0].spans <= self._max_write
                ):
                    entry = self._entries.popleft()
                    total += entry.spans
                    taken.append(entry)
                self._queued -= total
                self._cond.notify_all()  # room for a waiting put
                return taken

    def _write_entries(self, taken: list[_Entry[T]]) -> bool:
        try:
            self._write(self._coalesce([e.item for e in taken]))
        except Exception as exc:
            self._failed(taken, exc)
            return False
        if self.spool is not None:
            for entry in taken:
                if entry.record is not None:
                    self._release(entry.record)
        with self._cond:
            self.written_spans += sum(e.spans for e in taken)
            self.writes += 1
            self._cond.notify_all()
        return True

    def _failed(self, taken: list[_Entry[T]], exc: Exception) -> None:
        spans = sum(e.spans for e in taken)
        transient = is_transient(exc)
        keep = list(taken)
        if transient:
            backoff = min(self._retry_delay * (2 ** min(taken[0].failures, 5)), _MAX_BACKOFF_S)
            taken[0].failures += 1
            if taken[0].failures == 1 or taken[0].failures % 20 == 0:
                log.warning("store write of %d spans failed (%s); retrying until it succeeds",
                            spans, exc)  # fmt: skip
        elif len(taken) > 1:
            backoff = 0.0  # find the batch the store refuses: the next writes take one each
            log.warning("coalesced write of %d spans failed (%s); retrying batch by batch",
                        spans, exc)  # fmt: skip
        else:
            entry = taken[0]
            entry.failures += 1
            backoff = self._retry_delay * (2 ** (entry.failures - 1))
            if entry.failures >= _ATTEMPTS:
                # the store refuses these very spans: any spool record keeps them on disk
                log.error("store refuses %d spans after %d writes, dropped: %s",
                          entry.spans, entry.failures, exc)  # fmt: skip
                keep = []
        with self._cond:
            self._failed_writes += 1
            if not transient and len(taken) > 1:
                for entry in taken:
                    entry.alone = True
            if keep:
                self._entries.extendleft(reversed(keep))
                self._queued += sum(e.spans for e in keep)
            else:
                self.dropped_spans += spans
            self._not_before = time.monotonic() + backoff
            self._backing_off = backoff > 0
            self._cond.notify_all()

    def _abandon_entries(self) -> None:
        """With the lock held, at a close that timed out: drop what is left, loudly."""
        left = sum(e.spans for e in self._entries)
        if left:
            log.error("%d spans were not written before the close timed out", left)
        self.dropped_spans += left
        self._queued = 0
        self._entries.clear()
        self._cond.notify_all()

    def _release(self, record: SpoolRecord) -> None:
        try:
            self.spool.release(record)  # type: ignore[union-attr]
        except Exception:
            log.exception("releasing a written spool record failed")
