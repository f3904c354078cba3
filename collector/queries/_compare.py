"""Comparing two runs: align their hop sequences, find where they diverge, and what it cost.

Pure functions over plain dataclasses (no DuckDB); `_compare_read` fetches the hops.

Method. A run is reduced to its *hop sequence*: every agent invocation (agent span) in
start order, each labelled with the agent, the agent that invoked or handed work to it
(its caller), the agents whose data it received, and its outcome (ok, an error started
in it, it failed with an error from elsewhere, its output was rejected, it recovered an
error, still running). Hops are taken in tree order, concurrent siblings in a
stable order (`canonical_order`). Two sequences are aligned with a global edit-distance alignment
(Needleman-Wunsch / weighted Levenshtein with a traceback):

- same agent, caller, data sources and outcome: a match, cost 0;
- same agent and caller but another outcome or other data sources: a changed hop, 0.5;
- same agent, another caller (a handoff came from elsewhere): a changed hop, 1.5;
- a hop only in one run (an insertion or deletion): 1;
- two different agents are never paired (3, more than two gaps), so "B called the
  coder where A called the researcher" shows as A's hop missing and B's hop extra.

Outcome-aware costs make a retried hop line up sensibly: A `coder, reviewer` against B
`coder(failed), coder, reviewer` aligns A's coder with B's second (successful) one and
marks B's failed attempt as the extra hop. When several alignments cost the same, the
traceback (from the end) prefers gaps over pairs, which pushes pairs towards the start:
repeated invocations are matched in order, first with first, and the surplus comes last.
The identical prefix and suffix are matched before the quadratic part runs, so long
runs that differ in a few hops are cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from collector.queries._compare_agents import AgentDelta, AgentTotals, agent_totals

__all__ = [
    "AgentDelta",
    "AgentTotals",
    "AlignedHop",
    "Divergence",
    "Hop",
    "RunDiff",
    "RunSide",
    "agent_totals",
    "align_hops",
    "canonical_order",
    "diff_runs",
    "first_divergence",
    "outcome_text",
]

GAP = 1.0
CHANGED = 0.5
OTHER_CALLER = 1.5
OTHER_AGENT = 3.0

OUTCOMES = ("ok", "error", "failed", "rejected", "recovered", "running")


@dataclass(frozen=True, slots=True)
class Hop:
    """One agent invocation of a run, with what it did and what it cost."""

    span_id: str
    agent: str
    caller: str | None = None
    """Agent that invoked or handed work to it; None for the run's entry agent."""
    sources: tuple[str, ...] = ()
    """Agents whose data it received (data handoffs), sorted."""
    outcome: str = "ok"
    """One of OUTCOMES: ok | error (an error started in it) | failed (an error from
    elsewhere went through it) | rejected (its output was rejected) | recovered | running."""
    start_ms: float = 0.0
    """Start, ms after the run's start."""
    duration_ms: float | None = None
    critical_path_ms: float = 0.0
    """Time of the run's critical path spent in its own work."""
    on_critical_path: bool = False
    llm_calls: int = 0
    tokens: int = 0
    cost_usd: float | None = None
    errors: int = 0
    error_type: str | None = None
    models: tuple[str, ...] = ()
    input_preview: str | None = None
    output_preview: str | None = None
    messages: tuple[tuple[str, str | None, str | None], ...] = ()
    """(model, input_preview, output_preview) of its model calls, when recorded."""
    parent_hop: str | None = None
    """Span id of the enclosing hop (the agent invocation it ran inside), if any."""

    @property
    def key(self) -> tuple[str, str | None]:
        """What identifies the hop across runs: the agent and who called it."""
        return (self.agent, self.caller)

    @property
    def signature(self) -> tuple[str, str | None, tuple[str, ...], str]:
        """Everything structural; equal signatures are a plain match."""
        return (self.agent, self.caller, self.sources, self.outcome)


def canonical_order(hops: Sequence[Hop]) -> list[Hop]:
    """Hops in tree order, with concurrent siblings in a stable order.

    Each hop is followed by the hops that ran inside it (depth first). Siblings are
    taken in start order, except that siblings started together (a fan-out: each
    starts before any sibling of its wave has finished) are ordered by agent, caller and
    data sources: which of two parallel agents started a millisecond earlier is noise,
    and would otherwise show as a divergence.
    """
    ids = {h.span_id for h in hops}
    kids: dict[str | None, list[Hop]] = {}
    for h in hops:
        kids.setdefault(h.parent_hop if h.parent_hop in ids else None, []).append(h)
    out: list[Hop] = []

    def emit(parent: str | None) -> None:
        for h in _waves(kids.get(parent, [])):
            out.append(h)
            emit(h.span_id)

    emit(None)
    return out


def _waves(siblings: Sequence[Hop]) -> list[Hop]:
    ordered: list[Hop] = []
    wave: list[Hop] = []
    first_end = math.inf  # a sibling starting after one of the wave ended is not in it
    for h in sorted(siblings, key=lambda h: (h.start_ms, h.span_id)):
        if wave and h.start_ms >= first_end:
            ordered += sorted(wave, key=lambda w: (w.agent, w.caller or "", w.sources, w.start_ms))
            wave, first_end = [], math.inf
        wave.append(h)
        end = math.inf if h.duration_ms is None else h.start_ms + h.duration_ms
        first_end = min(first_end, end)
    ordered += sorted(wave, key=lambda w: (w.agent, w.caller or "", w.sources, w.start_ms))
    return ordered


def pair_cost(a: Hop, b: Hop) -> float:
    """Cost of aligning hop `a` with hop `b` (see the module docstring)."""
    if a.agent != b.agent:
        return OTHER_AGENT
    if a.caller != b.caller:
        return OTHER_CALLER
    if a.signature != b.signature:
        return CHANGED
    return 0.0


@dataclass(frozen=True, slots=True)
class AlignedHop:
    """One step of the alignment: `op` is match | changed | missing (only in A) | extra (only in B)."""

    op: str
    a: Hop | None
    b: Hop | None
    repeat: bool = False
    """For missing / extra: the same agent and caller also ran earlier in that run (a retry
    or another loop round)."""


def align_hops(a: Sequence[Hop], b: Sequence[Hop]) -> list[AlignedHop]:
    """The minimal-cost alignment of two hop sequences, in order."""
    pre = 0
    while pre < len(a) and pre < len(b) and a[pre].signature == b[pre].signature:
        pre += 1
    suf = 0
    while (
        suf < len(a) - pre
        and suf < len(b) - pre
        and a[len(a) - 1 - suf].signature == b[len(b) - 1 - suf].signature
    ):
        suf += 1
    mid_a, mid_b = a[pre : len(a) - suf], b[pre : len(b) - suf]
    steps = [AlignedHop("match", x, y) for x, y in zip(a[:pre], b[:pre], strict=True)]
    steps += _needleman_wunsch(mid_a, mid_b)
    steps += [
        AlignedHop("match", x, y) for x, y in zip(a[len(a) - suf :], b[len(b) - suf :], strict=True)
    ]
    return _mark_repeats(steps)


def _needleman_wunsch(a: Sequence[Hop], b: Sequence[Hop]) -> list[AlignedHop]:
    n, m = len(a), len(b)
    if n == 0 or m == 0:
        return [AlignedHop("missing", x, None) for x in a] + [
            AlignedHop("extra", None, y) for y in b
        ]
    cost = [[0.0] * (m + 1) for _ in range(n + 1)]
    for j in range(1, m + 1):
        cost[0][j] = j * GAP
    for i in range(1, n + 1):
        row, prev, x = cost[i], cost[i - 1], a[i - 1]
        row[0] = i * GAP
        for j in range(1, m + 1):
            row[j] = min(prev[j - 1] + pair_cost(x, b[j - 1]), prev[j] + GAP, row[j - 1] + GAP)
    out: list[AlignedHop] = []
    i, j = n, m
    while i > 0 or j > 0:
        here = cost[i][j]
        # ties: an extra, then a missing, then a pair (pairs drift to the start)
        if j > 0 and _close(here, cost[i][j - 1] + GAP):
            out.append(AlignedHop("extra", None, b[j - 1]))
            j -= 1
        elif i > 0 and _close(here, cost[i - 1][j] + GAP):
            out.append(AlignedHop("missing", a[i - 1], None))
            i -= 1
        else:
            x, y = a[i - 1], b[j - 1]
            out.append(AlignedHop("match" if x.signature == y.signature else "changed", x, y))
            i, j = i - 1, j - 1
    out.reverse()
    return out


def _close(x: float, y: float) -> bool:
    return abs(x - y) < 1e-9


def _mark_repeats(steps: list[AlignedHop]) -> list[AlignedHop]:
    seen_a: set[tuple[str, str | None]] = set()
    seen_b: set[tuple[str, str | None]] = set()
    out: list[AlignedHop] = []
    for s in steps:
        if s.op == "missing" and s.a is not None:
            out.append(AlignedHop(s.op, s.a, None, s.a.key in seen_a))
        elif s.op == "extra" and s.b is not None:
            out.append(AlignedHop(s.op, None, s.b, s.b.key in seen_b))
        else:
            out.append(s)
        if s.a is not None:
            seen_a.add(s.a.key)
        if s.b is not None:
            seen_b.add(s.b.key)
    return out


@dataclass(frozen=True, slots=True)
class Divergence:
    """The first step where the runs differ.

    `kind`: agent (another agent was called) | missing | extra | retry (an extra round of
    an agent that already ran) | handoff (work or data came from elsewhere) | error (an
    error started) | rejected (a draft was rejected) | outcome (another outcome).
    """

    index: int
    kind: str
    a: Hop | None
    b: Hop | None
    text: str


def outcome_text(h: Hop) -> str:
    """The hop's outcome in words."""
    return {
        "error": f"error started ({h.error_type or 'error'})",
        "failed": f"failed ({h.error_type or 'an error'} from elsewhere)",
        "rejected": "output rejected",
        "recovered": "recovered an error",
        "running": "still running",
    }.get(h.outcome, "ok")


def _what(h: Hop) -> str:
    via = f" (called by {h.caller})" if h.caller else ""
    outcome = "" if h.outcome == "ok" else f", {outcome_text(h)}"
    return f"{h.agent}{via}{outcome}"


def _gap_kind(h: Hop, repeat: bool) -> str:
    if h.outcome in ("error", "rejected"):
        return h.outcome
    return "retry" if repeat else ""


def _consequence(s: AlignedHop) -> bool:
    """A hop that only failed with an error from elsewhere (its own work matched).

    An enclosing agent starts before the child whose error goes up through it, so
    without this the orchestrator would always be "where the runs diverge".
    """
    if s.op != "changed" or s.a is None or s.b is None:
        return False
    a, b = s.a, s.b
    same = a.key == b.key and a.sources == b.sources
    return same and {a.outcome, b.outcome} in ({"ok", "failed"}, {"recovered", "failed"})


def first_divergence(steps: Sequence[AlignedHop]) -> Divergence | None:
    """The first step that is not a match (None: the runs have the same structure).

    A hop that merely propagated an error counts only when nothing else differs.
    """
    found = _first(steps, skip_consequences=True)
    return found if found is not None else _first(steps, skip_consequences=False)


def _first(steps: Sequence[AlignedHop], *, skip_consequences: bool) -> Divergence | None:
    for i, s in enumerate(steps):
        if s.op == "match" or (skip_consequences and _consequence(s)):
            continue
        nxt = steps[i + 1] if i + 1 < len(steps) else None
        if s.op == "changed" and s.a is not None and s.b is not None:
            a, b = s.a, s.b
            if a.caller != b.caller:
                kind = "handoff"
                text = f"{a.agent} was called by {a.caller or 'the run'} in A, by {b.caller or 'the run'} in B"
            elif a.outcome != b.outcome:
                kind = next(
                    (k for k in ("error", "rejected") if k in (a.outcome, b.outcome)), "outcome"
                )
                text = f"{a.agent}: {outcome_text(a)} in A, {outcome_text(b)} in B"
            else:
                kind = "handoff"
                text = (
                    f"{a.agent} received data from {', '.join(a.sources) or 'nobody'} in A,"
                    f" from {', '.join(b.sources) or 'nobody'} in B"
                )
            return Divergence(i, kind, a, b, text)
        # a missing hop next to an extra one at the same place: another agent was called
        if nxt is not None and {s.op, nxt.op} == {"missing", "extra"}:
            only_a = s.a if s.op == "missing" else nxt.a
            only_b = s.b if s.op == "extra" else nxt.b
            if only_a is not None and only_b is not None:
                text = f"A ran {_what(only_a)} where B ran {_what(only_b)}"
                return Divergence(i, "agent", only_a, only_b, text)
        if s.op == "missing" and s.a is not None:
            kind = _gap_kind(s.a, s.repeat) or "missing"
            again = " again" if s.repeat else ""
            return Divergence(i, kind, s.a, None, f"only A ran {_what(s.a)}{again}")
        if s.op == "extra" and s.b is not None:
            kind = _gap_kind(s.b, s.repeat) or "extra"
            again = " again" if s.repeat else ""
            return Divergence(i, kind, None, s.b, f"only B ran {_what(s.b)}{again}")
    return None


@dataclass(frozen=True, slots=True)
class RunSide:
    """One run of a comparison: its summary numbers and its hops."""

    trace_id: str
    name: str | None = None
    status: str = "OK"
    duration_ms: float | None = None
    critical_path_ms: float | None = None
    cost_usd: float | None = None
    llm_calls: int = 0
    tokens: int = 0
    error_count: int = 0
    root_cause_agent: str | None = None
    root_cause_error: str | None = None
    hops: tuple[Hop, ...] = ()
    truncated: bool = False
    """More hops existed than were read (the comparison covers the first ones)."""

    @property
    def critical_path(self) -> tuple[str, ...]:
        """Agents of the hops on the critical path, in start order."""
        return tuple(h.agent for h in self.hops if h.on_critical_path)


@dataclass(frozen=True, slots=True)
class RunDiff:
    """Two runs aligned: the steps, the first divergence, per agent deltas, the critical paths."""

    a: RunSide
    b: RunSide
    steps: tuple[AlignedHop, ...]
    divergence: Divergence | None
    agents: tuple[AgentDelta, ...]
    critical_path_moves: tuple[AgentDelta, ...] = field(default=())
    """Agents whose critical-path time changed, biggest change first."""

    @property
    def counts(self) -> dict[str, int]:
        """How many steps of each op."""
        out = {"match": 0, "changed": 0, "missing": 0, "extra": 0}
        for s in self.steps:
            out[s.op] += 1
        return out


def diff_runs(a: RunSide, b: RunSide) -> RunDiff:
    """Align two runs and work out everything the diff shows."""
    steps = tuple(align_hops(a.hops, b.hops))
    ta, tb = agent_totals(a.hops), agent_totals(b.hops)
    order = list(dict.fromkeys([*ta, *tb]))
    deltas = tuple(AgentDelta(n, ta.get(n, AgentTotals()), tb.get(n, AgentTotals())) for n in order)
    moves = tuple(
        sorted(
            (d for d in deltas if abs(d.d_critical_path_ms) >= 0.5),
            key=lambda d: (-abs(d.d_critical_path_ms), d.agent),
        )
    )
    return RunDiff(a, b, steps, first_divergence(steps), deltas, moves)
