"""`runs.name` is the run's own name; `runs.root_span_name` keeps the root span's name."""

from __future__ import annotations

from pathlib import Path

import duckdb
from collector_helpers import add

import collector
from collector import SpanBatch, SpanStore
from tracer import semconv as sc

WF = "a" * 32
AGENT = "b" * 32
PLAIN = "c" * 32
TRACELOOP = "9" * 32

_EXPECTED = [
    (WF, "research", "invoke_workflow research"),
    (AGENT, "planner", "invoke_agent planner"),
    (PLAIN, "handle request", "handle request"),
    (TRACELOOP, "research", "workflow research"),
]


def _runs() -> SpanBatch:
    b = SpanBatch()
    add(b, "wf", None, "invoke_workflow research", 0, 30, trace_id=WF,
        attrs={sc.HOPTRACE_KIND: "workflow", sc.GEN_AI_OPERATION_NAME: sc.OP_WORKFLOW,
               sc.GEN_AI_WORKFLOW_NAME: "research"})  # fmt: skip
    add(b, "writer", "wf", "invoke_agent writer", 5, 20, trace_id=WF,
        attrs={sc.GEN_AI_OPERATION_NAME: sc.OP_AGENT, sc.GEN_AI_AGENT_NAME: "writer"})  # fmt: skip
    # a plain GenAI agent root (no hoptrace.kind): classified by gen_ai.operation.name
    add(b, "planner", None, "invoke_agent planner", 0, 10, trace_id=AGENT, scope="other",
        attrs={sc.GEN_AI_OPERATION_NAME: sc.OP_AGENT, sc.GEN_AI_AGENT_NAME: "planner"})  # fmt: skip
    add(b, "root", None, "handle request", 0, 10, trace_id=PLAIN, scope="other")
    add(b, "child", "root", "db query", 1, 2, trace_id=PLAIN, scope="other")
    # a Traceloop workflow root: its traceloop.workflow.name is the run name
    add(b, "tl", None, "workflow research", 0, 10, trace_id=TRACELOOP, scope="other",
        attrs={"traceloop.span.kind": "workflow", "traceloop.workflow.name": "research"})  # fmt: skip
    return b


def _names(db: Path) -> list[tuple[str, str, str]]:
    rows = collector.query("SELECT trace_id, name, root_span_name FROM runs ORDER BY name", db)
    return sorted(rows.rows(), key=lambda r: [t for t, *_ in _EXPECTED].index(r[0]))


def test_run_name_is_the_runs_own_name_and_root_span_name_is_raw(db: Path) -> None:
    SpanStore(db).write(_runs())
    assert _names(db) == _EXPECTED


def test_tui_queries_show_runs_name_as_stored(db: Path) -> None:
    from collector.queries import RunFilter, RunSort, load_run, runs_page
    from tui.layout.columns import display_name

    SpanStore(db).write(_runs())
    page = runs_page(db, RunFilter(), RunSort("name", False), 0, 10)
    assert sorted(display_name(r) for r in page) == sorted(n for _, n, _ in _EXPECTED)
    run = load_run(db, AGENT).run
    assert run is not None
    assert run.name == "planner"


def test_older_file_migrates_to_the_new_name(db: Path) -> None:
    SpanStore(db).write(_runs())
    # what an older hoptrace wrote: runs.name was the root span's name, no root_span_name
    con = duckdb.connect(str(db))
    con.execute("UPDATE hoptrace_meta SET value = '5' WHERE key = 'schema_version'")
    con.execute("DROP VIEW runs")
    con.execute("ALTER TABLE runs_t DROP COLUMN root_span_name")
    con.execute("UPDATE runs_t SET name = 'stale'")
    con.execute("CREATE VIEW runs AS SELECT trace_id, name FROM runs_t")
    con.close()
    SpanStore(db)
    assert _names(db) == _EXPECTED
    version = collector.query("SELECT value FROM hoptrace_meta WHERE key = 'schema_version'", db)
    assert version.item() == str(collector.SCHEMA_VERSION)
