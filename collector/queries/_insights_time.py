"""Latency insights: what-if speed per agent and parallelisable hops (pure, over the replay)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from collector.queries._insights_dag import latency_ns, own_work, prepare
from collector.queries._insights_model import (
    Insight,
    InsightEvidence,
    InsightRun,
    InsightSpan,
    p50,
)

NS = 1e9
MAX_EVIDENCE = 10
MAX_SPANS_SHOWN = 20
HOP_CLASSES = frozenset({"agent", "tool"})


def own_work_ns(spans: Sequence[InsightSpan]) -> dict[str, int]:
    """Each span's own work as the replay scales it (`_insights_dag.own_work`)."""
    return own_work(prepare([s.timed() for s in spans]))


def what_if(runs: Sequence[InsightRun], speedup: float) -> list[Insight]:
    """Per agent: how much shorter each run gets with its own work `speedup` faster, and free."""
    factor = max(0.0, 1.0 - speedup)
    per_agent: dict[str, list[tuple[str, float, float, float, tuple[str, ...]]]] = defaultdict(list)
    for run in runs:
        timed = prepare([s.timed() for s in run.spans], run.root_span_id)
        base = latency_ns(timed, root=run.root_span_id)
        own = own_work(timed)
        agents: dict[str, list[InsightSpan]] = defaultdict(list)
        seen: set[str] = set()
        for s in run.spans:
            # one span per id, the first row as `prepare` keeps it: its own work counted
            # once, under one agent (scaling is by id, so a second row is the same span)
            if s.span_id in seen:
                continue
            seen.add(s.span_id)
            if s.agent_name:
                agents[s.agent_name].append(s)
        for agent, mine in agents.items():
            faster = latency_ns(timed, {s.span_id: factor for s in mine}, root=run.root_span_id)
            free = latency_ns(timed, {s.span_id: 0.0 for s in mine}, root=run.root_span_id)
            naive = speedup * sum(own[s.span_id] for s in mine)
            shown = tuple(s.span_id for s in mine if s.span_class == "agent")[:MAX_SPANS_SHOWN]
            per_agent[agent].append(
                (run.trace_id, (base - faster) / NS, (base - free) / NS, naive / NS, shown)
            )
    out: list[Insight] = []
    pct = round(speedup * 100)
    for agent, rows in per_agent.items():
        saving = p50([r[1] for r in rows]) or 0.0
        free = p50([r[2] for r in rows]) or 0.0
        naive = p50([r[3] for r in rows]) or 0.0
        best = sorted(rows, key=lambda r: (-r[1], r[0]))[:MAX_EVIDENCE]
        out.append(
            Insight(
                kind="what_if",
                title=f"{agent} {pct}% faster: runs {saving:.3f} s shorter (p50); "
                f"{agent} free: {free:.3f} s",
                agents=(agent,),
                saving_s=saving,
                saving_usd=None,
                runs=len(rows),
                evidence=tuple(InsightEvidence(r[0], r[4], r[1]) for r in best),
                how=(
                    f"each run's span schedule replayed with the own work of {agent}'s spans "
                    f"(its agent spans, tools and model calls) scaled by {factor:g} (and by 0 for "
                    "'free'), children keeping their offsets after the siblings they followed; "
                    f"p50 over the {len(rows)} runs it ran in. Naive subtraction "
                    f"({pct}% of its own time) would say {naive:.3f} s."
                ),
                confidence=_runs_note(len(rows))
                + "; assumes its calls shrink in proportion and that hops that ran one after "
                "another depend on each other",
                details={
                    "speedup": speedup,
                    "saving_s_p50": round(saving, 4),
                    "saving_if_free_s_p50": round(free, 4),
                    "naive_saving_s_p50": round(naive, 4),
                },
            )
        )
    return out


def _label(s: InsightSpan) -> str:
    if s.span_class == "agent" and s.agent_name:
        return s.agent_name
    return s.name or s.span_id


def _subtrees(spans: Sequence[InsightSpan]) -> tuple[dict[str, list[str]], dict[str, str | None]]:
    ids = {s.span_id for s in spans}
    kids: dict[str, list[str]] = defaultdict(list)
    parent: dict[str, str | None] = {}
    for s in spans:
        p = s.parent_span_id if s.parent_span_id in ids and s.parent_span_id != s.span_id else None
        parent[s.span_id] = p
        if p is not None:
            kids[p].append(s.span_id)
    return kids, parent


def _below(kids: dict[str, list[str]], top: str) -> set[str]:
    seen, todo = {top}, [top]
    while todo:
        for k in kids.get(todo.pop(), []):
            if k not in seen:
                seen.add(k)
                todo.append(k)
    return seen


def _ancestors(parent: dict[str, str | None], sid: str) -> set[str]:
    out: set[str] = set()
    cur = parent.get(sid)
    while cur is not None and cur not in out:
        out.add(cur)
        cur = parent.get(cur)
    return out


def consumed(run: InsightRun, a: str, b: str) -> bool:
    """Whether anything under span `b` consumed output of span `a`'s subtree, directly or
    through other spans (every recorded handoff counts: data, explicit, delegate).

    A span that received A's output taints its whole subtree; reaching a common
    ancestor does not spread (every child of the parent would look dependent).
    """
    kids, parent = _subtrees(run.spans)
    edges: dict[str, list[str]] = defaultdict(list)
    for h in run.handoffs:
        if h.from_span_id and h.to_span_id:
            edges[h.from_span_id].append(h.to_span_id)
    stop = _ancestors(parent, a) | _ancestors(parent, b)
    target = _below(kids, b)
    tainted = _below(kids, a)
    todo = list(tainted)
    while todo:
        for nxt in edges.get(todo.pop(), []):
            if nxt in target:
                return True
            if nxt in tainted or nxt in stop:
                continue
            for sid in _below(kids, nxt):
                if sid not in tainted:
                    tainted.add(sid)
                    todo.append(sid)
    return False


def sequential_pairs(run: InsightRun) -> list[tuple[InsightSpan, InsightSpan, InsightSpan]]:
    """(parent, A, B): agent/tool hops of one parent where B started after A ended and A is
    the sibling B followed most closely (the latest to end before B started)."""
    by_id = {s.span_id: s for s in run.spans}
    kids, _ = _subtrees(run.spans)
    out = []
    for pid, group in kids.items():
        sibs = sorted((by_id[k] for k in group), key=lambda s: (s.start_ns, s.end_ns, s.span_id))
        for i, b in enumerate(sibs):
            if b.span_class not in HOP_CLASSES:
                continue
            deps = [s for s in sibs[:i] if s.end_ns <= b.start_ns]
            if not deps:
                continue
            a = max(deps, key=lambda s: (s.end_ns, s.start_ns))
            if a.span_class in HOP_CLASSES:
                out.append((by_id[pid], a, b))
    return out


def parallel(runs: Sequence[InsightRun]) -> list[Insight]:
    """Pairs of sequential hops that never consumed each other's output, in any run."""
    Key = tuple[str, str, str]
    found: dict[Key, dict[str, list[tuple[str, str]]]] = defaultdict(dict)
    dependent: set[Key] = set()
    for run in runs:
        for p, a, b in sequential_pairs(run):
            key = (_label(p), _label(a), _label(b))
            if consumed(run, a.span_id, b.span_id):
                dependent.add(key)
            found[key].setdefault(run.trace_id, []).append((a.span_id, b.span_id))
    by_trace = {r.trace_id: r for r in runs}
    out: list[Insight] = []
    for key, per_run in found.items():
        if key in dependent:
            continue  # a hop that consumed the other's output once is never reported
        parent, first, second = key
        rows = []
        for trace_id, pairs in per_run.items():
            run = by_trace[trace_id]
            timed = prepare([s.timed() for s in run.spans], run.root_span_id)
            base = latency_ns(timed, root=run.root_span_id)
            ignore: dict[str, set[str]] = defaultdict(set)
            for a_id, b_id in pairs:
                ignore[b_id].add(a_id)
            new = latency_ns(timed, ignore=ignore, root=run.root_span_id)
            shown = tuple(x for pair in pairs for x in pair)[:MAX_SPANS_SHOWN]
            rows.append((trace_id, (base - new) / NS, base / NS, new / NS, shown))
        saving = p50([r[1] for r in rows]) or 0.0
        best = sorted(rows, key=lambda r: (-r[1], r[0]))[:MAX_EVIDENCE]
        out.append(
            Insight(
                kind="parallel",
                title=f"{first} and {second} (both called by {parent}) could run concurrently: "
                f"runs {saving:.3f} s shorter (p50)",
                agents=tuple(dict.fromkeys((first, second))),
                saving_s=saving,
                saving_usd=None,
                runs=len(rows),
                evidence=tuple(InsightEvidence(r[0], r[4], r[1]) for r in best),
                how=(
                    f"{second} started after {first} ended, under the same parent, and no "
                    f"recorded handoff leads from {first}'s spans to {second}'s, directly or "
                    f"through other spans, in any of the {len(rows)} runs; each run replayed with "
                    f"{second} no longer waiting for {first} (p50 latency "
                    f"{p50([r[2] for r in rows]) or 0:.3f} s -> {p50([r[3] for r in rows]) or 0:.3f} s)"
                ),
                confidence=_runs_note(len(rows))
                + f"; {parent} may still pass {first}'s result to {second} in its input, "
                "which hoptrace sees only when it is recorded as a handoff",
                details={"parent": parent, "first": first, "second": second},
            )
        )
    return out


def _runs_note(n: int) -> str:
    if n >= 20:
        return f"{n} runs"
    if n >= 5:
        return f"{n} runs: indicative"
    return f"only {n} run{'s' if n != 1 else ''}: weak evidence"
