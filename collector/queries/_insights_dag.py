"""Replaying a run's span schedule with some spans' own work shortened (pure, no DuckDB).

The model (the README's "How insights are computed"):

- A span's **own work** is the part of its duration no child explains: the gap
  between the moment a child could start and the moment it did, and the tail
  after its last awaited child. A leaf is all own work.
- A child C of P **depends on** every sibling that ended at or before C started
  (happened-before: a trace cannot tell a real data dependency from a coincidence,
  so sequential order is kept unless an insight asks otherwise). Siblings that
  overlapped C stay concurrent with it.
- P is one thread: it launches its children in order. C's original *ready* time is
  `max(P.start, the previous child's start, end of its dependencies)`; its *lag*
  `C.start - ready` is P's own work before launching it. Replayed,
  `C.start' = max(P.start', previous start', dependencies' end') + f(P) * lag`, where
  `f(span)` is the scale of that span's own work (1 = unchanged, 0.5 = twice as fast,
  0 = free). The lags and the tail are disjoint stretches of P (`own_work`).
- P's end waits for the children that ended within it (one still running at
  P's end was not awaited) and its last launch:
  `P.end' = max(last start', their end') + f(P) * tail`.
- Run latency is the main root's replayed end minus its start. With every scale
  1 the replay gives back the recorded times exactly, so a saving is only ever the
  effect of the change: a hop off the critical path saves nothing until another
  path becomes critical, which is why this is not `x% * the agent's time`.

`ignore` drops chosen dependencies (span id -> sibling ids it no longer waits for):
the parallelisable-hops insight asks "what if B had not waited for A".
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Mapping, Sequence
from typing import NamedTuple

__all__ = [
    "Plan",
    "Schedule",
    "TimedSpan",
    "latency_ns",
    "main_root",
    "own_work",
    "prepare",
    "replay",
]


class TimedSpan(NamedTuple):
    """What the replay needs of a span; `end_ns` already resolved for pending spans."""

    span_id: str
    parent_span_id: str | None
    start_ns: int
    end_ns: int


class Schedule(NamedTuple):
    """Replayed start and end of every span reached from the roots, and the run latency."""

    starts: dict[str, float]
    ends: dict[str, float]
    latency_ns: float


def main_root(spans: Sequence[TimedSpan], prefer: str | None = None) -> str | None:
    """The run's root: `prefer` if present, else the earliest span whose parent is absent."""
    ids = {s.span_id for s in spans}
    if prefer in ids:
        return prefer
    roots = [s for s in spans if not s.parent_span_id or s.parent_span_id not in ids]
    if not roots:
        return None
    # a real root (no parent id at all) before an orphan, as the collector's derivation does
    best = min(roots, key=lambda s: (bool(s.parent_span_id), s.start_ns, s.span_id))
    return best.span_id


def _children(spans: Sequence[TimedSpan]) -> dict[str | None, list[TimedSpan]]:
    ids = {s.span_id for s in spans}
    kids: dict[str | None, list[TimedSpan]] = {}
    for s in spans:
        parent = (
            s.parent_span_id if s.parent_span_id in ids and s.parent_span_id != s.span_id else None
        )
        kids.setdefault(parent, []).append(s)
    for group in kids.values():
        group.sort(key=lambda s: (s.start_ns, s.end_ns, s.span_id))
    return kids


class Plan(NamedTuple):
    """A run's spans arranged for replaying (children in start order), made once per run."""

    kids: dict[str | None, list[TimedSpan]]
    by_id: dict[str, TimedSpan]
    root: str | None


def prepare(spans: Sequence[TimedSpan], root: str | None = None) -> Plan:
    """Arrange `spans` once for many replays (each insight replays a run several times)."""
    return Plan(_children(spans), {s.span_id: s for s in spans}, main_root(spans, root))


class _Frame:
    """One open span of the replay: its children in start order, the next one to place, a
    heap of placed children by recorded end (those that ended before the next child
    started become its dependencies), and the running maxima over them."""

    __slots__ = (
        "dep_end",
        "dep_end_new",
        "done",
        "i",
        "kids",
        "last",
        "last_new",
        "placed",
        "span",
    )

    def __init__(self, span: TimedSpan, kids: list[TimedSpan], start: float) -> None:
        self.span = span
        self.kids = kids
        self.i = 0
        self.placed: list[tuple[int, str]] = []
        self.dep_end = span.start_ns  # recorded ready time so far
        self.dep_end_new = start
        self.done: list[str] = []
        # the latest child launched (recorded start, replayed start): the parent is one
        # thread, so it launches the next child no earlier than the previous one
        self.last = span.start_ns
        self.last_new = start


def replay(
    spans: Sequence[TimedSpan] | Plan,
    scale: Mapping[str, float] | None = None,
    ignore: Mapping[str, Collection[str]] | None = None,
    root: str | None = None,
) -> Schedule:
    """Recompute every span's start and end with `scale[span_id]` on its own work.

    Spans not in `scale` keep factor 1. Spans in a parent cycle (corrupt ids) are
    never reached from a root and are left out. Iterative, so a deep trace cannot
    hit Python's recursion limit.
    """
    plan = spans if isinstance(spans, Plan) else prepare(spans, root)
    scale = scale or {}
    ignore = ignore or {}
    kids = plan.kids
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}

    for top in kids.get(None, []):
        starts[top.span_id] = float(top.start_ns)
        stack = [_Frame(top, kids.get(top.span_id, []), starts[top.span_id])]
        while stack:
            fr = stack[-1]
            p = fr.span
            f = scale.get(p.span_id, 1.0)
            if fr.i < len(fr.kids):
                c = fr.kids[fr.i]
                fr.i += 1
                if c.span_id in starts:  # reached twice through corrupt ids
                    continue
                while fr.placed and fr.placed[0][0] <= c.start_ns:
                    end, sid = heapq.heappop(fr.placed)
                    fr.dep_end = max(fr.dep_end, end)
                    fr.dep_end_new = max(fr.dep_end_new, ends[sid])
                    fr.done.append(sid)
                lag = c.start_ns - max(fr.dep_end, fr.last)
                skip = ignore.get(c.span_id)
                if skip:
                    ready = max([starts[p.span_id], *(ends[d] for d in fr.done if d not in skip)])
                else:
                    ready = fr.dep_end_new
                starts[c.span_id] = max(ready, fr.last_new) + f * lag
                if c.start_ns <= p.end_ns:
                    fr.last, fr.last_new = c.start_ns, starts[c.span_id]
                stack.append(_Frame(c, kids.get(c.span_id, []), starts[c.span_id]))
                continue
            # every child placed: the span ends after the children it awaited, plus its tail
            awaited = [k for k in fr.kids if k.end_ns <= p.end_ns and k.span_id in ends]
            rec = max([fr.last, *(k.end_ns for k in awaited)])
            new = max([fr.last_new, *(ends[k.span_id] for k in awaited)])
            ends[p.span_id] = new + f * (p.end_ns - rec)
            stack.pop()
            if stack:
                parent = stack[-1]
                heapq.heappush(parent.placed, (p.end_ns, p.span_id))
    rid = root if root in ends else plan.root
    latency = ends[rid] - plan.by_id[rid].start_ns if rid is not None and rid in ends else 0.0
    return Schedule(starts, ends, latency)


def own_work(plan: Plan) -> dict[str, int]:
    """Each span's own work as the replay scales it: the gaps before it launched each child
    (after the previous launch and the children it waited for) and its tail after the last
    launch or awaited child. Disjoint stretches of the span, so at most its duration."""
    own: dict[str, int] = {}
    for sid, p in plan.by_id.items():
        kids = plan.kids.get(sid, [])
        if not kids:
            own[sid] = max(0, p.end_ns - p.start_ns)
            continue
        placed: list[int] = []
        dep_end = last = p.start_ns
        total = 0
        for c in kids:
            while placed and placed[0] <= c.start_ns:
                dep_end = max(dep_end, heapq.heappop(placed))
            total += max(0, c.start_ns - max(dep_end, last))
            if c.start_ns <= p.end_ns:
                last = c.start_ns
            heapq.heappush(placed, c.end_ns)
        awaited = [k.end_ns for k in kids if k.end_ns <= p.end_ns]
        own[sid] = total + max(0, p.end_ns - max([last, *awaited]))
    return own


def latency_ns(
    spans: Sequence[TimedSpan] | Plan,
    scale: Mapping[str, float] | None = None,
    ignore: Mapping[str, Collection[str]] | None = None,
    root: str | None = None,
) -> float:
    """The replayed run latency only (see `replay`)."""
    return replay(spans, scale, ignore, root).latency_ns
