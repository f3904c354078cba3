"""`collector.queries` and the TUI on a ClickHouse store: every query function the TUI,
`hoptrace insights` / `diff` / `graph` and MCP call gives DuckDB's answer on the same
traces (the demo's runs, recorded into DuckDB, copied into otel_traces, derived by the
worker), and the real app, driven by Pilot, browses a chdb store."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from parity import record_demo

import collector.queries as q
from collector.clickhouse import ClickHouseStore, copy_from_duckdb, derive_pass, to_clickhouse
from collector.queries import RunFilter, RunSort

sys.path.insert(0, str(Path(__file__).parent.parent / "tui"))


@dataclasses.dataclass(frozen=True)
class Stores:
    duck: Path
    url: str
    ids: dict[str, str]


@pytest.fixture(scope="module")
def duck_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    duck = tmp_path_factory.mktemp("queries") / "demo.duckdb"
    record_demo(duck, "queries", runs=6, seed=5, fail_rate=0.6, scale=0.01, baseline=True, turns=3)
    runs = q.runs_page(duck, RunFilter(), RunSort(), 0, 1000)
    failed = next(r for r in runs if r.status == "ERROR")
    ok = next(r for r in runs if r.status == "OK")
    bundle = q.load_run(duck, failed.trace_id)
    llm = next(s for s in bundle.spans if s.span_class == "llm")
    agent = next(s for s in bundle.spans if s.span_class == "agent")
    convs = q.conversations(duck)
    ids = {"failed": failed.trace_id, "cause": failed.root_cause_agent or "",
           "cause_error": failed.root_cause_error or "",
           "ok": ok.trace_id, "llm": llm.span_id,
           "agent": agent.span_id, "agent_name": agent.agent_name or "",
           "conversation": convs[0].conversation_id,
           "turn": q.conversation_turns(duck, convs[0].conversation_id)[-1].trace_id}  # fmt: skip
    return duck, ids


@pytest.fixture(scope="module", params=["chdb", "server"])
def stores(
    request: pytest.FixtureRequest,
    duck_demo: tuple[Path, dict[str, str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Stores:
    """The demo's runs in DuckDB and in ClickHouse: embedded (chdb://) and through the
    server path (clickhouse://, clickhouse-connect against the test HTTP server)."""
    duck, ids = duck_demo
    if request.param == "chdb":
        url = f"chdb://{tmp_path_factory.mktemp('queries-ch') / 'ch'}"
    else:
        server = request.getfixturevalue("ch_server")
        name = f"q_{uuid.uuid4().hex[:12]}"
        server.sql(f"CREATE DATABASE {name}")
        url = server.url(name)
    ch = ClickHouseStore(url)
    copy_from_duckdb(duck, ch)
    derive_pass(ch.conn, lag_s=0)
    return Stores(duck, url, ids)


def _norm(x: Any) -> Any:
    """Dataclasses and tuples as dicts and lists, for `_first_diff`."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return _norm({f.name: getattr(x, f.name) for f in dataclasses.fields(x)})
    if isinstance(x, dict):
        return {k: _norm(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_norm(v) for v in x]
    return x


def _first_diff(a: Any, b: Any, path: str = "", tol: float = 1e-12) -> str | None:
    """Where two normalised answers part, floats within `tol` or 1e-9 of each other alike."""
    if type(a) is not type(b):
        return f"{path}: {a!r:.300} vs {b!r:.300}"
    if isinstance(a, dict):
        for k in a.keys() | b.keys():
            d = _first_diff(a.get(k), b.get(k), f"{path}.{k}", tol)
            if d:
                return d
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items vs {len(b)}"
        for n, (x, y) in enumerate(zip(a, b, strict=True)):
            d = _first_diff(x, y, f"{path}[{n}]", tol)
            if d:
                return d
        return None
    if isinstance(a, float):  # sums differ in the last bits with the summation order
        return None if math.isclose(a, b, rel_tol=1e-9, abs_tol=tol) else f"{path}: {a} vs {b}"
    return None if a == b else f"{path}: {a!r:.300} vs {b!r:.300}"


CASES: dict[str, Callable[[Any, dict[str, str]], Any]] = {
    "runs_page": lambda db, i: q.runs_page(db, RunFilter(), RunSort(), 0, 50),
    "runs_page_every_sort": lambda db, i: [
        q.runs_page(db, RunFilter(), RunSort(key=k, descending=d), 0, 50)
        for k in q.RUN_SORT_KEYS
        for d in (True, False)
    ],
    "runs_filtered": lambda db, i: (
        q.runs_page(db, RunFilter(status="ERROR", text="coder"), RunSort(), 0, 50),
        q.runs_count(db, RunFilter(name="research")),
        q.runs_count(db, RunFilter(text="time")),
    ),
    "run_index": lambda db, i: q.run_index(db, RunFilter(), RunSort(key="cost"), i["ok"]),
    "resolve_run_id": lambda db, i: q.resolve_run_id(db, i["failed"][:8]),
    "max_ingested_ns": lambda db, i: q.max_ingested_ns(db, i["ok"]) is not None,
    "load_run": lambda db, i: dataclasses.replace(q.load_run(db, i["failed"]), ingested_ns=0),
    "span_detail": lambda db, i: q.span_detail(db, i["failed"], i["llm"]),
    "span_conversation": lambda db, i: (
        q.span_conversation(db, i["failed"], i["llm"]),
        q.span_conversation(db, i["failed"], i["agent"]),
    ),
    "agents_across": lambda db, i: [
        q.agents_across(db, sort=s, descending=d) for s in q.AGENT_SORT_KEYS for d in (True, False)
    ],
    "agent_runs": lambda db, i: q.agent_runs(db, i["agent_name"]),
    "agent_series": lambda db, i: q.agent_series(db, i["agent_name"]),
    "conversations": lambda db, i: q.conversations(db),
    "conversation_turns": lambda db, i: q.conversation_turns(db, i["conversation"]),
    "previous_turn": lambda db, i: q.previous_turn(db, i["turn"]),
    "compare_runs": lambda db, i: q.compare_runs(db, i["ok"], i["failed"]),
    "groups_compare": lambda db, i: q.groups_compare(db, "variant"),
    "graph_over_runs": lambda db, i: q.graph_over_runs(db),
    "graph_of_a_run": lambda db, i: q.handoff_graph(q.load_run(db, i["failed"])),
    "edge_handoffs": lambda db, i: q.edge_handoffs(db, "orchestrator", "researcher"),
    "insights": lambda db, i: q.insights(db, model="gpt-4o-mini"),
    "view_columns": lambda db, i: q.view_columns(db),
}


@pytest.mark.parametrize("name", list(CASES))
def test_query_gives_duckdbs_answer(stores: Stores, name: str) -> None:
    fn = CASES[name]
    on_duckdb = fn(stores.duck, stores.ids)
    assert on_duckdb not in (None, [], {}), "a case with nothing to compare proves nothing"
    assert _first_diff(_norm(on_duckdb), _norm(fn(stores.url, stores.ids))) is None


@pytest.mark.parametrize(
    "text", ["'; DROP TABLE otel_traces; --", "a\\'b", "100%_", "?", "$t", "é\x00"]
)
def test_hostile_filter_text_is_a_value(stores: Stores, text: str) -> None:
    flt = RunFilter(text=text, name=text)
    assert q.runs_count(stores.url, flt) == q.runs_count(stores.duck, flt) == 0
    assert q.runs_page(stores.url, RunFilter(), RunSort(), 0, 5)  # nothing was dropped


def test_parameters_become_literals_not_sql() -> None:
    sql = to_clickhouse("SELECT ? AS a, '?' AS b, $x AS c", {"x": "'); DROP TABLE t; --"})
    assert "DROP TABLE t; --'" in sql
    assert sql.count("'") % 2 == 0
    sql = to_clickhouse("SELECT x FROM t WHERE a = ? AND b IN (SELECT unnest(?::VARCHAR[]))",
                        ["it's", ["p", "q\\r"]])  # fmt: skip
    assert "'it\\'s'" in sql or "'it''s'" in sql
    with pytest.raises(Exception, match="placeholders"):
        to_clickhouse("SELECT ?", [1, 2])


def test_cli_commands_on_the_store_url(stores: Stores) -> None:
    from collector.queries._diff_cli import execute as diff
    from collector.queries._graph_cli import execute as graph

    out, err = io.StringIO(), io.StringIO()
    assert diff([stores.ids["ok"][:8], stores.ids["failed"][:8]], db=stores.url, fmt="json",
                group_by=None, groups=None, split_at=None, out=out, err=err) == 0, err.getvalue()  # fmt: skip
    on_duck = io.StringIO()
    diff([stores.ids["ok"][:8], stores.ids["failed"][:8]], db=str(stores.duck), fmt="json",
         group_by=None, groups=None, split_at=None, out=on_duck, err=err)  # fmt: skip
    assert _first_diff(json.loads(on_duck.getvalue()), json.loads(out.getvalue())) is None
    out = io.StringIO()
    assert graph(None, db=stores.url, fmt="mermaid", out=out, err=err) == 0, err.getvalue()
    assert "orchestrator" in out.getvalue()


async def test_the_tui_browses_a_chdb_store(stores: Stores) -> None:
    from tui_helpers import screen_text, settle

    from tui.app import HoptraceApp
    from tui.messages import OpenRun
    from tui.screens.run import RunScreen
    from tui.screens.sql import SqlScreen
    from tui.widgets.runs_list import RunsList
    from tui.widgets.waterfall import Waterfall

    app = HoptraceApp(stores.url, poll_interval=3600.0)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        runs = app.screen.query_one(RunsList)
        assert runs.count == q.runs_count(stores.duck, RunFilter())
        text = screen_text(pilot)
        assert f"{runs.count} runs" in text
        assert f"{stores.ids['cause']}: {stores.ids['cause_error']}" in text
        app.screen.post_message(OpenRun(stores.ids["failed"]))
        await settle(pilot)
        assert isinstance(app.screen, RunScreen)
        wf = app.screen.query_one(Waterfall)
        assert len(wf.rows) == len(q.load_run(stores.duck, stores.ids["failed"]).spans)
        text = screen_text(pilot)
        assert "root cause" in text.lower()
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("colon")
        await settle(pilot)
        assert isinstance(app.screen, SqlScreen)


def test_mcp_tools_answer_the_same_on_the_store_url(stores: Stores) -> None:
    from hoptrace._mcp import _Tools

    duck, ch = _Tools(stores.duck), _Tools(stores.url)
    ok, failed = stores.ids["ok"], stores.ids["failed"]
    calls: list[tuple[str, tuple[Any, ...]]] = [
        ("list_runs", ()),
        ("run_summary", (failed,)),
        ("span", (failed, stores.ids["llm"])),
        ("agents", ()),
        ("compare_runs", (ok, failed)),
        ("insights", ()),
    ]
    for name, args in calls:
        a = json.loads(getattr(duck, name)(*args))
        b = json.loads(getattr(ch, name)(*args))
        for side in (a, b):
            side.pop("ingested_ns", None)
        # MCP rounds figures to 8 decimals: a last-bit difference can round either way
        assert _first_diff(a, b, tol=2e-8) is None, name
    sql = "SELECT name, status FROM runs ORDER BY start_ns, trace_id LIMIT 3"
    assert json.loads(ch.sql(sql)) == json.loads(duck.sql(sql))


def test_console_sql_with_a_row_cap(stores: Stores) -> None:
    from collector.sql import run_guarded

    # the cap wraps the statement: a trailing comment must not swallow the wrap's bracket
    table = run_guarded("SELECT trace_id FROM runs -- newest", stores.url, max_rows=2)
    assert table.num_rows == 3  # the cap plus the one that says more exist
    # SHOW / DESCRIBE cannot be wrapped in a SELECT: they run as they are
    assert "runs" in run_guarded("SHOW TABLES", stores.url, max_rows=50).column(0).to_pylist()
    assert run_guarded("DESCRIBE TABLE runs", stores.url, max_rows=5).num_rows > 5
