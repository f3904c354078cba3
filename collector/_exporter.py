"""DuckDBSpanExporter: the zero-config sink, an OTel SpanExporter on the store's write queue.

`export()` converts the SDK spans and stages them as Arrow (the Python half of a
write, on the span processor's thread) and puts them on `collector.store.WriteQueue`,
the same queue, writer thread and retry / back-pressure / drop policy as
`hoptrace collect`'s receiver (its module doc states the policy). The writer is a child
process by default (`collector.store.open_writer`: DuckDB there cannot be slowed down by
this process's GIL), so the two halves of ingest run on two cores, the traced program
never waits for DuckDB, and the fixed cost of a write (attach, commit, detach) is paid
per coalesced write, not per span. A write that cannot get the file (another process
holds it past the timeout) keeps its spans queued and is retried: a busy file never
costs a span. Only a writer so far behind that `max_pending_spans` wait in memory makes
`export()` wait (up to `timeout`), then drop (counted, logged every 10 s), so that memory
stays bounded. Failures are logged and never raised into the traced program.
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

from collector._paths import is_store_url, resolve_store
from collector.ingest import Staged, merge, spans_to_batch, stage
from collector.store import WRITE_TIMEOUT_S, WriteQueue, open_writer

logger = logging.getLogger("collector")
_DROP_LOG_EVERY_S = 10.0


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
        store = resolve_store(db)  # $HOPTRACE_DB too
        if is_store_url(store):
            raise ValueError(
                f"DuckDBSpanExporter writes a DuckDB file, not {str(store).split('@')[-1]!r}: send "
                "spans to a ClickHouse store over OTLP (`hoptrace collect --store URL`, or an "
                "OTel Collector with the clickhouse exporter)"
            )
        self._db = db
        self._writer_process = writer_process
        self._sync = flush_interval <= 0
        self._timeout = timeout
        self._store: Any = None
        self._store_lock = threading.Lock()
        self._queue: WriteQueue[Staged] = WriteQueue(
            self._write,
            coalesce=merge,
            size=_rows,
            max_spans=max_pending_spans,
            max_write_spans=max_pending_spans,  # in memory at most: twice this bound
            min_interval=max(flush_interval, 0.0),
            wake_spans=max_buffer_spans,
            name="hoptrace-duckdb-writer",
        )
        self._shutdown = False
        self._convert_logged = False
        self._dropped = 0
        self._drop_logged = -_DROP_LOG_EVERY_S
        atexit.register(_shutdown_at_exit, weakref.ref(self))

    # --- SpanExporter -------------------------------------------------------------

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Queue the spans (written within `flush_interval`); never raises."""
        if self._shutdown:
            return SpanExportResult.FAILURE
        if not spans:
            return SpanExportResult.SUCCESS
        try:
            staged = stage(spans_to_batch(spans))
        except Exception:  # a malformed span must not break the traced program
            if not self._convert_logged:
                self._convert_logged = True
                logger.warning("hoptrace: could not convert spans for DuckDB", exc_info=True)
            return SpanExportResult.FAILURE
        if not self._queue.put(staged, wait=0.0 if self._sync else self._timeout):
            self._count_drop(staged.table.num_rows)
            return SpanExportResult.FAILURE
        if self._sync:
            return SpanExportResult.SUCCESS if self._queue.flush() else SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Write everything queued now; False if a write failed (the file stayed locked:
        the spans stay queued and are retried) or the timeout passed."""
        return self._queue.flush(timeout_millis / 1000)

    def shutdown(self) -> None:
        """Write what is left (waiting up to `timeout` + 5 s for a held file), then stop."""
        if self._shutdown:
            return
        self._shutdown = True
        if not self._queue.close(self._timeout + 5):
            logger.error("hoptrace: %d spans could not be written to DuckDB before shutdown",
                         self._queue.dropped_spans)  # fmt: skip
        with self._store_lock:
            if self._store is not None:
                self._store.close()

    # --- internals ----------------------------------------------------------------

    @property
    def dropped_spans(self) -> int:
        """Spans refused because `max_pending_spans` were already waiting (see above),
        plus any the store refused outright."""
        return self._dropped + self._queue.dropped_spans

    @property
    def pending_spans(self) -> int:
        """Spans queued or being written, not yet committed."""
        return self._queue.unwritten_spans

    def _count_drop(self, n: int) -> None:
        self._dropped += n
        now = time.monotonic()
        if now - self._drop_logged >= _DROP_LOG_EVERY_S:  # not a line per batch
            self._drop_logged = now
            logger.error(
                "hoptrace: dropping spans: %d are still waiting for DuckDB "
                "(max_pending_spans); %d dropped so far",
                self._queue.spans, self._dropped,
            )  # fmt: skip

    def _write(self, staged: Staged) -> None:
        with self._store_lock:
            if self._store is None:
                self._store = open_writer(
                    self._db, writer_process=self._writer_process, timeout=self._timeout
                )
            store = self._store
        store.write_staged(staged)


def _rows(staged: Staged) -> int:
    return int(staged.table.num_rows)
