"""Schema versions: an older file is migrated, a newer one refused with a clear message."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from collector_helpers import newer_schema_file

import collector
from collector import SchemaVersionError, SpanStore, StoreNotFoundError

# The v1 layout: raw OTel columns only (v2 added promoted columns such as cost_source).
_V1 = """
CREATE TABLE hoptrace_meta (key VARCHAR PRIMARY KEY, value VARCHAR);
INSERT INTO hoptrace_meta VALUES ('schema_version', '1');
CREATE TABLE span_t (trace_id VARCHAR, span_id VARCHAR, parent_span_id VARCHAR, name VARCHAR,
  kind VARCHAR, start_ns BIGINT, end_ns BIGINT, status VARCHAR, status_message VARCHAR,
  attributes JSON, events JSON, links JSON, resource JSON, scope_name VARCHAR,
  scope_version VARCHAR, pending BOOLEAN, ingested_ns BIGINT, model VARCHAR);
INSERT INTO span_t VALUES ('aa', '01', NULL, 'chat gpt-4o-mini', 'CLIENT', 0, 5000000, 'OK', NULL,
  '{"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.usage.input_tokens": 1000000, "gen_ai.usage.output_tokens": 0}',
  '[]', '[]', '{"service.name": "old"}', 'x', NULL, false, 0, 'gpt-4o-mini');
CREATE VIEW runs AS SELECT trace_id FROM span_t;
"""


def _fabricate(path: Path, sql: str) -> None:
    con = duckdb.connect(str(path))
    for stmt in sql.strip().split(";"):
        if stmt.strip():
            con.execute(stmt)
    con.close()


def test_older_version_is_migrated_on_first_write(db: Path) -> None:
    _fabricate(db, _V1)
    with pytest.raises(SchemaVersionError, match=r"version 1.*migrated the next time"):
        collector.query("SELECT * FROM runs", db)
    SpanStore(db)
    row = collector.query("SELECT name, cost_usd, cost_source, service_name FROM spans", db)
    assert row.row(0) == ("chat gpt-4o-mini", pytest.approx(0.15), "computed", "old")
    assert collector.query("SELECT count(*), sum(llm_calls) FROM runs", db).row(0) == (1, 1)
    version = collector.query("SELECT value FROM hoptrace_meta WHERE key = 'schema_version'", db)
    assert version.item() == str(collector.SCHEMA_VERSION)


def test_newer_version_is_refused_by_writer_and_reader(db: Path) -> None:
    before = newer_schema_file(db)
    with pytest.raises(SchemaVersionError, match="version 99, newer than this hoptrace"):
        SpanStore(db)
    with pytest.raises(SchemaVersionError, match="upgrade hoptrace"):
        collector.query("SELECT 1", db)
    assert db.read_bytes() == before


def test_reader_on_missing_file_is_clear_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nope.duckdb"
    with pytest.raises(StoreNotFoundError, match="no hoptrace database"):
        collector.query("SELECT * FROM runs", missing)
    assert not missing.exists()


def test_foreign_duckdb_file_is_not_mistaken_for_a_store(db: Path) -> None:
    _fabricate(db, "CREATE TABLE other (x INT)")
    with pytest.raises(SchemaVersionError, match="not a hoptrace database"):
        collector.query("SELECT * FROM other", db)
