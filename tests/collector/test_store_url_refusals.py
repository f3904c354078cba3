"""Where hoptrace writes a DuckDB file itself, a ClickHouse store URL is a clear error that
says how spans reach ClickHouse, not a DuckDB file created under a directory named 'chdb:'."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from collector import DuckDBSpanExporter


@pytest.mark.parametrize("url", ["chdb:///tmp/x", "clickhouse://u:secret@h:8123/db"])
def test_the_exporter_refuses_a_store_url(url: str) -> None:
    with pytest.raises(ValueError, match="hoptrace collect --store URL") as err:
        DuckDBSpanExporter(url)
    assert "secret" not in str(err.value)


def test_the_zero_config_sink_logs_it_and_the_program_runs(tmp_path: Path) -> None:
    code = "import tracer\n@tracer.agent\ndef a(x):\n    return x + 1\nprint(a(1))\n"
    env = {
        **os.environ,
        "HOPTRACE_DB": f"chdb://{tmp_path / 'ch'}",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2"
    assert "could not create the default span exporter" in done.stderr
    assert not list(tmp_path.glob("chdb*"))


def test_the_demo_refuses_a_store_url(tmp_path: Path) -> None:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    done = subprocess.run(
        [sys.executable, "-m", "hoptrace", "demo", "--runs", "1", "--db", f"chdb://{tmp_path}/ch"],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    assert "the demo writes a DuckDB file" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_hoptrace_db_naming_a_clickhouse_store_reaches_the_readers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$HOPTRACE_DB is a store selector too: readers route it to ClickHouse (which needs
    the extra, absent here: a clear error), writers of DuckDB files refuse it."""
    import collector
    from collector.store import SpanStore, StoreError

    monkeypatch.setenv("HOPTRACE_DB", "clickhouse://127.0.0.1:9/db")
    assert collector.resolve_store() == "clickhouse://127.0.0.1:9/db"
    with pytest.raises(ValueError, match="is a ClickHouse store; this needs a DuckDB file"):
        collector.resolve_db()
    with pytest.raises(ValueError, match="ClickHouse store"):
        SpanStore()
    with pytest.raises((StoreError, ImportError)):  # not a DuckDB file named 'clickhouse:'
        collector.query("SELECT 1")
    assert not list(Path.cwd().glob("clickhouse:*"))
