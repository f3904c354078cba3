"""`hoptrace derive` and `hoptrace sql` against a chdb store (in process: chdb runs one
engine per process, so a child process could not open the test's database beside it)."""

from __future__ import annotations

import io
import json

import pytest
from parity import WRITES
from test_collector_views import failed_run, rejected_run

from collector.clickhouse import ClickHouseStore
from collector.sql import Refused, run_guarded
from collector.sql._cli import execute
from hoptrace._cli import main


def _filled(url: str) -> ClickHouseStore:
    ch = ClickHouseStore(url)
    ch.write(failed_run())
    ch.write(rejected_run())
    return ch


def test_derive_once_then_sql(ch_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    _filled(ch_url)
    assert main(["derive", "--store", ch_url, "--once", "--lag", "0"]) == 0
    assert "2 trace(s), 9 span(s)" in capsys.readouterr().out
    assert main(["sql", "SELECT name, root_cause_agent FROM runs ORDER BY name",
                 "--db", ch_url, "--format", "json"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out) == [
        {"name": "article", "root_cause_agent": "writer"},
        {"name": "pipeline", "root_cause_agent": "specialist"},
    ]


def test_derive_refuses_a_duckdb_path_and_a_bad_share(tmp_path, ch_url: str) -> None:
    assert main(["derive", "--store", str(tmp_path / "x.duckdb"), "--once"]) == 2
    assert main(["derive", "--store", ch_url, "--worker", "2/2", "--once"]) == 2
    assert main(["derive", "--store", ch_url, "--worker", "x", "--once"]) == 2


@pytest.mark.parametrize("sql", WRITES)
def test_sql_on_clickhouse_is_read_only(ch_url: str, sql: str) -> None:
    _filled(ch_url)
    with pytest.raises(Refused):
        run_guarded(sql, ch_url)
    out, err = io.StringIO(), io.StringIO()
    assert execute(sql, ch_url, "table", out, err) == 2
    assert "refused" in err.getvalue()
    # nothing was written
    assert run_guarded("SELECT count() AS n FROM otel_traces", ch_url).to_pylist() == [{"n": 9}]


def test_sql_strings_may_contain_keywords(ch_url: str) -> None:
    _filled(ch_url)
    table = run_guarded("SELECT 'DROP TABLE x; SETTINGS' AS s", ch_url)
    assert table.to_pylist() == [{"s": "DROP TABLE x; SETTINGS"}]


def test_sql_errors_are_plain_errors(ch_url: str) -> None:
    _filled(ch_url)
    out, err = io.StringIO(), io.StringIO()
    assert execute("SELECT * FROM no_such_view", ch_url, "table", out, err) == 1
    assert "no_such_view" in err.getvalue()


def test_max_rows_caps_with_one_extra(ch_url: str) -> None:
    _filled(ch_url)
    assert run_guarded("SELECT * FROM otel_traces", ch_url, max_rows=3).num_rows == 4


def test_sql_table_format_prints_clickhouse_types(ch_url: str) -> None:
    _filled(ch_url)
    assert main(["derive", "--store", ch_url, "--once", "--lag", "0"]) == 0
    out, err = io.StringIO(), io.StringIO()
    sql = "SELECT name, start_time, duration_ms, attributes FROM runs ORDER BY name"
    assert execute(sql, ch_url, "table", out, err) == 0, err.getvalue()
    assert "article" in out.getvalue()
    assert "2023-11-14" in out.getvalue()


def test_ttl_days_reach_every_table_it_creates(ch_url: str) -> None:
    ch = ClickHouseStore(ch_url, ttl_days=7)
    for table in ("otel_traces", "hoptrace_span_t", "hoptrace_runs_t", "hoptrace_changes"):
        ddl = ch.query(f"SHOW CREATE TABLE {table}").column(0)[0].as_py()
        assert "toIntervalDay(7)" in ddl, table
    assert (
        "ttl_only_drop_parts = 1" in ch.query("SHOW CREATE TABLE otel_traces").column(0)[0].as_py()
    )


def test_a_chdb_store_held_by_another_process_is_a_clear_error(tmp_path) -> None:
    import subprocess
    import sys

    held = tmp_path / "held"
    code = (
        "import sys, time; from chdb import session; s = session.Session(sys.argv[1]); "
        "print('open', flush=True); time.sleep(60)"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(held)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "open"
        out, err = io.StringIO(), io.StringIO()
        assert execute("SELECT 1", f"chdb://{held}", "table", out, err) == 1
        assert "held by one process at a time" in err.getvalue()
    finally:
        child.kill()
        child.wait()
