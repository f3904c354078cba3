"""The ClickHouse *server* path: `clickhouse://` URLs through clickhouse-connect, end to end.

The server is `_http_server.py` (the `ch_server` fixture): ClickHouse's HTTP interface
in a subprocess, every statement executed there by the real engine (chdb). What holds
here holds for the product's server code path (Conn's clickhouse-connect branches, the
HTTP transport, settings as request parameters, credentials, errors); what the bridge
does not emulate (sessions, grants, TLS, clusters) is listed in its docstring.
"""

from __future__ import annotations

import io
import json
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from parity import WRITES, _rows, assert_same_views
from test_clickhouse_parity import _dialect_cases
from test_collector_views import failed_run, recovered_run, rejected_run

from collector import SpanBatch, SpanStore
from collector.clickhouse import (
    ClickHouseError,
    ClickHouseStore,
    connect,
    copy_from_duckdb,
    derive_pass,
    parse_url,
)
from collector.clickhouse._readonly import READONLY
from collector.schema import VIEW_NAMES
from collector.sql import Refused, run_guarded
from collector.sql._cli import execute
from hoptrace._cli import main


def _filled(url: str) -> ClickHouseStore:
    ch = ClickHouseStore(url)
    ch.write(failed_run())
    ch.write(rejected_run())
    return ch


def _database(url: str) -> str:
    return parse_url(url).database


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_url_is_a_server_target(ch_server_url: str) -> None:
    conn = connect(ch_server_url)
    assert not conn.target.embedded
    assert conn._client is not None  # clickhouse-connect's HTTP client, not a chdb session
    assert conn.rows("SELECT currentDatabase()") == [(_database(ch_server_url),)]
    conn.close()


def test_store_derive_and_views_over_the_server(ch_server_url: str) -> None:
    ch = ClickHouseStore(ch_server_url)
    assert not ch.skipped_views
    for b in (failed_run(), rejected_run(), recovered_run()):
        ch.write(b)
    stats = derive_pass(ch.conn, lag_s=0)
    assert (stats.traces, stats.spans) == (3, 12)
    rows = ch.query("SELECT name, root_cause_agent FROM runs ORDER BY name").to_pylist()
    assert rows == [
        {"name": "article", "root_cause_agent": "writer"},
        {"name": "pipeline", "root_cause_agent": "specialist"},
        {"name": "w", "root_cause_agent": None},
    ]
    # re-deriving replaces: the same rows after a second insert of the same spans
    for b in (failed_run(), rejected_run(), recovered_run()):
        ch.write(b)
    assert derive_pass(ch.conn, lag_s=0).traces == 3
    assert ch.query("SELECT count() AS n FROM spans").to_pylist() == [{"n": 12}]


def _three(url: str, batches: list[SpanBatch]) -> ClickHouseStore:
    ch = ClickHouseStore(url)
    for batch in batches:
        ch.write(batch)
    derive_pass(ch.conn, lag_s=0)
    return ch


def test_chdb_and_server_give_the_same_view_rows(db: Path, ch_url: str, ch_server_url: str) -> None:
    """The same traces via chdb:// (in this process) and via the server URL: equal views,
    and both equal to DuckDB's."""
    from test_collector_views import _child, _final_root, _pending_root

    batches = [
        failed_run(),
        rejected_run(),
        recovered_run(),
        _pending_root(),
        _child(),
        _final_root(),
    ]
    duck = SpanStore(db)
    for batch in batches:
        duck.write(batch)
    embedded = _three(ch_url, batches)
    server = _three(ch_server_url, batches)
    assert server.skipped_views == embedded.skipped_views
    for view in VIEW_NAMES:
        if view in embedded.skipped_views:
            continue
        sql = f"SELECT * FROM {view}"
        assert _rows(server.query(sql), False) == _rows(embedded.query(sql), False), view
    counts = assert_same_views(db, server)
    assert counts["runs"] == 4
    assert counts["errors"] > 0


# a few of test_clickhouse_parity's dialect cases: string-valued maps through Arrow over HTTP
# (every case runs on chdb there; the transport is what this file adds)
SOME_DIALECTS = {
    "test_openinference",
    "test_litellm_default_mode_and_failure",
    "test_openai_agents_via_otel_contrib_agent_handoff",
    "test_unmarked_errors_get_roles_and_root_cause",
}


@pytest.mark.parametrize(("case", "mode"), [c for c in _dialect_cases() if c.id in SOME_DIALECTS])
def test_foreign_dialect_traces_over_the_server(
    tmp_path: Path, ch_server_url: str, case: Any, mode: Any
) -> None:
    """The dialect tests' traces, copied from the DuckDB file they wrote into otel_traces."""
    db = tmp_path / "dialect.duckdb"
    case(db) if mode is None else case(db, mode)
    ch = ClickHouseStore(ch_server_url)
    assert copy_from_duckdb(db, ch) > 0
    derive_pass(ch.conn, lag_s=0)
    assert_same_views(db, ch, lossy=True)


def test_a_server_in_another_timezone_gives_the_same_views(
    db: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A server whose timezone is not UTC (its DateTime64 columns display in it)."""
    from _http_server import start

    server = start(tmp_path_factory.mktemp("ch-kolkata"), {"default": ""}, "Asia/Kolkata")
    try:
        assert server.sql("SELECT timezone()").strip() == "Asia/Kolkata"
        server.sql("CREATE DATABASE t")
        ch = ClickHouseStore(server.url("t"))
        duck = SpanStore(db)
        for b in (failed_run(), rejected_run(), recovered_run()):
            ch.write(b)
            duck.write(b)
        derive_pass(ch.conn, lag_s=0)
        assert assert_same_views(db, ch)["runs"] == 3
        ch.close()
    finally:
        server.stop()


def test_derive_once_then_sql_through_the_cli(
    ch_server_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _filled(ch_server_url)
    assert main(["derive", "--store", ch_server_url, "--once", "--lag", "0"]) == 0
    assert "2 trace(s), 9 span(s)" in capsys.readouterr().out
    assert main(["sql", "SELECT name, root_cause_agent FROM runs ORDER BY name",
                 "--db", ch_server_url, "--format", "json"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out) == [
        {"name": "article", "root_cause_agent": "writer"},
        {"name": "pipeline", "root_cause_agent": "specialist"},
    ]


def test_two_workers_split_the_traces_over_the_server(ch_server_url: str) -> None:
    ch = _filled(ch_server_url)
    ch.write(recovered_run())
    shares = [derive_pass(ch.conn, worker=i, workers=2, lag_s=0).traces for i in (0, 1)]
    assert sum(shares) == 3
    assert ch.query("SELECT count() AS n FROM hoptrace_versions").to_pylist() == [{"n": 3}]
    assert [derive_pass(ch.conn, worker=i, workers=2, lag_s=0).traces for i in (0, 1)] == [0, 0]


@pytest.fixture(scope="module")
def filled_url(ch_server: Any) -> Iterator[str]:
    """One filled store for the read-only tests (each checks that nothing was written)."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    ch_server.sql(f"CREATE DATABASE {name}")
    _filled(ch_server.url(name)).close()
    yield ch_server.url(name)
    ch_server.sql(f"DROP DATABASE IF EXISTS {name}")


def test_clients_in_parallel_threads_over_the_server(ch_server_url: str) -> None:
    """Connections of their own in threads (as the TUI's workers): every insert lands."""
    import threading

    ch = _filled(ch_server_url)
    one = ch.conn.arrow("SELECT * FROM otel_traces LIMIT 1")
    errors: list[Exception] = []

    def work() -> None:
        conn = connect(ch_server_url)
        try:
            for _ in range(10):
                conn.insert("otel_traces", one)
                conn.rows("SELECT count() FROM otel_traces")
        except Exception as exc:  # collected: an assertion in a thread would not fail the test
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert ch.conn.rows("SELECT count() FROM otel_traces") == [(9 + 30,)]


@pytest.mark.parametrize("sql", WRITES)
def test_sql_over_the_server_is_read_only(filled_url: str, sql: str) -> None:
    with pytest.raises(Refused):
        run_guarded(sql, filled_url)
    out, err = io.StringIO(), io.StringIO()
    assert execute(sql, filled_url, "table", out, err) == 2
    assert "refused" in err.getvalue()
    got = run_guarded("SELECT count() AS n FROM otel_traces", filled_url).to_pylist()
    assert got == [{"n": 9}]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM file('/etc/passwd', 'CSV')",
        "SELECT * FROM url('http://127.0.0.1:9/x', 'CSV')",
        "SELECT * FROM (SELECT * FROM file('/etc/passwd', 'CSV'))",
    ],
)
def test_the_server_refuses_with_readonly_as_a_request_parameter(
    ch_server: Any, filled_url: str, sql: str
) -> None:
    """Statements the lexical wall lets through: the server's readonly wall refuses them,
    and `readonly = 1` reached it as a URL parameter, not as text of the query."""
    with pytest.raises(Refused, match="READONLY"):
        run_guarded(sql, filled_url)
    mine = [r for r in ch_server.requests() if r["params"].get("database") == _database(filled_url)]
    sent = [r for r in mine if r["query"].startswith(sql)]
    assert sent
    assert all(r["params"].get("readonly") == "1" for r in sent)
    assert all("readonly" not in r["query"].lower() for r in sent)


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO otel_traces (TraceId) VALUES ('x')",
        "SELECT 1 SETTINGS readonly = 0",
        "CREATE TABLE t (a Int32) ENGINE = Memory",
        "SELECT * FROM file('/etc/passwd', 'CSV')",
    ],
)
def test_readonly_holds_at_the_server_without_the_lexical_wall(filled_url: str, sql: str) -> None:
    """Conn.arrow with READONLY settings, straight to the server: its wall alone refuses."""
    conn = connect(filled_url)
    with pytest.raises(ClickHouseError, match="READONLY"):
        conn.arrow(sql, settings=READONLY)
    assert conn.rows("SELECT count() FROM otel_traces") == [(9,)]
    assert conn.rows("EXISTS TABLE t") == [(0,)]
    conn.close()


@pytest.mark.parametrize("comment", ["-- note", "# note", "#! note"])
@pytest.mark.parametrize("engine", ["chdb", "server"])
def test_a_trailing_comment_does_not_lift_readonly(
    request: pytest.FixtureRequest, engine: str, comment: str
) -> None:
    """chdb gets `readonly = 1` as a SETTINGS clause appended to the text: a line comment
    at the end of the query once swallowed it (the file was read). A server gets it as a
    request parameter, out of the text's reach."""
    url = request.getfixturevalue("ch_url" if engine == "chdb" else "filled_url")
    with pytest.raises(Refused, match="READONLY"):
        run_guarded(f"SELECT * FROM file('/etc/hostname', 'CSV') {comment}", url)


def test_sql_errors_over_the_server_are_plain_errors(filled_url: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert execute("SELECT * FROM no_such_view", filled_url, "table", out, err) == 1
    assert "no_such_view" in err.getvalue()
    assert "UNKNOWN_TABLE" in err.getvalue()


def test_max_rows_and_table_format_over_the_server(ch_server_url: str) -> None:
    _filled(ch_server_url)
    assert run_guarded("SELECT * FROM otel_traces", ch_server_url, max_rows=3).num_rows == 4
    assert main(["derive", "--store", ch_server_url, "--once", "--lag", "0"]) == 0
    out, err = io.StringIO(), io.StringIO()
    sql = "SELECT name, start_time, duration_ms, attributes FROM runs ORDER BY name"
    assert execute(sql, ch_server_url, "table", out, err) == 0, err.getvalue()
    assert "article" in out.getvalue()
    assert "2023-11-14" in out.getvalue()


def test_credentials_from_the_url_reach_the_server(ch_server: Any, ch_server_url: str) -> None:
    database = _database(ch_server_url)
    good = ch_server.url(database, user="ann", password="s@cret")
    assert run_guarded("SELECT currentUser() AS u", good).num_rows == 1
    assert ch_server.requests()[-1]["user"] == "ann"
    bad = ch_server.url(database, user="ann", password="wrong")
    with pytest.raises(ClickHouseError) as caught:
        connect(bad)
    assert "AUTHENTICATION_FAILED" in str(caught.value)
    assert "refused the connection" in str(caught.value)  # it was reached: not "cannot reach"
    assert "wrong" not in str(caught.value)  # the password stays out of messages
    out, err = io.StringIO(), io.StringIO()
    assert execute("SELECT 1", bad, "table", out, err) == 1
    assert "Authentication failed" in err.getvalue()


def test_credentials_from_the_environment_reach_the_server(
    ch_server: Any, ch_server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLICKHOUSE_USER", "ann")
    monkeypatch.setenv("CLICKHOUSE_PASSWORD", "s@cret")
    ClickHouseStore(ch_server_url).close()
    assert {r["user"] for r in ch_server.requests()[-3:]} == {"ann"}
    monkeypatch.setenv("CLICKHOUSE_PASSWORD", "nope")
    with pytest.raises(ClickHouseError, match="AUTHENTICATION_FAILED"):
        ClickHouseStore(ch_server_url)


def test_an_unreachable_server_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"clickhouse://127.0.0.1:{_closed_port()}/default"
    with pytest.raises(ClickHouseError) as caught:
        connect(url)
    assert str(caught.value) == f"cannot reach {url}: Connection refused"
    assert main(["sql", "SELECT 1", "--db", url]) == 1
    assert "cannot reach" in capsys.readouterr().err
    assert main(["derive", "--store", url, "--once"]) == 1
    assert "cannot reach" in capsys.readouterr().err


def test_an_unreachable_server_is_one_line_from_the_command() -> None:
    """The real command, outside pytest's log capture: only hoptrace's own line on stderr
    (not also clickhouse-connect's logged warning)."""
    import subprocess
    import sys

    url = f"clickhouse://127.0.0.1:{_closed_port()}/default"
    done = subprocess.run([sys.executable, "-m", "hoptrace", "sql", "SELECT 1", "--db", url],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1
    assert done.stderr == f"hoptrace sql: cannot reach {url}: Connection refused\n"


def test_a_database_name_is_url_decoded(ch_server: Any) -> None:
    ch_server.sql("CREATE DATABASE IF NOT EXISTS `traces 2026`")
    ch = ClickHouseStore(ch_server.url("traces%202026"))
    assert ch.conn.rows("SELECT currentDatabase()") == [("traces 2026",)]
    ch.close()
