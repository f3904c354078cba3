"""Parity: the same traces in DuckDB and in ClickHouse (chdb) give equal rows in every view."""

from __future__ import annotations

from pathlib import Path

import pytest
from parity import assert_same_views, record_demo
from test_collector_views import failed_run, recovered_run, rejected_run

from collector import SpanStore
from collector.clickhouse import ClickHouseStore, copy_from_duckdb, derive_pass


def _both(db: Path, url: str, batches: list) -> ClickHouseStore:
    duck = SpanStore(db)
    ch = ClickHouseStore(url)
    for batch in batches:
        duck.write(batch)
        ch.write(batch)
    stats = derive_pass(ch.conn, lag_s=0)
    assert stats.traces == len({t for b in batches for t in b.trace_id})
    return ch


def test_hand_built_traces_give_equal_views(db: Path, ch_url: str) -> None:
    ch = _both(db, ch_url, [failed_run(), rejected_run(), recovered_run()])
    counts = assert_same_views(db, ch)
    assert counts["runs"] == 3
    assert counts["errors"] > 0
    assert counts["handoffs"] > 0
    assert counts["llm_calls"] > 0


def test_root_cause_on_clickhouse(db: Path, ch_url: str) -> None:
    ch = _both(db, ch_url, [failed_run(), rejected_run(), recovered_run()])
    rows = ch.query(
        "SELECT name, root_cause_agent, root_cause_error FROM runs ORDER BY name"
    ).to_pylist()
    assert rows == [
        {
            "name": "article",
            "root_cause_agent": "writer",
            "root_cause_error": rows[0]["root_cause_error"],
        },
        {"name": "pipeline", "root_cause_agent": "specialist", "root_cause_error": "KeyError"},
        {"name": "w", "root_cause_agent": None, "root_cause_error": None},
    ]


def test_pending_then_finished_span(db: Path, ch_url: str) -> None:
    """A pending copy and its finished span both in otel_traces: the finished one counts."""
    from test_collector_views import _child, _final_root, _pending_root

    ch = _both(db, ch_url, [_pending_root(), _child(), _final_root()])
    assert_same_views(db, ch)
    assert ch.query("SELECT sum(pending_spans) AS p FROM runs").to_pylist() == [{"p": 0}]


@pytest.mark.slow
def test_demo_runs_give_equal_views(tmp_path: Path, ch_url: str) -> None:
    """The demo's runs, recorded into DuckDB by the tracer, copied into otel_traces."""
    db = tmp_path / "demo.duckdb"
    record_demo(db, "parity", runs=8, seed=11, fail_rate=0.9, scale=0.01, baseline=True, turns=2)
    ch = ClickHouseStore(ch_url)
    spans = copy_from_duckdb(db, ch)
    assert spans > 50
    derive_pass(ch.conn, lag_s=0)
    counts = assert_same_views(db, ch)
    assert counts["runs"] == 16
    assert counts["spans"] == spans


def _dialect_cases() -> list:
    import inspect

    import test_collector_dialects as dialects

    cases = []
    for name, fn in inspect.getmembers(dialects, inspect.isfunction):
        # the cases that build their traces from `db` (and a parametrized `mode`) alone
        if not name.startswith("test_") or set(inspect.signature(fn).parameters) - {"db", "mode"}:
            continue
        marks = getattr(fn, "pytestmark", [])
        modes = [m.args[1] for m in marks if m.name == "parametrize"]
        for mode in modes[0] if modes else [None]:
            cases.append(pytest.param(fn, mode, id=f"{name}-{mode}" if mode else name))
    return cases


@pytest.mark.parametrize(("case", "mode"), _dialect_cases())
def test_foreign_dialect_traces_give_equal_views(tmp_path: Path, ch_url: str, case, mode) -> None:
    """The dialect tests' traces (OTel GenAI, OpenInference, litellm, pydantic-ai, OpenAI
    Agents SDK, ...), as their tests wrote them into DuckDB, copied into otel_traces."""
    db = tmp_path / "dialect.duckdb"
    case(db) if mode is None else case(db, mode)
    ch = ClickHouseStore(ch_url)
    assert copy_from_duckdb(db, ch) > 0
    derive_pass(ch.conn, lag_s=0)
    assert_same_views(db, ch, lossy=True)
