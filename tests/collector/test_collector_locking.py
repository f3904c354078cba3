"""Lock conflicts with another process: readers wait, the exporter keeps what it could not write."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from collector_helpers import add
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import collector
from collector import SpanBatch, SpanStore, StoreBusyError

HOLDER = Path(__file__).with_name("collector_holder_proc.py")


def _hold(db: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(HOLDER), str(db), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "holding"
    return proc


def _store_with_one_run(db: Path) -> None:
    b = SpanBatch()
    add(b, "root", None, "invoke_workflow w", 0, 10, status="OK")
    SpanStore(db).write(b)


@pytest.mark.slow
def test_reader_waits_for_a_writer_process_instead_of_failing(db: Path) -> None:
    _store_with_one_run(db)
    holder = _hold(db, 1.0)
    try:
        # the file is locked right now; the reader retries until the holder lets go
        assert collector.query("SELECT count(*) FROM runs", db).item() == 1
    finally:
        holder.wait(timeout=30)


@pytest.mark.slow
def test_reader_gives_a_clear_error_after_its_timeout(db: Path) -> None:
    _store_with_one_run(db)
    holder = _hold(db, 5.0)
    try:
        with pytest.raises(StoreBusyError, match="stayed locked by another process"):  # noqa: SIM117
            with collector.read_connection(db, timeout=0.3):
                pass
    finally:
        holder.kill()
        holder.wait(timeout=30)


@pytest.mark.slow
def test_exporter_keeps_spans_while_locked_and_writes_them_later(db: Path) -> None:
    _store_with_one_run(db)
    exporter = collector.DuckDBSpanExporter(db, timeout=0.3, flush_interval=60)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    holder = _hold(db, 30.0)
    try:
        for i in range(5):
            with tracer.start_as_current_span(f"invoke_workflow run{i}"):
                pass
        assert exporter.force_flush() is False  # the file is held: nothing written ...
        assert exporter.pending_spans == 5  # ... and nothing lost
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert exporter.force_flush() is True
    assert exporter.pending_spans == 0
    provider.shutdown()
    assert collector.query("SELECT count(*) FROM runs", db).item() == 6


@pytest.mark.slow
def test_a_stuck_writer_cannot_grow_memory_past_max_pending_spans(db: Path, caplog) -> None:
    _store_with_one_run(db)
    exporter = collector.DuckDBSpanExporter(
        db, timeout=0.3, flush_interval=0.05, max_pending_spans=4
    )
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    holder = _hold(db, 30.0)
    try:
        most = 0
        for i in range(12):
            with tracer.start_as_current_span(f"invoke_workflow run{i}"):
                pass
            most = max(most, exporter.pending_spans)
        # one batch may be on its way back into the buffer after a failed write
        assert most <= 2 * 4
        assert exporter.dropped_spans > 0
        assert "(max_pending_spans)" in caplog.text
    finally:
        holder.kill()
        holder.wait(timeout=30)
    provider.shutdown()  # what was kept is written once the file is free
    assert exporter.pending_spans == 0
    assert (
        collector.query("SELECT count(*) FROM runs", db).item() == 1 + 12 - exporter.dropped_spans
    )


def test_reads_nest_and_a_write_inside_a_read_is_a_clear_error(db: Path) -> None:
    _store_with_one_run(db)
    with collector.read_connection(db) as outer:
        assert collector.query("SELECT count(*) FROM runs", db).item() == 1
        assert outer.execute("SELECT count(*) FROM spans").fetchall() == [(1,)]
        with pytest.raises(collector.StoreError, match="cannot write"):
            SpanStore(db)
    SpanStore(db)  # fine once the read is over


def test_writer_thread_and_reader_thread_in_one_process(db: Path) -> None:
    """The exporter flushing in its thread while this thread polls: serialised, no errors."""
    import threading

    exporter = collector.DuckDBSpanExporter(db, flush_interval=0.01)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    stop = threading.Event()
    errors: list[BaseException] = []

    def poll() -> None:
        while not stop.is_set():
            try:
                if db.exists():
                    collector.query("SELECT count(*) FROM runs", db)
            except collector.SchemaVersionError:
                pass  # the schema is being created right now
            except BaseException as exc:
                errors.append(exc)
                return

    reader = threading.Thread(target=poll)
    reader.start()
    for i in range(40):
        with (
            tracer.start_as_current_span(f"invoke_workflow run{i}"),
            tracer.start_as_current_span("step"),
        ):
            pass
    provider.shutdown()
    stop.set()
    reader.join(timeout=30)
    assert errors == []
    assert collector.query("SELECT count(*), sum(span_count) FROM runs", db).row(0) == (40, 80)
