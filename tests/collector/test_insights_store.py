"""`collector.queries.insights` over real DuckDB files of hand-built traces whose answers
are worked out by hand (times in ms from the helpers' epoch)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from collector_helpers import MS, T0, add, sid

import collector
from collector import SpanBatch, SpanStore
from collector.queries import Insight, RunFilter, insights
from tracer import semconv as sc

A, B, C = "a" * 32, "b" * 32, "c" * 32


def _agent(name: str, **extra: object) -> dict[str, object]:
    return {sc.HOPTRACE_KIND: "agent", sc.GEN_AI_OPERATION_NAME: sc.OP_AGENT,
            sc.GEN_AI_AGENT_NAME: name, **extra}  # fmt: skip


def _tool(agent: str, tool: str) -> dict[str, object]:
    return {sc.HOPTRACE_KIND: "tool", sc.GEN_AI_OPERATION_NAME: sc.OP_TOOL,
            sc.GEN_AI_AGENT_NAME: agent, sc.GEN_AI_TOOL_NAME: tool}  # fmt: skip


def _chat(agent: str, model: str, tin: int, tout: int, **extra: object) -> dict[str, object]:
    return {sc.HOPTRACE_KIND: "llm", sc.GEN_AI_OPERATION_NAME: sc.OP_CHAT,
            sc.GEN_AI_AGENT_NAME: agent, sc.GEN_AI_REQUEST_MODEL: model,
            sc.GEN_AI_PROVIDER_NAME: "openai", sc.GEN_AI_USAGE_INPUT_TOKENS: tin,
            sc.GEN_AI_USAGE_OUTPUT_TOKENS: tout, **extra}  # fmt: skip


def _data_from(trace: str, span: str, agent: str) -> list[dict[str, object]]:
    return [{"trace_id": trace, "span_id": sid(span),
             "attributes": {sc.LINK_TYPE: sc.LINK_TYPE_HANDOFF, sc.HANDOFF_KIND: sc.KIND_DATA,
                            sc.HANDOFF_FROM_AGENT: agent}}]  # fmt: skip


def _store(db: Path, *batches: SpanBatch) -> Path:
    store = SpanStore(db)
    for b in batches:
        store.write(b)
    return db


def _by(found: list[Insight] | tuple[Insight, ...], kind: str) -> dict[tuple[str, ...], Insight]:
    return {i.agents: i for i in found if i.kind == kind}


def shifting_run() -> SpanBatch:
    """The critical path shifts when the researcher speeds up.

    root  invoke_workflow w      0..100
    └─ orch  invoke_agent orch   0..100   (its own tail 80..100)
       ├─ res  invoke_agent researcher 0..80  (a model call 0..80)
       └─ cod  invoke_agent coder      0..60  (a model call 0..60)
    """
    b = SpanBatch()
    add(b, "root", None, "invoke_workflow w", 0, 100, trace_id=A,
        attrs={sc.HOPTRACE_KIND: "workflow"})  # fmt: skip
    add(b, "orch", "root", "invoke_agent orch", 0, 100, trace_id=A, attrs=_agent("orch"))
    add(b, "res", "orch", "invoke_agent researcher", 0, 80, trace_id=A, attrs=_agent("researcher"))
    add(
        b,
        "resc",
        "res",
        "chat gpt-4o",
        0,
        80,
        trace_id=A,
        attrs=_chat("researcher", "gpt-4o", 1000, 500),
    )
    add(b, "cod", "orch", "invoke_agent coder", 0, 60, trace_id=A, attrs=_agent("coder"))
    add(
        b, "codc", "cod", "chat gpt-4o", 0, 60, trace_id=A, attrs=_chat("coder", "gpt-4o", 200, 100)
    )
    return b


def test_what_if_recomputes_the_critical_path_instead_of_subtracting(db: Path) -> None:
    rep = insights(_store(db, shifting_run()))
    found = _by(rep.insights, "what_if")
    res = found[("researcher",)]
    # 80 -> 40 ms, but the coder (60 ms) becomes critical: 20 ms saved, not the naive 40
    assert res.saving_s == pytest.approx(0.020, abs=1e-6)
    assert res.details["naive_saving_s_p50"] == pytest.approx(0.040, abs=1e-6)
    assert res.details["saving_if_free_s_p50"] == pytest.approx(0.020, abs=1e-6)
    assert found[("coder",)].saving_s == 0  # never on the critical path
    assert found[("orch",)].details["saving_if_free_s_p50"] == pytest.approx(0.020, abs=1e-6)
    assert res.evidence[0].trace_id == A
    assert res.evidence[0].span_ids == (sid("res"),)
    assert rep.latency_p50_s == pytest.approx(0.100)
    assert insights(db, speedup=0.25).insights  # another speedup is accepted
    deeper = _by(insights(db, speedup=1.0).insights, "what_if")[("researcher",)]
    assert deeper.saving_s == pytest.approx(0.020, abs=1e-6)


def hops_run() -> SpanBatch:
    """Two independent tools one after the other, then a writer that read the second tool's
    result and a reviewer that read the writer's draft.

    orch  invoke_agent orch  0..100
    ├─ search  execute_tool search  0..30
    ├─ fetch   execute_tool fetch  30..60     (never reads search's output)
    ├─ writer  invoke_agent writer 60..80     (data link from fetch)
    └─ review  invoke_agent reviewer 80..100  (data link from writer)
    """
    b = SpanBatch()
    add(b, "orch", None, "invoke_agent orch", 0, 100, trace_id=B, attrs=_agent("orch"))
    add(
        b, "search", "orch", "execute_tool search", 0, 30, trace_id=B, attrs=_tool("orch", "search")
    )
    add(b, "fetch", "orch", "execute_tool fetch", 30, 60, trace_id=B, attrs=_tool("orch", "fetch"))
    add(b, "writer", "orch", "invoke_agent writer", 60, 80, trace_id=B, attrs=_agent("writer"),
        links=_data_from(B, "fetch", "orch"))  # fmt: skip
    add(b, "review", "orch", "invoke_agent reviewer", 80, 100, trace_id=B,
        attrs=_agent("reviewer"), links=_data_from(B, "writer", "writer"))  # fmt: skip
    return b


def test_parallel_reports_the_independent_pair_and_never_the_dependent_ones(db: Path) -> None:
    _store(db, hops_run())
    edges = collector.query(
        "SELECT from_span_id, to_span_id, kind FROM handoffs WHERE kind = 'data'", db
    ).rows()
    assert sorted(edges) == sorted(
        [(sid("fetch"), sid("writer"), "data"), (sid("writer"), sid("review"), "data")]
    )
    found = {
        (i.details["first"], i.details["second"]): i
        for i in insights(db).insights
        if i.kind == "parallel"
    }
    assert set(found) == {("execute_tool search", "execute_tool fetch")}
    pair = found[("execute_tool search", "execute_tool fetch")]
    # fetch overlapped with search: everything after it moves 30 ms earlier
    assert pair.saving_s == pytest.approx(0.030, abs=1e-6)
    assert pair.evidence[0].span_ids == (sid("search"), sid("fetch"))


def costly_run() -> SpanBatch:
    """Retries, a rejected draft and a model request repeated in the same run.

    root  invoke_agent coder 0..200
    ├─ f1    chat gpt-4o 0..10 ERROR RateLimitError (retried)
    ├─ bo    retry backoff 10..15
    ├─ ok    chat gpt-4o 15..40 (messages M)
    ├─ draft invoke_agent writer 40..100 (rejected by the reviewer) with chat 40..100
    ├─ rev   invoke_agent reviewer 100..150, rejects the draft
    └─ again chat gpt-4o 150..200 (messages M again: a cache would serve it)
    """
    b = SpanBatch()
    msgs = json.dumps([{"role": "user", "content": "summarise the ticket"}])
    add(b, "root", None, "invoke_agent coder", 0, 200, trace_id=C, attrs=_agent("coder"))
    add(b, "f1", "root", "chat gpt-4o", 0, 10, trace_id=C, status="ERROR",
        attrs=_chat("coder", "gpt-4o", 0, 0, **{sc.ERROR_TYPE: "RateLimitError"}))  # fmt: skip
    add(b, "bo", "root", "retry backoff", 10, 15, trace_id=C)
    add(b, "ok", "root", "chat gpt-4o", 15, 40, trace_id=C,
        attrs=_chat("coder", "gpt-4o", 1000, 500, **{sc.GEN_AI_INPUT_MESSAGES: msgs}))  # fmt: skip
    add(b, "draft", "root", "invoke_agent writer", 40, 100, trace_id=C, attrs=_agent("writer"))
    add(b, "dchat", "draft", "chat gpt-4o", 40, 100, trace_id=C,
        attrs=_chat("writer", "gpt-4o", 2000, 1000))  # fmt: skip
    add(b, "rev", "root", "invoke_agent reviewer", 100, 150, trace_id=C, attrs=_agent("reviewer"),
        events=[{"name": sc.EVENT_REJECT, "time_ns": T0 + 140 * MS,
                 "attributes": {sc.REJECT_SPAN_ID: sid("draft"), sc.REJECT_AGENT: "writer",
                                sc.REJECT_REASON: "too vague"}}])  # fmt: skip
    add(b, "again", "root", "chat gpt-4o", 150, 200, trace_id=C,
        attrs=_chat("coder", "gpt-4o", 1000, 500, **{sc.GEN_AI_INPUT_MESSAGES: msgs}))  # fmt: skip
    return b


def _price(db: Path, model: str) -> tuple[float, float]:
    (row,) = collector.query(
        "SELECT input_cost_per_token, output_cost_per_token FROM model_prices WHERE model = ?",
        db, [model],
    ).rows()  # fmt: skip
    return float(row[0]), float(row[1])


def test_waste_retries_rejections_and_repeats_have_their_known_cost(db: Path) -> None:
    _store(db, costly_run())
    pin, pout = _price(db, "gpt-4o")
    rep = insights(db)
    waste = {i.details["cause"]: i for i in rep.insights if i.kind == "waste"}
    retry = waste["retry"]
    assert retry.agents == ("coder",)
    assert retry.details["count"] == 1
    assert retry.saving_s == pytest.approx(0.015, abs=1e-6)  # the failed call and the backoff
    assert retry.details["span_time_s"] == pytest.approx(0.015, abs=1e-6)
    rejected = waste["rejected"]
    assert rejected.agents == ("writer",)
    assert rejected.saving_usd == pytest.approx(2000 * pin + 1000 * pout)
    assert rejected.saving_s == pytest.approx(0.060, abs=1e-6)
    repeat = waste["repeat"]
    assert repeat.details["count"] == 1
    assert repeat.evidence[0].span_ids == (sid("again"),)
    assert repeat.saving_usd == pytest.approx(1000 * pin + 500 * pout)
    assert repeat.saving_s == pytest.approx(0.050, abs=1e-6)
    blame = _by(rep.insights, "blame")[("writer",)]
    assert blame.details["rejections"] == 1
    assert blame.details["edges"] == {"writer -> reviewer (rejected)": 1}


def test_model_swap_is_priced_from_model_prices(db: Path) -> None:
    _store(db, shifting_run())
    mini_in, mini_out = _price(db, "gpt-4o-mini")
    (cheap,) = collector.query(
        "SELECT model FROM model_prices WHERE provider = 'openai' AND mode = 'chat'"
        " AND input_cost_per_token > 0 AND output_cost_per_token > 0"
        " ORDER BY 1000 * input_cost_per_token + 500 * output_cost_per_token, model LIMIT 1",
        db,
    ).rows()[0:1]
    rep = insights(db, model="gpt-4o-mini")
    swaps = [i for i in rep.insights if i.kind == "model_swap" and i.agents == ("researcher",)]
    by_target = {i.details["target"]: i for i in swaps}
    named = by_target["gpt-4o-mini"]
    now = collector.query(
        "SELECT sum(cost_usd) FROM llm_calls WHERE agent_name = 'researcher'", db
    ).rows()[0][0]
    assert named.details["cost_per_run_now"] == pytest.approx(now)
    assert named.details["cost_per_run_swapped"] == pytest.approx(1000 * mini_in + 500 * mini_out)
    assert named.saving_usd == pytest.approx(now - (1000 * mini_in + 500 * mini_out))
    assert "ignores quality" in named.confidence
    assert cheap[0] in by_target
    assert by_target[cheap[0]].details["target_kind"] == "cheapest"
    unknown = insights(db, model="no-such-model-xyz")
    assert any("no-such-model-xyz" in n for n in unknown.notes)


def test_blame_names_the_failing_agent_and_the_edges_it_crossed(db: Path) -> None:
    b = SpanBatch()
    t = "d" * 32
    add(b, "root", None, "invoke_workflow w", 0, 50, trace_id=t, status="ERROR",
        attrs={sc.HOPTRACE_KIND: "workflow"})  # fmt: skip
    add(
        b,
        "orch",
        "root",
        "invoke_agent orch",
        0,
        50,
        trace_id=t,
        status="ERROR",
        attrs=_agent("orch"),
    )
    add(
        b,
        "cod",
        "orch",
        "invoke_agent coder",
        5,
        40,
        trace_id=t,
        status="ERROR",
        attrs=_agent("coder"),
    )
    add(b, "tool", "cod", "execute_tool run_tests", 10, 30, trace_id=t, status="ERROR",
        attrs={**_tool("coder", "run_tests"), sc.ERROR_TYPE: "SandboxError"})  # fmt: skip
    _store(db, b, shifting_run())
    rep = insights(db)
    blame = _by(rep.insights, "blame")[("coder",)]
    assert blame.details["failed_runs"] == 1
    assert blame.details["edges"] == {"coder -> orch (error)": 1}
    # the failed run's time, over the 2 runs
    assert blame.saving_s == pytest.approx(0.050 / 2, abs=1e-6)
    assert blame.evidence[0].trace_id == t
    # the status filter narrows the runs the insights rest on
    only_ok = insights(db, RunFilter(status="OK"))
    assert only_ok.runs == 1
    assert not _by(only_ok.insights, "blame")


def test_every_evidence_query_runs_and_finds_the_evidence(db: Path) -> None:
    _store(db, shifting_run(), hops_run(), costly_run())
    checked = 0
    for i in insights(db, model="gpt-4o-mini").insights:
        sql = i.details.get("sql")
        for q in [sql] if isinstance(sql, str) else sql or []:
            rows = collector.query(q, db).rows()  # through the read-only guard
            assert rows, (i.title, q)
            checked += 1
    assert checked >= 6


def test_caps_bound_what_is_read_and_say_so(db: Path) -> None:
    _store(db, shifting_run(), hops_run(), costly_run())
    rep = insights(db, max_runs=2)
    assert rep.runs == 2
    assert rep.runs_in_filter == 3
    assert any("newest 2 of 3" in n for n in rep.notes)
    assert insights(db, max_spans=1).runs == 1  # always at least one run
    with pytest.raises(ValueError, match="between 0 and 1"):
        insights(db, speedup=-0.1)
