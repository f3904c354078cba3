"""Another application's DuckDB file: hoptrace refuses to write into it, and leaves it as it was."""

from __future__ import annotations

import hashlib
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import collector
from collector import NotAHoptraceStoreError, SpanStore, StoreError


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _objects(path: Path) -> list[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute(
            "SELECT table_name FROM duckdb_tables() UNION ALL "
            "SELECT view_name FROM duckdb_views() WHERE NOT internal"
        ).fetchall()
    finally:
        con.close()
    return sorted(r[0] for r in rows)


@pytest.fixture
def foreign(tmp_path: Path) -> Path:
    """Another application's database: its own tables and a view, no hoptrace_meta."""
    path = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE orders (id INTEGER, total DOUBLE)")
    con.execute("INSERT INTO orders VALUES (1, 9.5), (2, 20.0)")
    con.execute("CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 10")
    con.close()
    return path


@pytest.fixture
def empty_duckdb(tmp_path: Path) -> Path:
    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()
    return path


def _collect(db: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "hoptrace", "collect", "--port", "0", "--db", str(db)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_span_store_refuses_a_foreign_database(foreign: Path) -> None:
    before = _sha(foreign)
    with pytest.raises(NotAHoptraceStoreError, match="is not a hoptrace store") as info:
        SpanStore(foreign)
    assert "orders" in str(info.value)
    assert "big_orders" in str(info.value)
    assert isinstance(info.value, StoreError)
    assert _sha(foreign) == before
    assert _objects(foreign) == ["big_orders", "orders"]


def test_collect_on_a_foreign_database_exits_2_and_leaves_it_alone(foreign: Path) -> None:
    before = _sha(foreign)
    proc = subprocess.run(
        [sys.executable, "-m", "hoptrace", "collect", "--port", "0", "--db", str(foreign)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("hoptrace collect: ")
    assert f"{foreign} is not a hoptrace store" in lines[0]
    assert "Traceback" not in proc.stderr
    assert _sha(foreign) == before
    assert _objects(foreign) == ["big_orders", "orders"]
    assert sorted(p.name for p in foreign.parent.iterdir()) == ["shop.duckdb"]


def test_collect_run_returns_2_in_process(
    foreign: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from collector.otlp._cli import run

    before = _sha(foreign)
    args = argparse.Namespace(host="127.0.0.1", port=0, token=None, db=str(foreign))
    assert run(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("hoptrace collect: ")
    assert "is not a hoptrace store" in err
    assert _sha(foreign) == before


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["new", "empty"])
def test_collect_starts_on_a_new_path_or_an_empty_duckdb_file(
    kind: str, tmp_path: Path, empty_duckdb: Path
) -> None:
    db = tmp_path / "new.duckdb" if kind == "new" else empty_duckdb
    proc = _collect(db)
    assert proc.stderr is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "listening on" in line:
                break
        assert any("listening on" in line for line in lines), "".join(lines)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, "".join(lines) + err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "hoptrace_meta" in _objects(db)
    assert collector.query("SELECT count(*) AS n FROM runs", db)["n"][0] == 0


def test_an_empty_duckdb_file_becomes_a_store(empty_duckdb: Path) -> None:
    SpanStore(empty_duckdb)
    assert {"hoptrace_meta", "spans", "runs"} <= set(_objects(empty_duckdb))
    SpanStore(empty_duckdb)  # and opens again as a hoptrace store


@pytest.mark.parametrize("writer_process", [False, True])
def test_the_exporter_logs_and_never_writes_into_a_foreign_database(
    foreign: Path, writer_process: bool, caplog: pytest.LogCaptureFixture
) -> None:
    before = _sha(foreign)
    exporter = collector.DuckDBSpanExporter(
        foreign, flush_interval=60, writer_process=writer_process
    )
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    with caplog.at_level(logging.WARNING, logger="collector"):
        for i in range(3):
            with tracer.start_as_current_span(f"invoke_workflow run{i}"):
                pass
        assert exporter.force_flush() is False  # refused, logged, not raised
        provider.shutdown()
    assert "is not a hoptrace store" in caplog.text
    assert _sha(foreign) == before
    assert _objects(foreign) == ["big_orders", "orders"]


def test_the_refusal_keeps_its_class_across_the_writer_child(foreign: Path) -> None:
    from collector.ingest import SpanBatch
    from collector.store import ProcessStore

    before = _sha(foreign)
    store = ProcessStore(foreign).start()
    batch = SpanBatch()
    batch.add(
        trace_id="1" * 32, span_id="2" * 16, parent_span_id=None, name="s", kind="INTERNAL",
        start_ns=1, end_ns=2, status_code="OK", status_message=None, attributes={},
        events=[], links=[], resource={}, scope_name=None, scope_version=None,
    )  # fmt: skip
    try:
        with pytest.raises(NotAHoptraceStoreError, match="not a hoptrace store"):
            store.write(batch)
    finally:
        store.close()
    assert _sha(foreign) == before
