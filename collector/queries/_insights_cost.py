"""Cost and failure insights: model swap, waste, blame hot spots (pure, no DuckDB)."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Sequence

from collector.queries._insights_dag import latency_ns, prepare
from collector.queries._insights_model import (
    Insight,
    InsightEvidence,
    InsightRun,
    InsightSpan,
    ModelPrice,
    Prices,
)
from collector.queries._insights_time import MAX_EVIDENCE, MAX_SPANS_SHOWN, NS, _below, _runs_note

Call = tuple[str, InsightSpan, ModelPrice]  # trace_id, the call, its resolved price


def _calls(runs: Sequence[InsightRun], prices: Prices) -> dict[str, list[Call]]:
    out: dict[str, list[Call]] = defaultdict(list)
    for run in runs:
        for s in run.spans:
            if s.is_llm_call and s.agent_name and s.cost_usd is not None:
                price = prices.resolve(s.model, s.provider)
                if price is not None:
                    out[s.agent_name].append((run.trace_id, s, price))
    return out


def _priced(calls: list[Call], target: ModelPrice) -> tuple[float, float, int]:
    """(cost now, cost on target) over the calls both can price, and how many those are."""
    now = swapped = 0.0
    n = 0
    for _, s, _p in calls:
        c = target.cost(s.input_tokens, s.output_tokens, s.cache_read_tokens)
        if c is not None and s.cost_usd is not None:
            now, swapped, n = now + s.cost_usd, swapped + c, n + 1
    return now, swapped, n


def model_swap(runs: Sequence[InsightRun], prices: Prices, named: str | None) -> list[Insight]:
    """Per agent: its cost per run on the cheapest model of its provider, and on `named`."""
    target_named = prices.resolve(named) if named else None
    out: list[Insight] = []
    for agent, calls in _calls(runs, prices).items():
        nruns = len({c[0] for c in calls})
        by_provider: dict[str, list[Call]] = defaultdict(list)
        for c in calls:
            by_provider[c[2].provider or "?"].append(c)
        targets: list[tuple[str, list[Call], ModelPrice]] = []
        for provider, group in by_provider.items():
            cands = prices.chat_models(provider)
            if not cands:
                continue
            cheapest = min(cands, key=lambda p: (_priced(group, p)[1], p.model))
            if all(c[2].model == cheapest.model for c in group):
                continue  # already on it
            targets.append(("cheapest", group, cheapest))
        if target_named is not None and any(c[2].model != target_named.model for c in calls):
            targets.append(("named", calls, target_named))
        for which, group, target in targets:
            now, swapped, n = _priced(group, target)
            if n == 0:
                continue
            current = sorted({c[2].model for c in group})
            saving = (now - swapped) / nruns
            ev: dict[str, list[str]] = defaultdict(list)
            for trace_id, s, _p in group:
                ev[trace_id].append(s.span_id)
            where = (
                f"the cheapest {target.provider} chat model"
                if which == "cheapest"
                else "the model you named"
            )
            out.append(
                Insight(
                    kind="model_swap",
                    title=f"{agent} on {target.model} instead of {', '.join(current)}: "
                    f"${now / nruns:.5f} -> ${swapped / nruns:.5f} per run",
                    agents=(agent,),
                    saving_s=None,
                    saving_usd=saving,
                    runs=nruns,
                    evidence=_evidence(ev),
                    how=(
                        f"the input / output / cached tokens of {agent}'s {n} priced model calls, "
                        f"priced on {target.model} ({where}) from model_prices "
                        f"(${(target.input or 0) * 1e6:.3f} / ${(target.output or 0) * 1e6:.3f} per 1M "
                        f"tokens in / out), against their recorded cost; per run over {nruns} runs"
                    ),
                    confidence="an estimate that ignores quality: the same tokens on another model "
                    "(a weaker model may need more retries, longer answers or fail review)",
                    details={
                        "sql": [
                            "SELECT trace_id, span_id, model, input_tokens, output_tokens,"
                            " cache_read_tokens, cost_usd FROM spans WHERE is_llm_call"
                            f" AND agent_name = {_lit(agent)} AND cost_usd IS NOT NULL",
                            f"SELECT * FROM model_prices WHERE model = {_lit(target.model)}",
                        ],
                        "target": target.model,
                        "target_kind": which,
                        "current_models": current,
                        "cost_per_run_now": round(now / nruns, 8),
                        "cost_per_run_swapped": round(swapped / nruns, 8),
                        "calls": n,
                    },
                )
            )
    return out


def _evidence(
    per_run: dict[str, list[str]], savings: dict[str, float] | None = None
) -> tuple[InsightEvidence, ...]:
    order = sorted(per_run, key=lambda t: (-(savings or {}).get(t, 0.0), -len(per_run[t]), t))
    return tuple(
        InsightEvidence(t, tuple(per_run[t][:MAX_SPANS_SHOWN]), (savings or {}).get(t))
        for t in order[:MAX_EVIDENCE]
    )


def _retried(run: InsightRun) -> list[InsightSpan]:
    """Failed model calls that a later call of the same parent retried, and the plain
    spans (backoff sleeps) between them."""
    kids: dict[str | None, list[InsightSpan]] = defaultdict(list)
    for s in run.spans:
        kids[s.parent_span_id].append(s)
    out: list[InsightSpan] = []
    for group in kids.values():
        group.sort(key=lambda s: (s.start_ns, s.span_id))
        calls = [s for s in group if s.span_class == "llm"]
        for i, c in enumerate(calls[:-1]):
            if c.status != "ERROR":
                continue
            nxt = calls[i + 1]
            out.append(c)
            out += [
                s
                for s in group
                if s.span_class in (None, "span")
                and c.end_ns <= s.start_ns
                and s.end_ns <= nxt.start_ns
            ]
    return out


def _repeats(runs: Sequence[InsightRun]) -> dict[str, list[InsightSpan]]:
    """Per trace: successful model calls whose request was already made (earlier in the run,
    or in an earlier run): a cache would have served them."""
    seen: set[str] = set()
    out: dict[str, list[InsightSpan]] = defaultdict(list)
    for run in sorted(runs, key=lambda r: (r.start_ns, r.trace_id)):
        nth: Counter[str] = Counter()
        for s in sorted(run.spans, key=lambda s: (s.start_ns, s.span_id)):
            if not s.is_llm_call or s.status == "ERROR" or not s.request_key:
                continue
            key = s.request_key
            if key.startswith("a:"):
                # only the agent's input is known: the n-th call of an invocation with the
                # same input and model is taken for the same request
                nth[f"{s.agent_span_id}|{key}"] += 1
                key = f"{key}#{nth[f'{s.agent_span_id}|{key}']}"
            if key in seen:
                out[run.trace_id].append(s)
            seen.add(key)
    return out


_WASTE = {
    "retry": (
        "failed and retried model calls",
        "the failed calls and the backoff spans before their retry",
        "backoff is needed while a provider rate-limits; the saving is what fewer failures "
        "(a fallback model, a client-side limiter) would give back",
    ),
    "rejected": (
        "drafts a reviewer rejected",
        "the rejected spans and everything under them",
        "a rejected draft still told the reviewer what to ask for; the reviewer's own pass "
        "over it is not counted",
    ),
    "repeat": (
        "identical model requests repeated",
        "model calls whose model and request (messages when recorded, else the agent's "
        "captured input and the call's position) were already seen in the run or an earlier one",
        "a cache hit is taken as free; requests compared by the agent's input may differ in "
        "what the agent added to the prompt",
    ),
}


_WASTE_SQL = {
    "retry": "SELECT trace_id, span_id, error_type, duration_ms FROM llm_calls"
    " WHERE agent_name = {agent} AND status = 'ERROR'",
    "rejected": "SELECT trace_id, span_id, error_message FROM errors"
    " WHERE role = 'rejected' AND agent_name = {agent}",
    "repeat": "SELECT trace_id, span_id, model, input_preview FROM spans"
    " WHERE is_llm_call AND agent_name = {agent} ORDER BY start_ns",
}
"""The rows each kind of waste rests on (the runs filter is not applied in them)."""


def _lit(text: str) -> str:
    """A SQL string literal (the evidence queries are shown to people and run as-is)."""
    return "'" + text.replace("'", "''") + "'"


def _is_llm(s: InsightSpan) -> bool:
    return s.span_class == "llm"


def waste(runs: Sequence[InsightRun]) -> list[Insight]:
    """Time and money spent on retried failures, rejected drafts and repeated requests."""
    n = len(runs)
    wasted: dict[tuple[str, str], dict[str, list[InsightSpan]]] = defaultdict(
        lambda: defaultdict(list)
    )
    repeats = _repeats(runs)
    for run in runs:
        by_id = {s.span_id: s for s in run.spans}
        kids: dict[str, list[str]] = defaultdict(list)
        for s in run.spans:
            if s.parent_span_id:
                kids[s.parent_span_id].append(s.span_id)
        for s in _retried(run):
            wasted[("retry", s.agent_name or "?")][run.trace_id].append(s)
        for s in run.spans:
            if s.error_role == "rejected":
                sub = [by_id[x] for x in sorted(_below(kids, s.span_id)) if x in by_id]
                wasted[("rejected", s.agent_name or "?")][run.trace_id] += [s] + [
                    x for x in sub if x is not s
                ]
        for s in repeats.get(run.trace_id, []):
            wasted[("repeat", s.agent_name or "?")][run.trace_id].append(s)
    by_trace = {r.trace_id: r for r in runs}
    out: list[Insight] = []
    for (cause, agent), per_run in wasted.items():
        what, counted, note = _WASTE[cause]
        secs: dict[str, float] = {}
        spent_s = usd = 0.0
        for trace_id, spans in per_run.items():
            run = by_trace[trace_id]
            timed = prepare([s.timed() for s in run.spans], run.root_span_id)
            base = latency_ns(timed, root=run.root_span_id)
            new = latency_ns(timed, {s.span_id: 0.0 for s in spans}, root=run.root_span_id)
            secs[trace_id] = (base - new) / NS
            # a rejected draft's span covers its children: count it, not them again
            heads = [s for s in spans if cause != "rejected" or s.error_role == "rejected"]
            spent_s += sum(s.end_ns - s.start_ns for s in heads) / NS
            usd += sum(s.cost_usd or 0.0 for s in spans if s.is_llm_call)
        saving_s = sum(secs.values()) / n
        head = (lambda s: s.error_role == "rejected") if cause == "rejected" else _is_llm
        heads_n = sum(1 for spans in per_run.values() for s in spans if head(s))
        out.append(
            Insight(
                kind="waste",
                title=f"{what} in {agent}: {saving_s:.3f} s and ${usd / n:.5f} per run",
                agents=(agent,),
                saving_s=saving_s,
                saving_usd=usd / n,
                runs=len(per_run),
                evidence=_evidence({t: [s.span_id for s in v] for t, v in per_run.items()}, secs),
                how=(
                    f"{counted}: {heads_n} in {len(per_run)} of {n} runs, {spent_s:.3f} s of span "
                    f"time and ${usd:.5f} of model calls in all; the latency saving replays each "
                    "run with those spans taking no time; both averaged over every run"
                ),
                confidence=_runs_note(len(per_run)) + "; " + note,
                details={
                    "sql": _WASTE_SQL[cause].format(agent=_lit(agent)),
                    "cause": cause,
                    "count": heads_n,
                    "span_time_s": round(spent_s, 4),
                    "cost_usd_total": round(usd, 8),
                },
            )
        )
    return out


def _error_edges(run: InsightRun) -> list[tuple[str, str]]:
    """The agent-to-agent edges a run's error crossed from its origin up to the root."""
    by_id = {s.span_id: s for s in run.spans}
    cur = by_id.get(run.root_cause_span_id or "")
    path: list[str] = []
    seen: set[str] = set()
    while cur is not None and cur.span_id not in seen:
        seen.add(cur.span_id)
        if cur.agent_name and (not path or path[-1] != cur.agent_name):
            path.append(cur.agent_name)
        cur = by_id.get(cur.parent_span_id or "")
    return list(itertools.pairwise(path))


def blame(runs: Sequence[InsightRun]) -> list[Insight]:
    """Agents whose outputs are rejected or whose errors start failed runs, and the edges."""
    n = len(runs)
    failed: dict[str, list[InsightRun]] = defaultdict(list)
    rejected: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    edges: dict[str, Counter[str]] = defaultdict(Counter)
    draft_usd: dict[str, float] = defaultdict(float)
    for run in runs:
        by_id = {s.span_id: s for s in run.spans}
        kids: dict[str, list[str]] = defaultdict(list)
        for s in run.spans:
            if s.parent_span_id:
                kids[s.parent_span_id].append(s.span_id)
        if run.status == "ERROR" and run.root_cause_agent:
            failed[run.root_cause_agent].append(run)
            for a, b in _error_edges(run):
                edges[run.root_cause_agent][f"{a} -> {b} (error)"] += 1
        for s in run.spans:
            for target in s.rejects:
                t = by_id.get(target)
                if t is None or not t.agent_name:
                    continue
                rejected[t.agent_name][run.trace_id].append(t.span_id)
                edges[t.agent_name][f"{t.agent_name} -> {s.agent_name or '?'} (rejected)"] += 1
                draft_usd[t.agent_name] += sum(
                    by_id[x].cost_usd or 0.0
                    for x in _below(kids, t.span_id)
                    if x in by_id and by_id[x].is_llm_call
                )
    out: list[Insight] = []
    for agent in sorted(set(failed) | set(rejected)):
        fails, rejs = failed.get(agent, []), rejected.get(agent, {})
        nrej = sum(len(v) for v in rejs.values())
        lost_s = (
            sum(latency_ns([s.timed() for s in r.spans], root=r.root_span_id) for r in fails) / NS
        )
        lost_usd = sum(r.cost_usd or 0.0 for r in fails) + draft_usd[agent]
        ev: dict[str, list[str]] = defaultdict(list)
        for r in fails:
            ev[r.trace_id].append(r.root_cause_span_id or "")
        for trace_id, sids in rejs.items():
            ev[trace_id] += sids
        crossed = ", ".join(f"{e} x{c}" for e, c in edges[agent].most_common(5))
        out.append(
            Insight(
                kind="blame",
                title=f"{agent}: started {len(fails)} failed run(s), {nrej} output(s) rejected",
                agents=(agent,),
                saving_s=lost_s / n,
                saving_usd=lost_usd / n,
                runs=len(ev),
                evidence=_evidence({t: [x for x in v if x] for t, v in ev.items()}),
                how=(
                    f"failed runs whose root cause is {agent} ({len(fails)} of {n}) and spans of "
                    f"{agent} named by a reviewer's reject ({nrej}); the saving is the time and "
                    "cost of those failed runs plus the rejected drafts' model calls, averaged "
                    f"over every run. Edges crossed: {crossed or 'none'}"
                ),
                confidence=_runs_note(len(ev))
                + "; an upper bound: fixing the agent would not make those runs free, "
                "it says where failures start",
                details={
                    "sql": [
                        q
                        for q, has in (
                            (
                                "SELECT trace_id, root_cause_error, root_cause_span_id, duration_ms,"
                                " cost_usd FROM runs WHERE status = 'ERROR'"
                                f" AND root_cause_agent = {_lit(agent)}",
                                fails,
                            ),
                            (
                                "SELECT trace_id, span_id FROM errors WHERE role = 'rejected'"
                                f" AND agent_name = {_lit(agent)}",
                                nrej,
                            ),
                        )
                        if has
                    ],
                    "failed_runs": len(fails),
                    "rejections": nrej,
                    "edges": dict(edges[agent].most_common()),
                },
            )
        )
    return out
