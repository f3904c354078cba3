"""Aligning two runs: hand-built hop sequences with known answers, then real stored runs."""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any

import pytest

from collector import SpanBatch, SpanStore
from collector.queries import (
    AlignedHop,
    Hop,
    RunNotFoundError,
    RunSide,
    align_hops,
    canonical_order,
    compare_runs,
    diff_lines,
    diff_runs,
    first_divergence,
    previous_turn,
    read_run_side,
    resolve_run_id,
)
from collector.queries._compare import GAP, _needleman_wunsch, pair_cost

_ids = itertools.count(1)


def hop(agent: str, caller: str | None = "orchestrator", outcome: str = "ok", **kw: object) -> Hop:
    if agent == "orchestrator":
        caller = None
    return Hop(f"{next(_ids):016x}", agent, caller, outcome=outcome, **kw)  # type: ignore[arg-type]


def ops(steps: list[AlignedHop]) -> list[tuple[str, str]]:
    return [(s.op, (s.a or s.b).agent) for s in steps]  # type: ignore[union-attr]


def cost(steps: list[AlignedHop]) -> float:
    return sum(GAP if s.a is None or s.b is None else pair_cost(s.a, s.b) for s in steps)


def test_identical_runs_match_everywhere_and_do_not_diverge() -> None:
    names = ["orchestrator", "memory", "researcher", "analyst", "reviewer", "memory"]
    a = [hop(n, cost_usd=0.01, tokens=100, llm_calls=1) for n in names]
    b = [hop(n, cost_usd=0.01, tokens=100, llm_calls=1) for n in names]
    diff = diff_runs(RunSide("a", hops=tuple(a)), RunSide("b", hops=tuple(b)))
    assert [s.op for s in diff.steps] == ["match"] * 6
    assert [(s.a, s.b) for s in diff.steps] == list(zip(a, b, strict=True))
    assert diff.divergence is None
    assert all(d.d_cost_usd == 0 and d.d_tokens == 0 for d in diff.agents)
    assert diff.agents[1].agent == "memory"
    assert diff.agents[1].a.invocations == 2
    assert "no divergence" in "\n".join(diff_lines(diff))


def test_a_failed_attempt_then_a_retry_is_the_extra_hop() -> None:
    a = [hop("orchestrator"), hop("coder"), hop("reviewer")]
    failed = hop("coder", outcome="error", error_type="Timeout", errors=1)
    b = [hop("orchestrator"), failed, hop("coder"), hop("reviewer")]
    steps = align_hops(a, b)
    assert ops(steps) == [("match", "orchestrator"), ("extra", "coder"), ("match", "coder"),
                          ("match", "reviewer")]  # fmt: skip
    assert steps[1].b is failed
    assert steps[2].a is a[1]
    assert steps[2].b is b[2]
    div = first_divergence(steps)
    assert div is not None
    assert (div.index, div.kind, div.a, div.b) == (1, "error", None, failed)
    assert "only B ran coder" in div.text
    assert "Timeout" in div.text


def test_repeated_identical_invocations_match_in_order_and_the_surplus_comes_last() -> None:
    a = [hop("orchestrator"), hop("coder"), hop("coder")]
    b = [hop("orchestrator"), hop("coder"), hop("coder"), hop("coder")]
    steps = align_hops(a, b)
    assert [s.op for s in steps] == ["match", "match", "match", "extra"]
    assert steps[1].b is b[1]
    assert steps[2].b is b[2]
    assert steps[3].repeat
    div = first_divergence(steps)
    assert div is not None
    assert div.kind == "retry"
    assert div.b is b[3]
    assert div.text.endswith("again")


def test_a_reviewer_loop_of_another_length() -> None:
    """B's reviewer rejected the first draft; the successful rounds line up."""
    a = [hop("orchestrator"), hop("coder"), hop("reviewer"), hop("memory")]
    rejected = hop("coder", outcome="rejected")
    b = [hop("orchestrator"), rejected, hop("reviewer"), hop("coder"), hop("reviewer"),
         hop("memory")]  # fmt: skip
    steps = align_hops(a, b)
    assert ops(steps) == [
        ("match", "orchestrator"),
        ("extra", "coder"),
        ("extra", "reviewer"),
        ("match", "coder"),
        ("match", "reviewer"),
        ("match", "memory"),
    ]
    assert steps[3].b is b[3]
    assert steps[4].b is b[4]
    div = first_divergence(steps)
    assert div is not None
    assert (div.kind, div.b) == ("rejected", rejected)

    # three rounds against two: the extra round is the later rejected one, a repeat
    rej2 = hop("coder", outcome="rejected")
    c = [*b[:3], rej2, hop("reviewer"), *b[3:]]
    steps = align_hops(b, c)
    assert [s.op for s in steps].count("extra") == 2
    div = first_divergence(steps)
    assert div is not None
    assert (div.kind, div.b) == ("rejected", rej2)
    assert steps[div.index].repeat


def test_an_agent_missing() -> None:
    a = [hop("orchestrator"), hop("memory"), hop("researcher"), hop("analyst")]
    b = [hop("orchestrator"), hop("researcher"), hop("analyst")]
    steps = align_hops(a, b)
    assert ops(steps) == [("match", "orchestrator"), ("missing", "memory"),
                          ("match", "researcher"), ("match", "analyst")]  # fmt: skip
    div = first_divergence(steps)
    assert div is not None
    assert (div.index, div.kind, div.a) == (1, "missing", a[1])
    diff = diff_runs(RunSide("a", hops=tuple(a)), RunSide("b", hops=tuple(b)))
    memory = next(d for d in diff.agents if d.agent == "memory")
    assert (memory.a.invocations, memory.b.invocations) == (1, 0)


def test_a_different_failure_origin() -> None:
    """Both runs fail; the error starts in the researcher in A and in the coder in B."""
    a = [hop("orchestrator", outcome="failed"),
         hop("researcher", outcome="error", error_type="ConnectionError"), hop("coder")]  # fmt: skip
    b = [hop("orchestrator", outcome="failed"), hop("researcher"),
         hop("coder", outcome="error", error_type="Timeout")]  # fmt: skip
    steps = align_hops(a, b)
    assert [s.op for s in steps] == ["match", "changed", "changed"]
    div = first_divergence(steps)
    assert div is not None
    assert (div.index, div.kind, div.a, div.b) == (1, "error", a[1], b[1])
    assert div.text == "researcher: error started (ConnectionError) in A, ok in B"


def test_an_enclosing_agent_that_only_propagated_is_not_the_divergence() -> None:
    a = [hop("orchestrator"), hop("researcher"), hop("coder")]
    b = [hop("orchestrator", outcome="failed"), hop("researcher"),
         hop("coder", outcome="error", error_type="SandboxError")]  # fmt: skip
    div = first_divergence(align_hops(a, b))
    assert div is not None
    assert (div.index, div.kind, div.b) == (2, "error", b[2])
    # ... unless nothing else differs
    only = first_divergence(align_hops(a, [b[0], *a[1:]]))
    assert only is not None
    assert (only.index, only.kind) == (0, "outcome")


def test_another_agent_called_and_work_from_elsewhere() -> None:
    a = [hop("orchestrator"), hop("researcher"), hop("analyst")]
    b = [hop("orchestrator"), hop("coder"), hop("analyst")]
    div = first_divergence(align_hops(a, b))
    assert div is not None
    assert (div.kind, div.a, div.b) == ("agent", a[1], b[1])
    assert div.text == (
        "A ran researcher (called by orchestrator) where B ran coder (called by orchestrator)"
    )
    c = [hop("orchestrator"), hop("researcher"), hop("analyst", caller="researcher")]
    steps = align_hops(a, c)
    assert [s.op for s in steps] == ["match", "match", "changed"]
    div = first_divergence(steps)
    assert div is not None
    assert div.kind == "handoff"
    d = [hop("orchestrator"), hop("researcher"), hop("analyst", sources=("researcher",))]
    div = first_divergence(align_hops(a, d))
    assert div is not None
    assert div.kind == "handoff"
    assert "received data" in div.text


@pytest.mark.parametrize("seed", range(40))
def test_the_trimmed_alignment_is_as_cheap_as_the_full_one(seed: int) -> None:
    rng = random.Random(seed)
    agents = ["orchestrator", "coder", "reviewer", "memory"]
    outcomes = ["ok", "ok", "ok", "error", "rejected"]

    def run() -> list[Hop]:
        return [hop(rng.choice(agents), outcome=rng.choice(outcomes))
                for _ in range(rng.randint(0, 12))]  # fmt: skip

    a, b = run(), run()
    steps = align_hops(a, b)
    assert [s.a for s in steps if s.a] == a
    assert [s.b for s in steps if s.b] == b
    assert cost(steps) == pytest.approx(cost(_needleman_wunsch(a, b)))


def test_costs_are_never_missing_in_agent_deltas_when_an_agent_is_absent() -> None:
    a = [hop("orchestrator", cost_usd=0.01), hop("coder", cost_usd=0.02)]
    b = [hop("orchestrator", cost_usd=0.03), hop("coder", cost_usd=None)]
    diff = diff_runs(RunSide("a", hops=(a[0],)), RunSide("b", hops=tuple(b)))
    by = {d.agent: d for d in diff.agents}
    assert by["orchestrator"].d_cost_usd == pytest.approx(0.02)
    assert by["coder"].d_cost_usd is None  # ran in B with no known cost
    diff = diff_runs(RunSide("a", hops=tuple(a)), RunSide("b", hops=(b[0],)))
    assert {d.agent: d for d in diff.agents}["coder"].d_cost_usd == pytest.approx(-0.02)


# --- real stored runs ------------------------------------------------------------------------

MS = 1_000_000
T0 = 1_768_467_600 * 10**9
RUN_GOOD = "aa11" + "0" * 27 + "1"
RUN_BAD = "bb22" + "0" * 27 + "2"
RUN_OTHER = "aa33" + "0" * 27 + "3"
CONV = "conv-1"


def _run(batch: SpanBatch, trace_id: str, start_ms: float, *, bad: bool, conv: str | None) -> None:
    n = itertools.count(1)
    base = T0 + int(start_ms * MS)

    def span(
        name: str, parent: str | None, start: float, end: float, attrs: dict[str, Any], **kw: Any
    ) -> str:
        sid = f"{trace_id[:4]}{next(n):012x}"
        batch.add(
            trace_id=trace_id, span_id=sid, parent_span_id=parent, name=name, kind="INTERNAL",
            start_ns=base + int(start * MS), end_ns=base + int(end * MS),
            status_code=kw.get("status", "OK"), status_message=None, attributes=attrs,
            events=kw.get("events", []), links=kw.get("links", []),
            resource={"service.name": "svc"}, scope_name="hoptrace", scope_version=None,
        )  # fmt: skip
        return sid

    def agent(name: str, parent: str, start: float, end: float, by: str | None, **kw: Any) -> str:
        attrs = {"gen_ai.operation.name": "invoke_agent", "hoptrace.kind": "agent",
                 "gen_ai.agent.name": name, "hoptrace.input": kw.pop("input", None)}  # fmt: skip
        if kw.get("output"):
            attrs["hoptrace.output"] = kw.pop("output")
        if by:
            attrs |= {"hoptrace.handoff.from_agent": "orchestrator",
                      "hoptrace.handoff.from_span_id": by}  # fmt: skip
        attrs |= kw.pop("attrs", {})
        return span(f"invoke_agent {name}", parent, start, end, attrs, **kw)

    def chat(who: tuple[str, str], start: float, end: float, tokens: int, **kw: Any) -> str:
        attrs = {"gen_ai.operation.name": "chat", "hoptrace.kind": "llm",
                 "gen_ai.agent.name": who[0], "hoptrace.agent.span_id": who[1],
                 "gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": tokens,
                 "gen_ai.usage.output_tokens": 0, "hoptrace.cost_usd": tokens * 2e-6}  # fmt: skip
        attrs |= kw.pop("attrs", {})
        return span("chat gpt-4o-mini", who[1], start, end, attrs, **kw)

    err = {"error.type": "SandboxError"}
    wf_attrs = {"gen_ai.operation.name": "invoke_workflow", "hoptrace.kind": "workflow",
                "gen_ai.workflow.name": "team"}  # fmt: skip
    if conv:
        wf_attrs["gen_ai.conversation.id"] = conv
    status = "ERROR" if bad else "OK"
    wf = span("invoke_workflow team", None, 0, 3000, wf_attrs | (err if bad else {}), status=status)
    orch = agent("orchestrator", wf, 1, 2999, None, status=status, attrs=err if bad else {})
    chat(("orchestrator", orch), 2, 100, 500)
    res = agent("researcher", orch, 100, 1000, orch, input='{"q": "find"}', output='"notes"')
    chat(("researcher", res), 110, 990, 1000)
    link = {"trace_id": trace_id, "span_id": res, "attributes": {
        "hoptrace.link.type": "handoff", "hoptrace.handoff.kind": "data",
        "hoptrace.handoff.from_agent": "researcher", "hoptrace.handoff.argument": "notes"}}  # fmt: skip
    if bad:
        coder = agent("coder", orch, 1000, 2000, orch, input='{"task": "code it"}',
                      links=[link], status="ERROR", attrs=err)  # fmt: skip
        chat(("coder", coder), 1010, 1500, 1500)
        span("execute_tool run_tests", coder, 1500, 1990,
             {"gen_ai.operation.name": "execute_tool", "hoptrace.kind": "tool",
              "gen_ai.tool.name": "run_tests", "gen_ai.agent.name": "coder",
              "hoptrace.agent.span_id": coder} | err, status="ERROR")  # fmt: skip
    else:
        coder = agent("coder", orch, 1000, 2500, orch, input='{"task": "code it"}',
                      output='{"code": "def f(): ..."}', links=[link])  # fmt: skip
        chat(("coder", coder), 1010, 2400, 1500,
             attrs={"hoptrace.input": "write f", "hoptrace.output": "def f(): ..."})  # fmt: skip


def build_store(path: Path) -> Path:
    batch = SpanBatch()
    _run(batch, RUN_GOOD, 0, bad=False, conv=CONV)
    _run(batch, RUN_BAD, 10_000, bad=True, conv=CONV)
    _run(batch, RUN_OTHER, 20_000, bad=False, conv=None)
    SpanStore(path).write(batch)  # nothing stays open between writes
    return path


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return build_store(tmp_path / "compare.duckdb")


def test_stored_runs_give_hops_with_callers_sources_outcomes_and_costs(store: Path) -> None:
    side = read_run_side(store, RUN_BAD)
    assert [(h.agent, h.caller, h.sources, h.outcome) for h in side.hops] == [
        ("orchestrator", None, (), "failed"),
        ("researcher", "orchestrator", (), "ok"),
        ("coder", "orchestrator", ("researcher",), "error"),
    ]
    coder = side.hops[2]
    assert coder.error_type == "SandboxError"
    assert coder.llm_calls == 1
    assert coder.tokens == 1500
    assert coder.cost_usd == pytest.approx(0.003)
    assert coder.errors == 2  # its own span and its failing tool
    assert side.status == "ERROR"
    assert side.root_cause_agent == "coder"


def test_compare_stored_good_and_bad_run(store: Path) -> None:
    diff = compare_runs(store, RUN_GOOD, RUN_BAD)
    div = diff.divergence
    assert div is not None
    assert (div.kind, div.a and div.a.agent, div.b and div.b.agent) == ("error", "coder", "coder")
    assert div.a is not None
    assert div.b is not None
    assert div.a.input_preview == '{"task": "code it"}'
    assert div.a.output_preview == '{"code": "def f(): ..."}'
    assert div.b.output_preview is None  # it failed before answering
    assert div.a.messages == (("gpt-4o-mini", "write f", "def f(): ..."),)
    by = {d.agent: d for d in diff.agents}
    assert by["coder"].d_errors == 2
    assert by["coder"].d_duration_ms == pytest.approx(-500)
    assert diff.a.critical_path == ("orchestrator", "researcher", "coder")
    text = "\n".join(diff_lines(diff))
    assert (
        "first divergence at hop 3 [error]: coder: ok in A, error started (SandboxError) in B"
        in text
    )


def test_run_ids_resolve_by_prefix_and_the_previous_turn_is_found(store: Path) -> None:
    assert resolve_run_id(store, RUN_BAD[:6]) == RUN_BAD
    assert resolve_run_id(store, RUN_BAD.upper()) == RUN_BAD
    with pytest.raises(RunNotFoundError, match="ambiguous"):
        resolve_run_id(store, "aa")
    with pytest.raises(RunNotFoundError, match="no run"):
        resolve_run_id(store, "ffff")
    with pytest.raises(RunNotFoundError):
        read_run_side(store, "f" * 32)
    assert previous_turn(store, RUN_BAD) == RUN_GOOD
    assert previous_turn(store, RUN_GOOD) is None
    assert previous_turn(store, RUN_OTHER) is None


def test_parallel_siblings_get_a_stable_order_and_nested_hops_follow_their_parent() -> None:
    def h(agent: str, start: float, dur: float | None, parent: str | None, sid: str) -> Hop:
        return Hop(sid, agent, "orchestrator", start_ms=start, duration_ms=dur, parent_hop=parent)

    orch = Hop("o", "orchestrator", start_ms=0, duration_ms=1000)
    # A: coder started 1 ms before the researcher; B: the other way round
    a = [orch, h("coder", 10, 500, "o", "c"), h("researcher", 11, 300, "o", "r"),
         h("memory", 12, 5, "c", "m"), h("analyst", 320, 100, "o", "n")]  # fmt: skip
    b = [orch, h("researcher", 10, 300, "o", "r"), h("coder", 11, 500, "o", "c"),
         h("memory", 15, 5, "c", "m"), h("analyst", 330, 100, "o", "n")]  # fmt: skip
    # the memory hop ran inside the coder; the analyst started after the researcher ended
    expected = ["orchestrator", "coder", "memory", "researcher", "analyst"]
    assert [x.agent for x in canonical_order(a)] == expected
    assert [x.agent for x in canonical_order(b)] == expected
    steps = align_hops(canonical_order(a), canonical_order(b))
    assert first_divergence(steps) is None
    # without the canonical order the same runs would seem to diverge
    assert first_divergence(align_hops(a, b)) is not None
    # a running sibling never ends: everything after it that started is in its wave
    c = [orch, h("researcher", 10, None, "o", "r"), h("coder", 20, 5, "o", "c"),
         h("analyst", 30, 5, "o", "n")]  # fmt: skip
    assert [x.agent for x in canonical_order(c)] == ["orchestrator", "coder", "researcher",
                                                     "analyst"]  # fmt: skip
