"""ProcessStore: the DuckDB writes in a real child process, fed over real pipes."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from collector_helpers import add, newer_schema_file
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import collector
from collector import SchemaVersionError, SpanBatch, StoreError
from collector.store._writer_proc import ProcessStore, child_supported

pytestmark = pytest.mark.skipif(not child_supported(), reason="writer child needs POSIX")


def _batch(prefix: str, n: int) -> SpanBatch:
    batch = SpanBatch()
    add(batch, f"{prefix}root", None, "invoke_workflow w", 0, 100, trace_id=f"{prefix:0>32}")
    for i in range(n - 1):
        add(batch, f"{prefix}c{i}", f"{prefix}root", "execute_tool t", 1 + i, 2 + i,
            trace_id=f"{prefix:0>32}")  # fmt: skip
    return batch


def _count(db: Path) -> int:
    return int(collector.query("SELECT count(*) FROM spans", db).item())


def _gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_writes_in_a_child_that_exits_on_close(db: Path) -> None:
    store = ProcessStore(db)
    store.write(_batch("a", 5))
    pid = store.child_pid
    assert pid is not None
    assert pid != os.getpid()
    store.write(_batch("b", 3))
    assert store.child_pid == pid  # one child serves every write
    assert _count(db) == 8
    assert collector.query("SELECT span_count FROM runs ORDER BY trace_id", db)[
        "span_count"
    ].to_list() == [5, 3]
    store.close()
    assert store.child_pid is None
    assert _gone(pid)


def test_a_killed_child_is_replaced_and_the_exporter_loses_nothing(db: Path) -> None:
    exporter = collector.DuckDBSpanExporter(db, flush_interval=60)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    for i in range(3):
        tracer.start_span(f"first {i}").end()
    assert exporter.force_flush()
    store = exporter._store
    old = store.child_pid
    os.kill(old, signal.SIGKILL)
    for i in range(4):
        tracer.start_span(f"second {i}").end()
    # the flush either notices the death first and starts a new child, or finds the
    # pipe broken, keeps the batch and succeeds on the next flush
    if not exporter.force_flush():
        assert exporter.pending_spans == 4
        assert exporter.force_flush()
    assert store.child_pid not in (None, old)
    provider.shutdown()
    assert _count(db) == 7


def test_a_child_dying_mid_write_is_an_error_and_the_next_write_gets_a_new_one(db: Path) -> None:
    store = ProcessStore(db).start()
    pid = store.child_pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # alive when the write starts, so it is sent...
    killer = threading.Timer(0.3, os.kill, (pid, signal.SIGKILL))  # ...and dies before answering
    killer.start()
    with pytest.raises(StoreError, match=r"writer process .* exited .* kept for the next try"):
        store.write(_batch("a", 2))
    killer.join()
    store.write(_batch("a", 2))
    assert store.child_pid not in (None, pid)
    store.close()
    assert _count(db) == 2


def test_a_forked_process_starts_its_own_child(db: Path) -> None:
    # e.g. a pre-forking server that configured tracing before forking its workers:
    # the parent's pipes must not be shared by two writers
    store = ProcessStore(db).start()
    first = store.child_pid
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked process
        code = 2
        try:
            store.write(_batch("f", 2))
            code = 0 if store.child_pid not in (None, first) else 1
            store.close()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    store.write(_batch("p", 3))
    assert store.child_pid == first  # the parent's child still serves the parent
    store.close()
    assert _count(db) == 5


def test_store_errors_cross_the_process_boundary(db: Path) -> None:
    before = newer_schema_file(db)
    store = ProcessStore(db)
    try:
        with pytest.raises(SchemaVersionError, match="version 99, newer than this hoptrace"):
            store.write(_batch("a", 2))
        assert store.child_pid is not None  # a refused file is an answer, not a crash
    finally:
        store.close()
    assert db.read_bytes() == before


def test_the_child_outlives_ctrl_c_and_sigterm_until_the_pipe_closes(db: Path) -> None:
    # a terminal's Ctrl-C (and a service manager's SIGTERM) reach the whole process
    # group: the child must stay to write what its parent hands it while stopping
    store = ProcessStore(db).start()
    pid = store.child_pid
    assert pid is not None
    os.kill(pid, signal.SIGINT)
    os.kill(pid, signal.SIGTERM)
    store.write(_batch("a", 4))
    assert store.child_pid == pid
    store.close()
    assert _gone(pid)
    assert _count(db) == 4


def test_bad_input_is_refused_before_it_reaches_the_child(db: Path) -> None:
    batch = _batch("a", 2)
    batch.span_id[1] = ""
    store = ProcessStore(db)
    with pytest.raises(ValueError, match="row 1 has an empty trace_id or span_id"):
        store.write(batch)
    assert store.child_pid is None  # nothing was sent, no child was started
    store.close()
    assert not db.exists()


def test_without_a_usable_python_the_writes_run_in_this_process(
    db: Path, monkeypatch, caplog
) -> None:
    # an embedded interpreter's sys.executable is no Python: nothing may be lost for that
    monkeypatch.setattr("sys.executable", str(db.with_name("no-such-python")))
    store = ProcessStore(db)
    store.write(_batch("a", 2))
    assert store.child_pid is None
    assert "writing in this process instead" in caplog.text
    store.write(_batch("b", 3))
    store.close()
    assert _count(db) == 5


def test_a_child_that_dies_while_starting_falls_back_too(db: Path, monkeypatch) -> None:
    # a Python that cannot import this collector (e.g. another environment's python)
    broken = db.with_name("broken-python")
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    monkeypatch.setattr("sys.executable", str(broken))
    store = ProcessStore(db)
    store.write(_batch("a", 2))
    store.close()
    assert _count(db) == 2
