"""The insights' maths on plain values (no DuckDB): the schedule replay, the dependency
walk, prices, and each kind on traces whose answers are worked out by hand."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.queries import (
    InsightRun,
    InsightSpan,
    ModelPrice,
    TimedSpan,
    compute_insights,
    replay,
)
from collector.queries._insights_cost import waste
from collector.queries._insights_dag import own_work, prepare
from collector.queries._insights_model import InsightHandoff, Prices
from collector.queries._insights_time import consumed, own_work_ns, parallel, what_if

MS = 1_000_000


def T(sid: str, parent: str | None, start: float, end: float) -> TimedSpan:
    return TimedSpan(sid, parent, int(start * MS), int(end * MS))


def S(sid: str, parent: str | None, start: float, end: float, **kw: object) -> InsightSpan:
    return InsightSpan(sid, parent, int(start * MS), int(end * MS), **kw)  # type: ignore[arg-type]


def lat_ms(spans: list[TimedSpan], scale: dict[str, float] | None = None, **kw: object) -> float:
    return replay(spans, scale, **kw).latency_ns / MS  # type: ignore[arg-type]


# --- the replay ------------------------------------------------------------------------


def test_replay_unchanged_gives_back_the_recorded_times() -> None:
    rng = random.Random(3)
    spans = [T("r", None, 0, 1000)]
    for i in range(60):  # a random nested tree, children inside their parents
        parent = rng.choice(spans)
        a = rng.uniform(parent.start_ns, parent.end_ns) / MS
        b = rng.uniform(a, parent.end_ns / MS)
        spans.append(T(f"s{i}", parent.span_id, a, b))
    sched = replay(spans)
    assert sched.latency_ns == 1000 * MS
    for s in spans:
        assert sched.starts[s.span_id] == pytest.approx(s.start_ns)
        assert sched.ends[s.span_id] == pytest.approx(s.end_ns)


def test_speeding_a_hop_off_the_critical_path_saves_until_another_path_is_critical() -> None:
    # root waits for two concurrent agents, then does 20 ms of its own work
    spans = [T("root", None, 0, 100), T("a", "root", 0, 60), T("b", "root", 0, 80)]
    assert lat_ms(spans, {"b": 0.5}) == 80  # b: 80 -> 40, but a (60) is now critical
    assert lat_ms(spans, {"b": 0.0}) == 80  # even free, b saves only 20 ms, not 80
    assert lat_ms(spans, {"a": 0.0}) == 100  # a was never on the critical path
    assert lat_ms(spans, {"root": 0.5}) == 90  # the root's own tail halves


def test_sequential_siblings_shift_with_their_predecessor_and_keep_the_gap() -> None:
    # a, then 10 ms of the parent's own work, then b; the parent's tail 10 ms
    spans = [T("p", None, 0, 100), T("a", "p", 0, 40), T("b", "p", 50, 90)]
    sched = replay(spans, {"a": 0.5})
    assert sched.starts["b"] / MS == 30  # 20 (a's new end) + the 10 ms gap
    assert sched.latency_ns / MS == 80
    assert lat_ms(spans, {"p": 0.0}) == 80  # the parent's gap and tail become free


def test_a_join_waits_for_every_sibling_that_ended_before_it() -> None:
    # a and b run concurrently; c starts after both; speeding only one leaves c waiting
    spans = [T("p", None, 0, 100), T("a", "p", 0, 50), T("b", "p", 0, 48), T("c", "p", 50, 100)]
    assert lat_ms(spans, {"a": 0.5}) == 98  # c now waits for b (48)
    assert lat_ms(spans, {"a": 0.5, "b": 0.5}) == 75


def test_ignoring_a_dependency_overlaps_the_two_hops() -> None:
    spans = [T("p", None, 0, 100), T("a", "p", 10, 40), T("b", "p", 45, 90), T("b1", "b", 50, 80)]
    # b no longer waits for a: p launches it 5 ms after launching a (the gap it had after a)
    assert lat_ms(spans, ignore={"b": {"a"}}) == 70
    assert lat_ms(spans, {"b1": 0.0}) == 70  # b's child free: b keeps its own 15 ms


def test_a_child_still_running_at_its_parents_end_is_not_awaited() -> None:
    spans = [T("p", None, 0, 50), T("bg", "p", 10, 200)]
    assert lat_ms(spans) == 50
    assert lat_ms(spans, {"bg": 0.0}) == 50


def test_replay_survives_cycles_orphans_and_deep_chains() -> None:
    cyc = [T("r", None, 0, 10), T("x", "y", 1, 2), T("y", "x", 1, 2)]
    assert lat_ms(cyc) == 10
    deep = [T("s0", None, 0, 10_000)]
    deep += [T(f"s{i}", f"s{i - 1}", i, 10_000 - i) for i in range(1, 5000)]
    assert lat_ms(deep) == 10_000  # no recursion limit
    assert lat_ms(deep, {"s4999": 0.0}) == 10_000 - 2
    orphan = [T("r", None, 0, 10), T("o", "missing", 0, 50)]
    assert lat_ms(orphan, root="r") == 10


def test_a_saving_never_exceeds_the_work_taken_away() -> None:
    # random nested trees, spans dealt to three agents: shortening one agent's own work
    # by x saves at most x of it, and more shortening never saves less
    rng = random.Random(11)
    for _ in range(200):
        spans = [T("r", None, 0, 1000)]
        for i in range(rng.randint(1, 25)):
            parent = rng.choice(spans)
            a = rng.uniform(parent.start_ns, parent.end_ns) / MS
            b = rng.uniform(a, parent.end_ns / MS + rng.choice([0, 0, 50]))
            spans.append(T(f"s{i}", parent.span_id, a, b))
        plan = prepare(spans)
        own = own_work(plan)
        for s in spans:
            assert own[s.span_id] <= s.end_ns - s.start_ns
        agent = {s.span_id: rng.choice("xyz") for s in spans}
        base = replay(plan).latency_ns
        for who in "xyz":
            mine = [sid for sid, a in agent.items() if a == who]
            half = base - replay(plan, dict.fromkeys(mine, 0.5)).latency_ns
            free = base - replay(plan, dict.fromkeys(mine, 0.0)).latency_ns
            assert -1e-6 <= half <= 0.5 * sum(own[m] for m in mine) + 1e-6
            assert half <= free + 1e-6


def test_own_work_is_the_parents_launch_gaps_and_tail() -> None:
    # c starts before p ends but is not awaited (ends after it)
    spans = [S("p", None, 0, 100), S("a", "p", 10, 40), S("b", "p", 30, 60), S("c", "p", 90, 120)]
    own = own_work_ns(spans)
    # 10 before a, 20 after launching a, 30 after b ended, 10 after launching c
    assert own["p"] / MS == 10 + 20 + 30 + 10
    assert own["a"] / MS == 30
    timed = [s.timed() for s in spans]
    assert lat_ms(timed, {"p": 0.0}) == 100 - 70  # only a's and b's own time is left


# Shapes real traces have (threads with skewed clocks, detached work, re-exported spans):
# the demo writes them under load. Each broke `saving <= naive` or its consequences.


def _what_if_rows(run: InsightRun, speedup: float = 0.5) -> dict[str, dict[str, float]]:
    return {i.agents[0]: dict(i.details) for i in what_if([run], speedup)}


def test_concurrent_launches_count_the_parents_gap_once() -> None:
    # the demo's orchestrator: after its model call it launches coder, then researcher
    # while coder still runs. The researcher's gap is the 10 ms after coder's launch: taken
    # from the model call's end, the 5 ms before coder's launch were the orchestrator's
    # work twice, and twice as fast it saved more than half its own work (the CI failure:
    # saving_s_p50 0.1841 > naive 0.1825)
    run = InsightRun("t", "OK", (
        S("o", None, 0, 1000, span_class="agent", agent_name="orch"),
        S("m", "o", 10, 200, span_class="llm", agent_name="orch"),
        S("c", "o", 205, 600, span_class="agent", agent_name="coder"),
        S("r", "o", 215, 990, span_class="agent", agent_name="researcher"),
    ), root_span_id="o")  # fmt: skip
    own = own_work_ns(run.spans)
    assert own["o"] / MS == 10 + 5 + 10 + 10  # before m, c, r, and the tail
    orch = _what_if_rows(run)["orch"]
    assert orch["saving_s_p50"] == pytest.approx(0.5 * (10 + 190 + 5 + 10 + 10) / 1000)
    assert orch["saving_s_p50"] <= orch["naive_saving_s_p50"]


def test_a_child_that_started_before_its_parent_keeps_its_offset_unscaled() -> None:
    # s1 started 13 ms before its parent s0 (another thread's clock): that is no one's
    # work; scaled as s0's, a faster s0 made the run longer and free saved less than 2x
    spans = [T("r", None, 0, 1000), T("s0", "r", 406, 637), T("s1", "s0", 393, 634)]
    sched = replay(spans)
    assert sched.starts["s1"] == 393 * MS
    assert sched.ends["s0"] == 637 * MS
    assert own_work(prepare(spans))["s0"] == 3 * MS  # its tail after s1 ended
    base = sched.latency_ns / MS
    assert base - lat_ms(spans, {"s0": 0.5}) == pytest.approx(1.5)
    assert base - lat_ms(spans, {"s0": 0.0}) == pytest.approx(3)


def test_a_child_launched_after_its_parent_ended_is_none_of_its_work() -> None:
    # p's own work is 10 + 60 ms of its 100; the 110 ms between c's end and the late
    # child were counted as p's too, more than its duration, inflating the naive figure
    spans = [T("w", None, 0, 300), T("p", "w", 0, 100), T("c", "p", 10, 40), T("l", "p", 150, 160)]
    assert own_work(prepare(spans))["p"] == 70 * MS
    sched = replay(spans, {"p": 0.5})
    assert sched.ends["p"] / MS == 65  # 5 + 30 + 30
    assert sched.starts["l"] / MS == 115  # keeps its 50 ms after p's end
    assert lat_ms(spans, {"p": 0.5}) == 265  # w's 200 ms tail follows p's new end


def test_a_span_id_seen_twice_is_one_span_in_the_replay_and_the_naive_figure() -> None:
    # the root id again under another parent (a re-exported span): the replay placed one
    # row while own work was read off the other, and the saving beat the naive figure
    run = InsightRun("t", "OK", (
        S("r", None, 0, 1000, span_class="agent", agent_name="a"),
        S("s0", "r", 828, 1054, span_class="tool", agent_name="b"),
        S("r", "s0", 971, 1024, span_class="agent", agent_name="a"),
    ), root_span_id="r")  # fmt: skip
    rows = _what_if_rows(run)
    assert rows["a"]["saving_s_p50"] == pytest.approx(0.5)  # its gap and tail: all 1000 ms
    assert rows["a"]["saving_s_p50"] <= rows["a"]["naive_saving_s_p50"]


@st.composite
def awkward_trees(draw: st.DrawFn) -> list[TimedSpan]:
    """A random span tree that includes every shape the replay must survive."""
    spans = [TimedSpan("r", None, 0, draw(st.integers(0, 1000)))]
    for i in range(draw(st.integers(1, 14))):
        p = spans[draw(st.integers(0, len(spans) - 1))]
        lo, hi = p.start_ns, max(p.start_ns, p.end_ns)
        shape = draw(
            st.sampled_from(
                [
                    *("inside", "inside", "before", "after", "outlives", "zero", "equal"),
                    *("orphan", "duplicate", "backwards", "self", "pending"),
                ]
            )
        )
        a = draw(st.integers(lo, hi))
        b = draw(st.integers(a, hi))
        if shape == "before":  # started before its parent (clock skew)
            a = lo - draw(st.integers(1, 60))
            b = a + draw(st.integers(0, 400))
        elif shape == "after":  # launched after its parent ended
            a = hi + draw(st.integers(0, 60))
            b = a + draw(st.integers(0, 100))
        elif shape == "outlives":  # still running at its parent's end
            b = hi + draw(st.integers(0, 100))
        elif shape == "zero":
            b = a
        elif shape == "equal":  # on the parent's or a sibling's timestamps
            a = draw(st.sampled_from([lo, hi, *(s.end_ns for s in spans)]))
            b = draw(st.sampled_from([a, hi, max(a, hi)]))
        elif shape == "backwards":
            b = a - draw(st.integers(1, 30))
        elif shape == "pending":  # resolved to the latest time seen in the run
            b = max(a, *(max(s.start_ns, s.end_ns) for s in spans))
        sid = f"s{i}"
        if shape == "duplicate":
            sid = spans[draw(st.integers(0, len(spans) - 1))].span_id
        parent = {"orphan": "gone", "self": sid}.get(shape, p.span_id)
        spans.append(TimedSpan(sid, parent, a, b))
    return spans


@settings(max_examples=300, deadline=None)
@given(awkward_trees(), st.data())
def test_a_saving_is_never_more_than_the_work_taken_away_on_awkward_trees(
    spans: list[TimedSpan], data: st.DataObject
) -> None:
    plan = prepare(spans, "r")
    own = own_work(plan)
    base = replay(plan, root="r")
    for s in plan.by_id.values():
        assert 0 <= own[s.span_id] <= s.end_ns - s.start_ns
        if s.span_id in base.starts:  # unscaled, the recorded times come back
            assert base.starts[s.span_id] == pytest.approx(s.start_ns, abs=1e-6)
            assert base.ends[s.span_id] == pytest.approx(s.end_ns, abs=1e-6)
    root = plan.by_id["r"]
    assert base.latency_ns == pytest.approx(root.end_ns - root.start_ns, abs=1e-6)
    mine = data.draw(st.sets(st.sampled_from(sorted(plan.by_id))))
    work = sum(own[m] for m in mine)
    saved = []
    for f in sorted([*data.draw(st.lists(st.floats(0, 1), min_size=1, max_size=3)), 0.0, 1.0]):
        saving = base.latency_ns - replay(plan, dict.fromkeys(mine, f), root="r").latency_ns
        assert -1e-6 <= saving <= (1 - f) * work + 1e-6
        saved.append(saving)
    # a smaller factor never saves less
    assert all(x >= y - 1e-6 for x, y in itertools.pairwise(saved))


@settings(max_examples=150, deadline=None)
@given(awkward_trees(), st.data())
def test_what_if_saving_never_beats_the_naive_figure(
    spans: list[TimedSpan], data: st.DataObject
) -> None:
    agents = data.draw(st.lists(st.sampled_from("xyz"), min_size=len(spans), max_size=len(spans)))
    run = InsightRun("t", "OK", tuple(
        S(s.span_id, s.parent_span_id, s.start_ns / MS, s.end_ns / MS, agent_name=a)
        for s, a in zip(spans, agents, strict=True)
    ), root_span_id="r")  # fmt: skip
    speedup = data.draw(st.floats(0, 1))
    for i in what_if([run], speedup):
        d = i.details
        assert 0 <= d["saving_s_p50"] <= d["naive_saving_s_p50"]
        assert d["saving_s_p50"] <= d["saving_if_free_s_p50"]


# --- what-if -----------------------------------------------------------------------------


def test_what_if_is_not_the_naive_subtraction() -> None:
    run = InsightRun("t1", "OK", (
        S("root", None, 0, 100, span_class="workflow"),
        S("ra", "root", 0, 80, span_class="agent", agent_name="researcher"),
        S("ca", "root", 0, 60, span_class="agent", agent_name="coder"),
    ), root_span_id="root")  # fmt: skip
    found = {i.agents[0]: i for i in what_if([run], 0.5)}
    assert found["researcher"].saving_s == pytest.approx(0.020)
    assert found["researcher"].details["naive_saving_s_p50"] == pytest.approx(0.040)
    assert found["researcher"].details["saving_if_free_s_p50"] == pytest.approx(0.020)
    assert found["coder"].saving_s == 0


# --- parallelisable hops -------------------------------------------------------------------


def _hops(links: list[InsightHandoff]) -> InsightRun:
    return InsightRun("t2", "OK", (
        S("p", None, 0, 100, span_class="agent", agent_name="orch"),
        S("a", "p", 0, 30, span_class="tool", agent_name="orch", name="execute_tool search"),
        S("a1", "a", 5, 25, span_class="llm", agent_name="orch"),
        S("b", "p", 30, 60, span_class="tool", agent_name="orch", name="execute_tool fetch"),
        S("x", "p", 60, 70, span_class="agent", agent_name="other"),
        S("c", "p", 70, 100, span_class="agent", agent_name="writer"),
    ), handoffs=tuple(links), root_span_id="p")  # fmt: skip


def test_consumed_follows_handoffs_directly_transitively_and_into_subtrees() -> None:
    assert not consumed(_hops([]), "a", "b")
    assert consumed(_hops([InsightHandoff("a1", "b", "data")]), "a", "b")  # from inside a
    # a -> x -> c: c consumed a's output through x
    assert consumed(
        _hops([InsightHandoff("a", "x", "data"), InsightHandoff("x", "c", "explicit")]), "a", "c"
    )
    # the parent delegating to both is not a path between them
    assert not consumed(
        _hops([InsightHandoff("p", "a", "delegate"), InsightHandoff("p", "b", "delegate")]),
        "a",
        "b",
    )
    # a's output reaching the parent does not make every later child dependent
    assert not consumed(_hops([InsightHandoff("a", "p", "data")]), "a", "b")


def test_parallel_reports_the_independent_pair_only() -> None:
    run = _hops([InsightHandoff("b", "c", "data")])  # x sits between b and c; x -> c? no
    found = {(i.details["first"], i.details["second"]): i for i in parallel([run])}
    assert ("execute_tool search", "execute_tool fetch") in found
    # fetch started 0 ms after search ended: overlapped, the run is 30 ms shorter
    assert found[("execute_tool search", "execute_tool fetch")].saving_s == pytest.approx(0.030)
    dep = _hops([InsightHandoff("a", "b", "data")])
    assert ("execute_tool search", "execute_tool fetch") not in {
        (i.details["first"], i.details["second"]) for i in parallel([dep])
    }


def test_a_pair_dependent_in_one_run_is_never_reported() -> None:
    free, dep = _hops([]), _hops([InsightHandoff("a", "b", "data")])
    dep = InsightRun("t3", dep.status, dep.spans, dep.handoffs, dep.root_span_id)
    pairs = {(i.details["first"], i.details["second"]) for i in parallel([free, dep])}
    assert ("execute_tool search", "execute_tool fetch") not in pairs


# --- prices and waste --------------------------------------------------------------------


def test_prices_resolve_spellings_and_price_cached_tokens() -> None:
    p = ModelPrice("gpt-4o", "openai", 2.5e-6, 1e-5, 1.25e-6)
    prices = Prices([p, ModelPrice("claude-x", "anthropic", 1e-6, 2e-6)], {"cx": "claude-x"})
    assert prices.resolve("openai/gpt-4o") is p
    assert prices.resolve("gpt-4o-2024-08-06") is p
    assert prices.resolve("GPT-4o") is p
    assert prices.resolve("cx") is prices.prices["claude-x"]
    assert prices.resolve("nope") is None
    assert p.cost(1000, 100, 400) == pytest.approx(400 * 1.25e-6 + 600 * 2.5e-6 + 100 * 1e-5)
    assert p.cost(None, None, None) is None


def test_waste_counts_retries_backoff_and_rejected_drafts() -> None:
    run = InsightRun("t4", "OK", (
        S("root", None, 0, 200, span_class="agent", agent_name="coder"),
        S("f1", "root", 0, 10, span_class="llm", agent_name="coder", status="ERROR",
          is_llm_call=True),
        S("bo", "root", 10, 15, span_class="span", agent_name="coder"),
        S("ok", "root", 15, 40, span_class="llm", agent_name="coder", is_llm_call=True,
          cost_usd=0.5),
        S("draft", "root", 40, 100, span_class="agent", agent_name="writer",
          error_role="rejected"),
        S("dl", "draft", 40, 100, span_class="llm", agent_name="writer", is_llm_call=True,
          cost_usd=0.25),
        S("rev", "root", 100, 200, span_class="agent", agent_name="reviewer", rejects=("draft",)),
    ), root_span_id="root")  # fmt: skip
    found = {i.details["cause"]: i for i in waste([run])}
    assert found["retry"].saving_s == pytest.approx(0.015)  # the failed call and its backoff
    assert found["retry"].details["count"] == 1
    assert found["rejected"].saving_usd == pytest.approx(0.25)
    assert found["rejected"].saving_s == pytest.approx(0.060)
    report = compute_insights([run])
    blame = [i for i in report.insights if i.kind == "blame"]
    assert blame[0].agents == ("writer",)
    assert blame[0].details["edges"] == {"writer -> reviewer (rejected)": 1}


def test_repeated_requests_within_and_across_runs() -> None:
    def run(tid: str, start: int, keys: list[str]) -> InsightRun:
        calls = tuple(
            S(f"{tid}{i}", "r", 10 * i, 10 * i + 10, span_class="llm", agent_name="a",
              is_llm_call=True, cost_usd=0.1, request_key=k, agent_span_id="r")
            for i, k in enumerate(keys)
        )  # fmt: skip
        root = S("r", None, 0, 10 * len(keys), span_class="agent", agent_name="a")
        return InsightRun(tid, "OK", (root, *calls), root_span_id="r", start_ns=start)

    runs = [run("t1", 1, ["m:x", "m:y", "m:x"]), run("t2", 2, ["m:y", "m:z"])]
    rep = {i.details["cause"]: i for i in waste(runs)}["repeat"]
    assert rep.details["count"] == 2  # the second x in t1, the y in t2
    assert rep.saving_usd == pytest.approx(0.2 / 2)
    # by agent input only, the n-th call with the same input is the same request
    agent_keyed = [run("t1", 1, ["a:i", "a:i"]), run("t2", 2, ["a:i"])]
    rep = {i.details["cause"]: i for i in waste(agent_keyed)}["repeat"]
    assert rep.details["count"] == 1  # t2's first call repeats t1's first, not its second


def test_report_ranks_by_share_of_a_run_and_validates_speedup() -> None:
    run = InsightRun("t1", "OK", (
        S("root", None, 0, 100, span_class="workflow"),
        S("ra", "root", 0, 80, span_class="agent", agent_name="researcher"),
    ), root_span_id="root", cost_usd=1.0)  # fmt: skip
    rep = compute_insights([run], speedup=0.25)
    assert rep.latency_p50_s == pytest.approx(0.1)
    top = rep.insights[0]
    assert top.kind == "what_if"
    assert top.score == pytest.approx(0.2)
    assert [i.score for i in rep.insights] == sorted((i.score for i in rep.insights), reverse=True)
    with pytest.raises(ValueError, match="between 0 and 1"):
        compute_insights([run], speedup=1.5)
    assert compute_insights([]).insights == ()
