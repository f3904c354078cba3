"""DuckDBSpanExporter: the zero-config sink, an OTel SpanExporter on top of SpanStore.

`export()` converts the SDK spans and stages them as Arrow (the Python half of a
write, on the span processor's thread) and appends them to a buffer; a background
thread hands the buffer to the writer every `flush_interval` seconds (and at once
when it holds `max_buffer_spans`). The writer is a child process by default
(collector.store._writer_proc: DuckDB there cannot be slowed down by this process's GIL),
so the two halves of ingest run on two cores. So the traced program never waits
for DuckDB, a busy pipeline takes the file for a few ms per flush (readers in other
processes slot in between), and the fixed cost of a write (attach, commit, detach)
is paid per flush, not per span. A flush that cannot get the file (another process
holds it past the timeout) keeps its spans and is retried on the next flush,
`force_flush()` or `shutdown()`: a busy file never costs a span. Only a writer so far
behind that `max_pending_spans` wait in memory makes `export()` wait, then drop
(logged), so that memory stays bounded. Failures are logged once and never raised
into the traced program.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from collector.ingest import spans_to_batch
from collector.store import WRITE_TIMEOUT_S

logger = logging.getLogger("collector")
_MAX_DATA_FAILURES = 3
_REST_FACTOR = 2.0
_MAX_REST_S = 0.5
_DROP_LOG_EVERY_S = 10.0


def _is_busy(exc: BaseException) -> bool:
    """A failure that passes by itself (a held file, a full disk, a restarted child):
    the receiver's writer judges failures by the same rule (collector.store.is_transient)."""
    from collector.store import is_lock_conflict, is_transient

    return is_transient(exc) or is_lock_conflict(exc)


def _shutdown_at_exit(ref: weakref.ReferenceType[DuckDBSpanExporter]) -> None:
    # buffered spans are written at interpreter exit even if nobody calls shutdown()
    exporter = ref()
    if exporter is not None:
        exporter.shutdown()


class DuckDBSpanExporter(SpanExporter):
    """OTel SpanExporter writing into hoptrace's DuckDB file.

    Args:
        db: database path; default `$HOPTRACE_DB` or ./hoptrace.duckdb. The file
            is created at the first flush, not here.
        flush_interval: least seconds between background writes (after a long
            write the writer rests up to twice as long, at most 0.5 s); 0
            writes inside `export()` (synchronously).
        max_buffer_spans: buffered spans that trigger a flush at once.
        max_pending_spans: bound on the spans held in memory. When the writer falls
            that far behind (sustained overload, or another process holding the
            file), `export()` waits up to `timeout` seconds for room, then drops
            that batch with an error log (OTel's BatchSpanProcessor drops at its own
            queue the same way), so a stuck writer cannot grow the program's memory.
        timeout: seconds a flush waits for another process to release the file.
        writer_process: write in a child process (collector.store._writer_proc), so that
            Python running in this process cannot slow DuckDB down through the GIL;
            default: yes where supported (POSIX). False writes on a thread here.
    """

    def __init__(
        self,
        db: str | Path | None = None,
        *,
        flush_interval: float = 0.2,
        max_buffer_spans: int = 8192,
        max_pending_spans: int = 100_000,
        timeout: float = WRITE_TIMEOUT_S,
        writer_process: bool | None = None,
    ) -> None:
        self._db = db
        self._writer_process = writer_process
        self._flush_interval = flush_interval
        self._max_buffer = max_buffer_spans
        self._max_pending = max(max_pending_spans, 1)
        self._timeout = timeout
        self._store: Any = None
        self._buffer: list[Any] = []  # collector.ingest._staging.Staged parts, in export order
        self._buffered = 0
        self._buffer_lock = threading.Lock()
        self._room = threading.Condition(
            self._buffer_lock
        )  # notified when a flush takes the buffer
        self._flush_lock = threading.Lock()
        self._thread_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._shutdown = False
        self._logged: set[str] = set()
        self._failures = 0
        self._dropped = 0
        self._drop_logged = -_DROP_LOG_EVERY_S
        atexit.register(_shutdown_at_exit, weakref.ref(self))

    # --- SpanExporter -------------------------------------------------------------

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Buffer the spans (written within `flush_interval`); never raises."""
        if self._shutdown:
            return SpanExportResult.FAILURE
        if not spans:
            return SpanExportResult.SUCCESS
        try:
            from collector.ingest import stage

            staged = stage(spans_to_batch(spans))
        except Exception:  # a malformed span must not break the traced program
            self._log_once("convert", "hoptrace: could not convert spans for DuckDB")
            return SpanExportResult.FAILURE
        with self._buffer_lock:
            if not self._wait_for_room():
                self._dropped += staged.table.num_rows
                now = time.monotonic()
                if now - self._drop_logged >= _DROP_LOG_EVERY_S:  # not a line per batch
                    self._drop_logged = now
                    logger.error(
                        "hoptrace: dropping spans: %d are still waiting for DuckDB "
                        "(max_pending_spans); %d dropped so far",
                        self._buffered, self._dropped,
                    )  # fmt: skip
                return SpanExportResult.FAILURE
            self._buffer.append(staged)
            self._buffered += staged.table.num_rows
            size = self._buffered
        if self._flush_interval <= 0:
            return SpanExportResult.SUCCESS if self._flush() else SpanExportResult.FAILURE
        self._ensure_thread()
        if size >= self._max_buffer:
            self._wake.set()
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Write everything buffered now; False if the file stayed locked."""
        return self._flush()

    def shutdown(self) -> None:
        """Stop the background thread and write what is left."""
        if self._shutdown:
            return
        self._shutdown = True
        self._stop.set()
        self._wake.set()
        with self._buffer_lock:
            self._room.notify_all()  # an export() waiting for room gives up now
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self._timeout + 5)
        self._flush()
        if self._store is not None:
            self._store.close()

    # --- internals ----------------------------------------------------------------

    @property
    def dropped_spans(self) -> int:
        """Spans refused because `max_pending_spans` were already waiting (see above)."""
        return self._dropped

    @property
    def pending_spans(self) -> int:
        """Spans buffered but not yet written."""
        with self._buffer_lock:
            return self._buffered

    def _wait_for_room(self) -> bool:
        """With the buffer lock held: wait (up to `timeout`) until the buffer has room."""
        if self._buffered < self._max_pending:
            return True
        if self._flush_interval <= 0:
            # synchronous mode: the only writer is export() itself, which just failed
            return False
        self._ensure_thread()
        self._wake.set()
        deadline = time.monotonic() + self._timeout
        while self._buffered >= self._max_pending and not self._shutdown:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._room.wait(remaining)
        return self._buffered < self._max_pending

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._thread_lock:  # not the buffer lock: _wait_for_room holds that one
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(
                target=self._run, name="hoptrace-duckdb-flush", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        backoff = self._flush_interval
        while not self._stop.is_set():
            self._wake.wait(backoff)
            self._wake.clear()
            if self._stop.is_set():
                return
            started = time.monotonic()
            ok = self._flush()
            took = time.monotonic() - started
            # A write has a fixed cost (~0.1-0.2 s of DuckDB work however few spans it
            # holds): a trickle of spans must not keep a core busy, so the writer rests
            # twice as long as it wrote, up to _MAX_REST_S (bench/visibility.py: new
            # spans still visible within ~1.7 s); never less than flush_interval; a
            # full buffer wakes it sooner.
            rest = max(self._flush_interval, min(_MAX_REST_S, _REST_FACTOR * took))
            backoff = rest if ok else min(backoff * 2, 5.0)

    def _flush(self) -> bool:
        with self._flush_lock:
            with self._buffer_lock:
                parts, self._buffer, self._buffered = self._buffer, [], 0
                self._room.notify_all()
            if not parts:
                return True
            from collector.ingest import merge

            staged = merge(parts)
            n = staged.table.num_rows
            try:
                if self._store is None:
                    self._store = self._open_store()
                self._store.write_staged(staged)
            except Exception as exc:
                self._failures += 1
                if self._failures > _MAX_DATA_FAILURES and not _is_busy(exc):
                    # the same batch keeps failing for a reason other than a lock:
                    # retrying forever would block every later span
                    logger.error("hoptrace: dropped %d spans DuckDB refuses: %s", n, exc)
                    self._failures = 0
                    return False
                # keep the spans (in front of anything exported meanwhile) for the next try
                with self._buffer_lock:
                    self._buffer.insert(0, staged)
                    self._buffered += n
                self._log_once(
                    type(exc).__name__, f"hoptrace: DuckDB write failed, will retry: {exc}"
                )
                return False
            self._failures = 0
            return True

    def _open_store(self) -> Any:
        from collector.store import ProcessStore, child_supported

        use_child = self._writer_process
        if use_child is None:
            use_child = child_supported()
        if use_child:
            return ProcessStore(self._db, timeout=self._timeout)
        from collector.store import SpanStore

        return SpanStore(self._db, timeout=self._timeout)

    def _log_once(self, key: str, message: str) -> None:
        if key not in self._logged:
            self._logged.add(key)
            logger.warning(message, exc_info=key == "convert")
