"""The handoff graph model: one run from its bundle, many runs in one grouped query."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from collector import SpanBatch, SpanStore
from collector.queries import (
    RunFilter,
    RunNotFoundError,
    edge_handoffs,
    graph_over_runs,
    handoff_graph,
    load_run,
    resolve_run_id,
)

MS = 1_000_000
T0 = 1_768_467_600 * 10**9
OK = f"{0xA1:032x}"
FAILED = f"{0xB2:032x}"


class _Run:
    """A workflow where the planner delegates to an author, whose draft the reviewer
    gets as data and hands back (a cycle); `fail` makes the author's tool fail and
    the error propagate up to the run; `reject` makes the reviewer reject the draft."""

    def __init__(self, batch: SpanBatch, trace_id: str, base: int) -> None:
        self.batch, self.trace_id, self.base, self.n = batch, trace_id, base, 0

    def span(
        self, name: str, parent: str | None, start: int, end: int, attrs: dict[str, Any], **kw: Any
    ) -> str:
        self.n += 1
        sid = f"{int(self.trace_id[-2:], 16):08x}{self.n:08x}"
        self.batch.add(
            trace_id=self.trace_id, span_id=sid, parent_span_id=parent, name=name,
            kind="INTERNAL", start_ns=self.base + start * MS, end_ns=self.base + end * MS,
            status_code=kw.get("status", "OK"), status_message=kw.get("message"),
            attributes=attrs, events=kw.get("events", []), links=kw.get("links", []),
            resource={"service.name": "team"}, scope_name="hoptrace", scope_version="0.1",
        )  # fmt: skip
        return sid

    def agent(self, name: str, parent: str, start: int, end: int, by: str | None, **kw: Any) -> str:
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent",
            "hoptrace.kind": "agent",
            "gen_ai.agent.name": name,
            **kw.pop("attrs", {}),
        }
        if by:
            attrs["hoptrace.handoff.from_agent"] = by
            attrs["hoptrace.handoff.payload"] = json.dumps(f"work for {name}")
        return self.span(f"invoke_agent {name}", parent, start, end, attrs, **kw)


def _write(batch: SpanBatch, trace_id: str, base: int, *, fail: bool, reject: bool) -> None:
    t = _Run(batch, trace_id, base)
    origin = f"{int(trace_id[-2:], 16):08x}{5:08x}"
    err: dict[str, Any] = {}
    if fail:
        err = {
            "status": "ERROR",
            "message": "boom",
            "attrs": {
                "error.type": "ToolError",
                "hoptrace.error.role": "propagated",
                "hoptrace.error.cause_span_id": origin,
            },
        }
    wf = t.span(
        "invoke_workflow team", None, 0, 1000,
        {"gen_ai.operation.name": "invoke_workflow", "hoptrace.kind": "workflow",
         "gen_ai.workflow.name": "team", **err.get("attrs", {})},
        **{k: v for k, v in err.items() if k != "attrs"},
    )  # fmt: skip
    planner = t.agent("planner", wf, 5, 990, None, **dict(err))
    author = t.agent("author", planner, 10, 500, "planner", **dict(err))
    t.span("chat m", author, 20, 100, {"gen_ai.operation.name": "chat", "hoptrace.kind": "llm",
           "gen_ai.agent.name": "author", "gen_ai.request.model": "m",
           "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5,
           "hoptrace.cost_usd": 0.01})  # fmt: skip
    tool_attrs = {"gen_ai.operation.name": "execute_tool", "hoptrace.kind": "tool",
                  "gen_ai.tool.name": "run", "gen_ai.agent.name": "author"}  # fmt: skip
    if fail:
        t.span("execute_tool run", author, 100, 480, {**tool_attrs, "error.type": "ToolError"},
               status="ERROR", message="boom",
               events=[{"name": "exception", "time_ns": base + 470 * MS,
                        "attributes": {"exception.type": "ToolError", "exception.message": "boom"}}])  # fmt: skip
    else:
        t.span("execute_tool run", author, 100, 480, tool_attrs)
    link = {"trace_id": trace_id, "span_id": author, "attributes": {
        "hoptrace.link.type": "handoff", "hoptrace.handoff.kind": "data",
        "hoptrace.handoff.from_agent": "author", "hoptrace.handoff.payload": json.dumps("draft")}}  # fmt: skip
    events = []
    if reject:
        events.append({"name": "hoptrace.reject", "time_ns": base + 700 * MS, "attributes": {
            "hoptrace.reject.span_id": author, "hoptrace.reject.agent": "author",
            "hoptrace.reject.reason": "too short"}})  # fmt: skip
    reviewer = t.agent("reviewer", planner, 510, 980, None, links=[link], events=events)
    t.agent("author", reviewer, 600, 900, "reviewer")


@pytest.fixture
def store(db: Path) -> Path:
    batch = SpanBatch()
    _write(batch, OK, T0, fail=False, reject=True)
    _write(batch, FAILED, T0 + 10_000 * MS, fail=True, reject=False)
    s = SpanStore(db)
    try:
        s.write(batch)
    finally:
        s.close()
    return db


def edges_of(graph: Any) -> dict[tuple[str, str], Any]:
    return {(e.source, e.target): e for e in graph.edges}


def test_one_run_graph_has_agents_edges_kinds_and_the_cycle(store: Path) -> None:
    g = handoff_graph(load_run(store, OK))
    assert [n.agent for n in g.nodes] == ["author", "planner", "reviewer"]
    assert g.by_agent["author"].invocations == 2
    assert g.by_agent["author"].cost_usd == pytest.approx(0.01)
    edges = edges_of(g)
    assert set(edges) == {("planner", "author"), ("author", "reviewer"), ("reviewer", "author")}
    assert edges[("author", "reviewer")].kind == "data"
    assert edges[("reviewer", "author")].kind == "delegate"
    # the rejection crossed the review loop, in both directions; no error here
    assert edges[("author", "reviewer")].rejections == 1
    assert edges[("reviewer", "author")].rejections == 1
    assert edges[("planner", "author")].rejections == 0
    assert not any(e.errors for e in g.edges)
    assert edges[("author", "reviewer")].label == "⊘1× data"


def test_an_error_that_changed_agent_marks_the_edge_it_crossed(store: Path) -> None:
    g = handoff_graph(load_run(store, FAILED))
    edges = edges_of(g)
    assert edges[("planner", "author")].errors == 1
    assert edges[("author", "reviewer")].errors == 0
    assert g.by_agent["author"].error_count >= 1
    assert edges[("planner", "author")].label.startswith("✗")


def test_critical_path_edges_are_flagged(store: Path) -> None:
    g = handoff_graph(load_run(store, OK))
    # the reviewer's delegation back to the author ends the run's longest chain
    assert any(e.critical for e in g.edges)


def test_aggregated_graph_sums_runs_and_matches_the_per_run_graphs(store: Path) -> None:
    g = graph_over_runs(store)
    assert g.runs == 2
    assert g.trace_id is None
    edges = edges_of(g)
    assert edges[("planner", "author")].count == 2
    assert edges[("planner", "author")].runs == 2
    assert edges[("planner", "author")].errors == 1
    assert edges[("author", "reviewer")].rejections == 1
    assert g.by_agent["author"].invocations == 4
    assert g.by_agent["author"].runs == 2
    # the same crossings as the per-run graphs, added up
    per_run = [handoff_graph(load_run(store, t)) for t in (OK, FAILED)]
    for key, e in edges.items():
        assert e.errors == sum(edges_of(p)[key].errors for p in per_run if key in edges_of(p))
        assert e.count == sum(edges_of(p)[key].count for p in per_run if key in edges_of(p))


def test_aggregated_graph_follows_the_run_filter(store: Path) -> None:
    failed = graph_over_runs(store, RunFilter(status="ERROR"))
    assert failed.runs == 1
    assert edges_of(failed)[("planner", "author")].count == 1
    assert not any(e.rejections for e in failed.edges)
    nothing = graph_over_runs(store, RunFilter(text="no such run"))
    assert nothing.runs == 0
    assert nothing.nodes == ()
    assert nothing.edges == ()


def test_edge_handoffs_list_what_the_receiver_got(store: Path) -> None:
    one = edge_handoffs(store, "author", "reviewer", trace_id=OK)
    assert len(one) == 1
    assert one[0].kind == "data"
    assert "draft" in (one[0].payload_preview or "")
    assert one[0].to_span_id
    both = edge_handoffs(store, "planner", "author")
    assert {h.trace_id for h in both} == {OK, FAILED}
    assert (
        edge_handoffs(store, "planner", "author", flt=RunFilter(status="ERROR"))[0].trace_id
        == FAILED
    )


def test_run_ids_resolve_from_a_prefix(store: Path) -> None:
    assert resolve_run_id(store, FAILED[:31]) == FAILED
    assert resolve_run_id(store, OK.upper()) == OK
    with pytest.raises(RunNotFoundError, match="ambiguous"):
        resolve_run_id(store, "0000")
    with pytest.raises(RunNotFoundError, match="no run"):
        resolve_run_id(store, "ffff")


def test_agents_across_runs_per_agent_numbers(store: Path) -> None:
    from collector.queries import agent_runs, agent_series, agents_across

    stats = {s.agent: s for s in agents_across(store)}
    assert set(stats) == {"author", "planner", "reviewer"}
    author = stats["author"]
    assert author.runs == 2
    assert author.invocations == 4
    assert author.error_rate == 0.5  # it had an ERROR span in one of its two runs
    assert author.root_cause_share == 1.0  # the one failed run started in its tool
    assert author.cost_per_run == pytest.approx(0.01)
    assert author.input_tokens == 20
    assert author.p50_ms is not None
    assert author.p95_ms is not None
    assert author.p50_ms <= author.p95_ms
    assert stats["reviewer"].root_cause_share == 0.0
    by_calls = agents_across(store, sort="invocations")
    assert [s.invocations for s in by_calls] == sorted(
        (s.invocations for s in by_calls), reverse=True
    )
    worst = agent_runs(store, "author")
    assert [w.trace_id for w in worst] == [FAILED, OK]
    assert worst[0].root_cause
    series = agent_series(store, "author")
    assert len(series.start_ns) == 2
    assert list(series.start_ns) == sorted(series.start_ns)
    assert len(series.latencies_ms) == 4


def test_agents_across_follows_the_filter(store: Path) -> None:
    from collector.queries import agents_across

    ok = {s.agent: s for s in agents_across(store, RunFilter(status="OK"))}
    assert ok["author"].runs == 1
    assert ok["author"].root_cause_share is None  # no failed run in the filter
    assert ok["author"].error_rate == 0.0
