"""Hostile SQL through every surface that runs user text: refused or harmless, never a write.

Surfaces: `hoptrace sql` (in-process `execute` for the whole list, a real subprocess
for a few), `collector.query`, and the TUI console's `collector.queries.sql_console`.
For every statement: the store's sha256 is unchanged, the target directory that
COPY/EXPORT/ATTACH point into stays empty, and the secret file's text (and the
secret environment variable) never come back.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from collector_helpers import add

import collector
from collector import SpanBatch, SpanStore, queries
from collector.sql import ParseError, Refused
from collector.sql._cli import execute
from collector.store import StoreError

SECRET = "TOPSECRET-7f3a9c"
ENV = "HOPTRACE_HOSTILE_SECRET"
HOPTRACE = Path(sys.executable).parent / "hoptrace"

# {s}: the secret file (a .csv, so every reader parses it), {o}: the directory that
# must stay empty, {db}: the store itself (re-attaching it read-write is an attack)
HOSTILE = [
    # file reads through every table function, and a path used as a table
    "SELECT * FROM read_text('{s}')",
    "SELECT * FROM read_blob('{s}')",
    "SELECT * FROM read_csv('{s}')",
    "SELECT * FROM read_csv_auto('{s}')",
    "SELECT * FROM read_json('{s}')",
    "SELECT * FROM read_json_auto('{s}')",
    "SELECT * FROM read_ndjson('{s}')",
    "SELECT * FROM read_parquet('{s}')",
    "SELECT * FROM parquet_scan('{s}')",
    "SELECT * FROM parquet_metadata('{s}')",
    "SELECT * FROM glob('{o}/*')",
    "SELECT * FROM glob('/etc/*')",
    "SELECT * FROM sniff_csv('{s}')",
    "SELECT * FROM '{s}'",
    "FROM '{s}'",
    'SELECT * FROM "{s}"',
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT content FROM read_text(['{s}'])",
    "SELECT (SELECT content FROM read_text('{s}')) AS x",
    "SELECT * FROM spans WHERE name IN (SELECT content FROM read_text('{s}'))",
    "SELECT * FROM sqlite_scan('{s}', 't')",
    "SELECT * FROM read_xlsx('{s}')",
    "DESCRIBE '{s}'",
    "DESCRIBE SELECT * FROM read_text('{s}')",
    "SUMMARIZE '{s}'",
    "SHOW '{s}'",
    "SELECT * FROM query('SELECT * FROM read_text(''{s}'')')",
    "SELECT * FROM query_table('{s}')",
    # the environment
    f"SELECT getenv('{ENV}')",
    f"SELECT current_setting('home_directory'), getenv('{ENV}')",
    # COPY and EXPORT / IMPORT
    "COPY spans TO '{o}/x.csv'",
    "COPY (SELECT 1) TO '{o}/x.parquet' (FORMAT parquet)",
    "COPY spans FROM '{s}'",
    "COPY FROM DATABASE hop TO memory",
    "EXPORT DATABASE '{o}/dump'",
    "IMPORT DATABASE '{o}'",
    "PRAGMA import_database('{o}')",
    # other databases
    "ATTACH '{o}/new.duckdb' AS x",
    "ATTACH '{db}' AS rw",
    "ATTACH ':memory:' AS m",
    "DETACH hop",
    "USE memory",
    "ATTACH OR REPLACE '{o}/x.duckdb' AS hop",
    # extensions
    "INSTALL httpfs",
    "LOAD httpfs",
    "FORCE INSTALL json",
    "UPDATE EXTENSIONS",
    # settings
    "SET enable_external_access = true",
    "SET GLOBAL enable_external_access = true",
    "SET lock_configuration = false",
    "SET threads = 1",
    "SET memory_limit = '1MB'",
    "SET temp_directory = '{o}'",
    "RESET enable_external_access",
    "RESET ALL",
    "SET VARIABLE x = 1",
    "PRAGMA enable_profiling",
    "PRAGMA profiling_output = '{o}/p.json'",
    "PRAGMA threads = 1",
    "PRAGMA table_info = 'spans'",
    "PRAGMA enable_checkpoint_on_shutdown",
    "SELECT set_config('threads', '1')",
    # writes
    "CREATE TABLE t (x INT)",
    "CREATE TEMP TABLE t AS SELECT * FROM read_text('{s}')",
    "CREATE VIEW v AS SELECT 1",
    "CREATE MACRO m(x) AS x",
    "CREATE SECRET s (TYPE s3)",
    "CREATE OR REPLACE VIEW runs AS SELECT 1",
    "INSERT INTO span_t SELECT * FROM span_t",
    "UPDATE span_t SET name = 'x'",
    "DELETE FROM span_t",
    "DROP VIEW runs",
    "DROP TABLE span_t",
    "ALTER TABLE span_t ADD COLUMN x INT",
    "TRUNCATE span_t",
    "MERGE INTO span_t USING span_t AS s ON false WHEN NOT MATCHED THEN DO NOTHING",
    "CHECKPOINT",
    "FORCE CHECKPOINT",
    "VACUUM",
    "ANALYZE",
    "CALL checkpoint()",
    "CALL force_checkpoint()",
    "CALL pragma_table_info('spans')",
    "SELECT * FROM checkpoint()",
    # transactions
    "BEGIN TRANSACTION",
    "COMMIT",
    "ROLLBACK",
    # comments hiding keywords, odd whitespace, unicode
    "/* SELECT */ DELETE FROM span_t",
    "-- just a note\nDROP TABLE span_t",
    "/* a */ COPY spans TO '{o}/x.csv' /* b */",
    "SELECT 1 /* ; DELETE FROM span_t */; DELETE FROM span_t",
    "\u00a0DELETE FROM span_t",
    "\tDELETE\u3000FROM span_t",
    "\ufeffDELETE FROM span_t",
    "SELECT * FROM read_text('{s}')\u200b",
    "DeLeTe FrOm span_t",
    # EXPLAIN of each kind (the inner statement is what is checked)
    "EXPLAIN SELECT * FROM read_text('{s}')",
    "EXPLAIN ANALYZE SELECT * FROM read_text('{s}')",
    "/* note */ EXPLAIN ANALYZE DELETE FROM span_t",
    "EXPLAIN /* x */ ANALYZE COPY spans TO '{o}/x.csv'",
    "EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1",
    "EXPLAIN ANALYZE INSERT INTO span_t SELECT * FROM span_t",
    "EXPLAIN (FORMAT json) DELETE FROM span_t",
    "EXPLAIN ANALYZE ATTACH '{o}/x.duckdb'",
    # CTE-wrapped writes and reads
    "WITH d AS (DELETE FROM span_t RETURNING *) SELECT count(*) FROM d",
    "WITH f AS (SELECT * FROM read_text('{s}')) SELECT * FROM f",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n FROM r, read_text('{s}')) SELECT * FROM r",
    "WITH x AS (SELECT 1) INSERT INTO span_t SELECT * FROM span_t",
    # multi-statement pastes
    "USE memory; DETACH hop; ATTACH '{db}' AS hop; DELETE FROM span_t",
    "SELECT 1; COPY spans TO '{o}/x.csv'",
    "SELECT 1; SET enable_external_access = true; SELECT * FROM read_text('{s}')",
    "SELECT 1;; DROP TABLE span_t;",
]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A real store, a secret file beside it, an empty directory for write targets."""
    root = tmp_path_factory.mktemp("hostile")
    db = root / "traces.duckdb"
    b = SpanBatch()
    add(b, "root", None, "invoke_workflow demo", 0, 42, status="OK")
    add(b, "child", "root", "chat gpt-4o-mini", 1, 40)
    SpanStore(db).write(b)
    secret = root / "secret.csv"
    secret.write_text(f"col\n{SECRET}\n")
    out = root / "out"
    out.mkdir()
    return {"db": db, "secret": secret, "out": out}


@pytest.fixture(autouse=True)
def _secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, SECRET)


@pytest.fixture
def guarded(env: dict[str, Path]) -> Iterator[dict[str, Path]]:
    """Checks, after the test, that nothing was written anywhere."""
    before = _sha(env["db"])
    yield env
    assert _sha(env["db"]) == before, "the store changed"
    assert list(env["out"].iterdir()) == [], "a file appeared in the target directory"
    assert not Path(f"{env['db']}.wal").exists(), "a WAL appeared: something wrote"


def _fill(stmt: str, env: dict[str, Path]) -> str:
    return stmt.format(s=env["secret"], o=env["out"], db=env["db"])


def _cli(sql: str, env: dict[str, Path]) -> tuple[bool, str]:
    out, err = io.StringIO(), io.StringIO()
    code = execute(sql, db=str(env["db"]), fmt="csv", out=out, err=err)
    msg = err.getvalue()
    if code == 2:  # a refusal is one line (DuckDB's own errors may add a caret line)
        assert msg.count("\n") == 1, msg
        assert msg.startswith("hoptrace sql: refused"), msg
    return code == 0, out.getvalue() + msg


def _query(sql: str, env: dict[str, Path]) -> tuple[bool, str]:
    try:
        frame = collector.query(sql, env["db"])
    except (Refused, ParseError, StoreError, duckdb.Error) as exc:
        return False, str(exc)
    return True, str(frame.rows())


def _console(sql: str, env: dict[str, Path]) -> tuple[bool, str]:
    try:
        result = queries.sql_console(env["db"], sql, 100)
    except (Refused, ParseError, StoreError, duckdb.Error) as exc:
        return False, str(exc)
    return True, str(result.rows)


SURFACES = {"cli": _cli, "query": _query, "console": _console}


def test_the_list_is_long_enough() -> None:
    assert len(HOSTILE) >= 90
    assert len(set(HOSTILE)) == len(HOSTILE)


@pytest.mark.parametrize("surface", sorted(SURFACES))
@pytest.mark.parametrize("stmt", HOSTILE)
def test_hostile_is_refused_and_writes_nothing(
    stmt: str, surface: str, guarded: dict[str, Path]
) -> None:
    ok, text = SURFACES[surface](_fill(stmt, guarded), guarded)
    assert not ok, f"ran: {text[:300]}"
    assert SECRET not in text


@pytest.mark.parametrize(
    "stmt",
    [
        "SELECT * FROM read_text('{s}')",
        "COPY spans TO '{o}/x.csv'",
        "USE memory; DETACH hop; ATTACH '{db}' AS hop; DELETE FROM span_t",
        "/* note */ EXPLAIN SELECT * FROM read_text('{s}')",
    ],
)
def test_hostile_through_a_real_subprocess(stmt: str, guarded: dict[str, Path]) -> None:
    proc = subprocess.run(
        [str(HOPTRACE), "sql", _fill(stmt, guarded), "--db", str(guarded["db"])],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, ENV: SECRET},
    )
    assert proc.returncode == 2, proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    assert proc.stderr.startswith("hoptrace sql: refused")
    assert proc.stderr.count("\n") == 1


@pytest.mark.parametrize("surface", sorted(SURFACES))
def test_refusal_text_is_the_same_on_every_surface(surface: str, env: dict[str, Path]) -> None:
    ok, text = SURFACES[surface]("DELETE FROM span_t", env)
    assert not ok
    assert "refused: DELETE writes; hoptrace SQL is read-only (SELECT only)" in text


GOOD = [
    ("/* a note */ SELECT count(*) AS n FROM spans", "2"),
    ("-- a note\nSELECT count(*) AS n FROM spans -- trailing", "2"),
    ("/* note */ EXPLAIN SELECT * FROM spans", "physical_plan"),
    ("EXPLAIN ANALYZE SELECT count(*) FROM spans", "analyzed_plan"),
    ("WITH c AS (SELECT count(*) AS n FROM spans) SELECT n FROM c", "2"),
    ("SHOW TABLES", "runs"),
    ("/* x */ DESCRIBE spans", "trace_id"),
    ("SELECT 'delete from span_t; copy' AS s", "copy"),
    ("SELECT count(*) FROM spans;", "2"),
]


@pytest.mark.parametrize("surface", sorted(SURFACES))
@pytest.mark.parametrize(("stmt", "expect"), GOOD)
def test_reads_still_work(stmt: str, expect: str, surface: str, guarded: dict[str, Path]) -> None:
    ok, text = SURFACES[surface](stmt, guarded)
    assert ok, text
    assert expect in text


def test_query_params_still_work_for_internal_callers(guarded: dict[str, Path]) -> None:
    frame = collector.query("SELECT name FROM spans WHERE start_time IS NOT NULL AND name = ?",
                            guarded["db"], ["chat gpt-4o-mini"])  # fmt: skip
    assert frame.rows() == [("chat gpt-4o-mini",)]
    named = collector.query("SELECT $n AS n", guarded["db"], {"n": 3})
    assert named.item() == 3


def test_console_caps_rows(guarded: dict[str, Path]) -> None:
    result = queries.sql_console(guarded["db"], "SELECT * FROM range(50)", 10)
    assert len(result.rows) == 10
    assert result.truncated
    assert not queries.sql_console(guarded["db"], "SELECT * FROM range(10)", 10).truncated
