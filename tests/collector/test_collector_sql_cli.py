"""`hoptrace sql`: read-only, refusals exit 2, DuckDB errors exit 1, the file never changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from collector_helpers import add

from collector import SpanBatch, SpanStore
from hoptrace._cli import main

HOPTRACE = Path(sys.executable).parent / "hoptrace"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small store shared by the module: none of these tests may change it."""
    db = tmp_path_factory.mktemp("sql") / "traces.duckdb"
    b = SpanBatch()
    add(
        b,
        "root",
        None,
        "invoke_workflow demo",
        0,
        42,
        status="OK",
        attrs={"hoptrace.kind": "workflow"},
    )
    SpanStore(db).write(b)
    return db


def _fingerprint(path: Path) -> tuple[bytes, int, bool]:
    return path.read_bytes(), path.stat().st_mtime_ns, Path(f"{path}.wal").exists()


def test_select_formats(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "sql",
                "SELECT name, status, duration_ms FROM runs",
                "--db",
                str(store),
                "--format",
                "json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out) == [
        {"name": "demo", "status": "OK", "duration_ms": 42.0}
    ]
    assert (
        main(["sql", "SELECT name, status FROM runs", "--db", str(store), "--format", "csv"]) == 0
    )
    assert capsys.readouterr().out.splitlines() == ["name,status", "demo,OK"]
    assert main(["sql", "SELECT name FROM runs", "--db", str(store)]) == 0
    assert "demo" in capsys.readouterr().out


REFUSED = [
    "INSERT INTO span_t (trace_id, span_id) VALUES ('a', 'b')",
    "UPDATE span_t SET name = 'x'",
    "DELETE FROM span_t",
    "DROP VIEW runs",
    "CREATE TABLE t AS SELECT 1",
    "ALTER TABLE span_t ADD COLUMN x INT",
    "ATTACH '/tmp/other.duckdb' AS other",
    "DETACH hop",
    "COPY span_t TO '/tmp/out.csv'",
    "EXPORT DATABASE '/tmp/exported'",
    "IMPORT DATABASE '/tmp/exported'",
    "UPDATE EXTENSIONS",
    "VACUUM",
    "RESET threads",
    "CREATE TEMP TABLE t AS SELECT 1",
    "SELECT * FROM 'https://example.com/data.csv'",
    "DESCRIBE SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM spans s, LATERAL (SELECT * FROM read_text(s.name))",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET threads = 1",
    "PRAGMA threads = 1",
    "CHECKPOINT",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_csv_auto('/etc/passwd')",
    "SELECT * FROM read_parquet('/tmp/x.parquet')",
    "SELECT * FROM read_json_auto('/tmp/x.json')",
    "SELECT * FROM parquet_scan('/tmp/x.parquet')",
    "SELECT * FROM glob('/etc/*')",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM read_blob('/etc/hostname')",
    "SELECT * FROM sniff_csv('/etc/passwd')",
    "SELECT * FROM '/etc/passwd'",
    "SELECT * FROM 'data.parquet'",
    "WITH x AS (SELECT * FROM read_csv('/etc/passwd')) SELECT * FROM x",
    "SELECT (SELECT count(*) FROM read_text('/etc/hostname'))",
    "SELECT 1; SELECT 2",
    "EXPLAIN ANALYZE DELETE FROM span_t",
]


@pytest.mark.parametrize("sql", REFUSED)
def test_refused_exit_2_and_file_untouched(
    store: Path, sql: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _fingerprint(store)
    assert main(["sql", sql, "--db", str(store)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hoptrace sql: ")
    assert "refused" in err or "one statement" in err
    assert _fingerprint(store) == before


def test_syntax_error_exit_1_with_duckdb_message(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sql", "SELEC * FROM runs", "--db", str(store)]) == 1
    assert "syntax error" in capsys.readouterr().err
    assert main(["sql", "SELECT * FROM no_such_view", "--db", str(store)]) == 1
    assert "no_such_view" in capsys.readouterr().err


def test_missing_db_is_a_clear_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "absent.duckdb"
    assert main(["sql", "SELECT * FROM runs", "--db", str(missing)]) == 1
    assert "no hoptrace database at" in capsys.readouterr().err
    assert not missing.exists()


def test_real_cli_in_a_subprocess(store: Path) -> None:
    env = {**os.environ, "HOPTRACE_DB": str(store)}
    before = _fingerprint(store)
    ok = subprocess.run([str(HOPTRACE), "sql", "SELECT count(*) AS n FROM spans", "--format", "csv"],
                        capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert (ok.returncode, ok.stdout) == (0, "n\n1\n")
    bad = subprocess.run([str(HOPTRACE), "sql", "COPY spans TO '/tmp/leak.csv'"],
                         capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert bad.returncode == 2
    assert "refused" in bad.stderr
    assert _fingerprint(store) == before
