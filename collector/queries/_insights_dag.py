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
- P's end waits for its start, its last launch and the children that ended within it
  (one still running at P's end was not awaited):
  `P.end' = max(P.start', last start', their end') + f(P) * tail`.
- Awkward shapes real traces have keep their recorded offsets, unscaled, as no one's
  own work: a child that started before its parent (clock skew between threads) keeps
  its negative lag; a child launched after its parent ended waits for the parent's
  replayed end and keeps its offset after it. A span id seen twice keeps its first row
  and an end before the start counts as the start (`prepare`).
- Run latency is the main root's replayed end minus its start. With every scale
  1 the replay gives back the recorded times exactly, so a saving is only ever the
  effect of the change: a hop off the critical path saves nothing until another
  path becomes critical, which is why this is not `x% * the agent's time`.
- Every scaled stretch is >= 0 and is one edge of a max-plus schedule, and `own_work`
  is collected by the replay itself from exactly those stretches; so scaling a set of
  spans' own work by f shortens the run by at most `(1 - f) * their own work`, never
  lengthens it, and a smaller f never saves less.

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
    t0: int = 0  # the earliest start: the replay works in offsets from it


def prepare(spans: Sequence[TimedSpan], root: str | None = None) -> Plan:
    """Arrange `spans` once for many replays (each insight replays a run several times).

    A span id seen twice keeps its first row (replay and `own_work` must see one span,
    not two halves of it); an end before the start counts as the start.
    """
    unique: dict[str, TimedSpan] = {}
    for s in spans:
        if s.span_id not in unique:
            unique[s.span_id] = s if s.end_ns >= s.start_ns else s._replace(end_ns=s.start_ns)
    kept = list(unique.values())
    t0 = min((s.start_ns for s in kept), default=0)
    return Plan(_children(kept), unique, main_root(kept, root), t0)


class _Frame:
    """One open span of the replay: its children in start order, the next one to place, a
    heap of placed children by recorded end (those that ended before the next child
    started become its dependencies), the running maxima over them, and its replayed
    end once known (needed early by a child launched after the span ended)."""

    __slots__ = (
        "dep_end",
        "dep_end_new",
        "done",
        "end_new",
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
        self.end_new: float | None = None


def _close(
    fr: _Frame, f: float, start: float, ends: dict[str, float], own: dict[str, int] | None
) -> float:
    """The span's replayed end: after its start, its last launch and the children it
    awaited (those that ended within it, all placed by now: they started before its end),
    plus its tail, the stretch of it after all of those."""
    p = fr.span
    awaited = [k for k in fr.kids if k.end_ns <= p.end_ns and k.span_id in ends]
    rec = max([p.start_ns, fr.last, *(k.end_ns for k in awaited)])
    new = max([start, fr.last_new, *(ends[k.span_id] for k in awaited)])
    tail = p.end_ns - rec  # >= 0: every term lies within the span (prepare: end >= start)
    if own is not None:
        own[p.span_id] = own.get(p.span_id, 0) + tail
    return new + f * tail


def _replay(
    plan: Plan,
    scale: Mapping[str, float],
    ignore: Mapping[str, Collection[str]],
    own: dict[str, int] | None,
) -> tuple[dict[str, float], dict[str, float]]:
    """Replayed starts and ends relative to the earliest span (float ns stay exact to far
    below a nanosecond there, not at epoch magnitudes); `own` collects every stretch that
    is scaled, per span, so `own_work` is by construction what the replay scales."""
    kids = plan.kids
    t0 = plan.t0
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    for top in kids.get(None, []):
        starts[top.span_id] = float(top.start_ns - t0)
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
                skip = ignore.get(c.span_id)
                if skip:
                    ready = max([starts[p.span_id], *(ends[d] for d in fr.done if d not in skip)])
                else:
                    ready = fr.dep_end_new
                rec = max(fr.dep_end, fr.last)
                new = max(ready, fr.last_new)
                if c.start_ns > p.end_ns:
                    # launched after its parent ended (a detached continuation): the wait
                    # is nobody's own work, it keeps its offset after the parent's end
                    if fr.end_new is None:
                        fr.end_new = _close(fr, f, starts[p.span_id], ends, own)
                    starts[c.span_id] = max(new, fr.end_new) + (c.start_ns - max(rec, p.end_ns))
                else:
                    lag = c.start_ns - rec
                    work = max(0, lag)
                    if own is not None:
                        own[p.span_id] = own.get(p.span_id, 0) + work
                    # a child that started before its parent (clock skew between threads)
                    # keeps that negative offset unscaled: it is no one's work
                    starts[c.span_id] = new + min(0, lag) + f * work
                    fr.last, fr.last_new = c.start_ns, starts[c.span_id]
                grand = kids.get(c.span_id)
                if not grand:  # a leaf, most spans: all own work, no frame needed
                    work = c.end_ns - c.start_ns
                    if own is not None:
                        own[c.span_id] = own.get(c.span_id, 0) + work
                    ends[c.span_id] = starts[c.span_id] + scale.get(c.span_id, 1.0) * work
                    heapq.heappush(fr.placed, (c.end_ns, c.span_id))
                    continue
                stack.append(_Frame(c, grand, starts[c.span_id]))
                continue
            if fr.end_new is None:
                fr.end_new = _close(fr, f, starts[p.span_id], ends, own)
            ends[p.span_id] = fr.end_new
            stack.pop()
            if stack:
                heapq.heappush(stack[-1].placed, (p.end_ns, p.span_id))
    return starts, ends


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
    starts, ends = _replay(plan, scale or {}, ignore or {}, None)
    t0 = plan.t0
    return Schedule(
        {k: v + t0 for k, v in starts.items()},
        {k: v + t0 for k, v in ends.items()},
        _latency(plan, ends, root),
    )


def _latency(plan: Plan, ends: Mapping[str, float], root: str | None) -> float:
    rid = root if root in ends else plan.root
    if rid is None or rid not in ends:
        return 0.0
    return ends[rid] - (plan.by_id[rid].start_ns - plan.t0)


def own_work(plan: Plan) -> dict[str, int]:
    """Each span's own work: the stretches the replay scales by its factor (the gaps before
    it launched each child, after the previous launch and the children it waited for, and
    its tail), collected by the replay itself. Disjoint stretches within the span, so at
    most its duration; a span the replay never reaches (a parent cycle) has none."""
    own: dict[str, int] = {}
    _replay(plan, {}, {}, own)
    return {sid: own.get(sid, 0) for sid in plan.by_id}


def latency_ns(
    spans: Sequence[TimedSpan] | Plan,
    scale: Mapping[str, float] | None = None,
    ignore: Mapping[str, Collection[str]] | None = None,
    root: str | None = None,
) -> float:
    """The replayed run latency only (see `replay`)."""
    plan = spans if isinstance(spans, Plan) else prepare(spans, root)
    return _latency(plan, _replay(plan, scale or {}, ignore or {}, None)[1], root)
