"""The handoff graph: agents as nodes, handoffs as directed edges, for one run or many.

One run's graph is built in Python from its `RunBundle` (the run screen has it
already); the graph over many runs is one bounded, grouped SQL statement over the
`agents`, `handoffs` and `errors` views so it stays fast over 10k runs. Both mark
the edges an error crossed (consecutive hops of one cause chain in different
agents), the edges a rejection crossed (rejecting agent and the author of the
rejected output) and the edges on the critical path: in one run both spans of a
handoff on it; over many runs both agents on the critical path of at least half
the runs that have the edge.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from collector.queries._read import DB, Reader, _connect, _json
from collector.queries._runs import _where
from collector.queries._types import ErrorRow, RunBundle, RunFilter

__all__ = [
    "EdgeHandoff",
    "GraphEdge",
    "GraphNode",
    "HandoffGraph",
    "edge_handoffs",
    "graph_over_runs",
    "handoff_graph",
]

MAX_NODES = 200
MAX_EDGES = 1000


@dataclass(frozen=True, slots=True)
class GraphNode:
    """An agent: invocations, summed wall time, own model cost, ERROR spans."""

    agent: str
    invocations: int
    duration_ms: float | None
    critical_path_ms: float | None
    cost_usd: float | None
    error_count: int
    runs: int = 1


@dataclass(frozen=True, slots=True)
class GraphEdge:
    """Handoffs from `source` to `target`, counted by kind.

    `errors` / `rejections` count the error hops and rejections that crossed the
    pair (either direction: an error flows back up a delegation); `critical`
    says the edge lies on the critical path (of most runs, when aggregated).
    """

    source: str
    target: str
    count: int
    kinds: tuple[tuple[str, int], ...]
    errors: int = 0
    rejections: int = 0
    critical: bool = False
    runs: int = 1

    @property
    def kind(self) -> str:
        """The kinds joined, most frequent first (e.g. `delegate+data`)."""
        return "+".join(k for k, _ in self.kinds)

    @property
    def label(self) -> str:
        """Short text for the edge: count, kind, error / rejection marks."""
        marks = ("✗" if self.errors else "") + ("⊘" if self.rejections else "")
        return f"{marks}{self.count}× {self.kind}"


@dataclass(frozen=True, slots=True)
class HandoffGraph:
    """Nodes sorted by name, edges by (source, target); `trace_id` None when aggregated."""

    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]
    runs: int
    trace_id: str | None = None
    truncated: bool = False
    by_agent: dict[str, GraphNode] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.by_agent.update({n.agent: n for n in self.nodes})


@dataclass(frozen=True, slots=True)
class EdgeHandoff:
    """One handoff along an edge: where the receiver ran and what it got."""

    trace_id: str
    kind: str
    from_span_id: str | None
    to_span_id: str | None
    payload_preview: str | None
    start_ns: int


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def _error_pairs(errors: Sequence[ErrorRow]) -> dict[tuple[str, str], int]:
    """Consecutive hops of each cause chain that changed agent (unordered pairs).

    A chain is its origin, then the spans it propagated to, innermost first: the
    errors went up the span tree, and an inner span starts after its ancestors.
    """
    chains: dict[str, list[ErrorRow]] = defaultdict(list)
    for e in errors:
        if e.role in ("origin", "propagated"):
            chains[e.cause_span_id or e.span_id].append(e)
    pairs: dict[tuple[str, str], int] = defaultdict(int)
    for origin, chain in chains.items():
        chain.sort(key=lambda e: (e.span_id != origin, -e.start_ns, e.span_id))
        agents = [e.agent_name for e in chain if e.agent_name]
        for a, b in itertools.pairwise(agents):
            if a != b:
                pairs[_pair(a, b)] += 1
    return pairs


def handoff_graph(bundle: RunBundle) -> HandoffGraph:
    """The graph of one run, from what the run screen already read."""
    nodes = {
        a.agent_name: GraphNode(
            a.agent_name,
            a.invocations,
            a.duration_ms,
            a.critical_path_ms,
            a.cost_usd,
            a.error_count,
        )
        for a in bundle.agents
    }
    critical = {s.span_id for s in bundle.spans if s.on_critical_path}
    kinds: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    on_path: set[tuple[str, str]] = set()
    for h in bundle.handoffs:
        if not h.from_agent or not h.to_agent:
            continue
        key = (h.from_agent, h.to_agent)
        kinds[key][h.kind] += 1
        if h.to_span_id in critical and (h.from_span_id is None or h.from_span_id in critical):
            on_path.add(key)
        for agent in key:
            nodes.setdefault(agent, GraphNode(agent, 0, None, None, None, 0))
    errors = _error_pairs(bundle.errors)
    rejections: dict[tuple[str, str], int] = defaultdict(int)
    for r in bundle.rejections:
        author = next(
            (e.agent_name for e in bundle.errors if e.span_id == r.rejected_span_id), None
        )
        if r.agent and author:
            rejections[_pair(r.agent, author)] += 1
    edges = [
        GraphEdge(
            src,
            dst,
            sum(by_kind.values()),
            _sorted_kinds(by_kind.items()),
            errors.get(_pair(src, dst), 0),
            rejections.get(_pair(src, dst), 0),
            (src, dst) in on_path,
        )
        for (src, dst), by_kind in kinds.items()
    ]
    trace_id = bundle.run.trace_id if bundle.run else None
    return _graph(nodes.values(), edges, 1 if bundle.run else 0, trace_id)


def _sorted_kinds(items: Iterable[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(items, key=lambda kv: (-kv[1], kv[0])))


def _graph(
    nodes: Iterable[GraphNode],
    edges: Iterable[GraphEdge],
    runs: int,
    trace_id: str | None,
    truncated: bool = False,
) -> HandoffGraph:
    return HandoffGraph(
        tuple(sorted(nodes, key=lambda n: n.agent)),
        tuple(sorted(edges, key=lambda e: (e.source, e.target))),
        runs,
        trace_id,
        truncated,
    )


def _in_runs(flt: RunFilter) -> tuple[str, list[Any]]:
    """`AND trace_id IN (the filtered runs)`, or nothing when every run is wanted."""
    where, params = _where(flt)
    if not where:
        return "", []
    return f" AND trace_id IN (SELECT trace_id FROM runs{where})", params


# Four grouped answers in one statement (tagged rows): nodes, edges, error hops
# that changed agent, rejections. Every branch is bounded.
_AGGREGATE_SQL = """
WITH crit AS (
    -- agents with time on their run's critical path (a join on the million spans
    -- for the exact spans took half a second over 10k runs)
    SELECT trace_id, agent_name FROM agents WHERE critical_path_ms > 0{f}
), hand AS (
    -- named: ClickHouse keeps the `h.` in a CTE's column names
    SELECT h.trace_id AS trace_id, h.from_agent AS from_agent, h.to_agent AS to_agent,
           h.kind AS kind,
           c1.agent_name IS NOT NULL AND c2.agent_name IS NOT NULL AS crit
    FROM handoffs h
    LEFT JOIN crit c1 ON c1.trace_id = h.trace_id AND c1.agent_name = h.to_agent
    LEFT JOIN crit c2 ON c2.trace_id = h.trace_id AND c2.agent_name = h.from_agent
    WHERE h.from_agent IS NOT NULL AND h.to_agent IS NOT NULL{fh}
), chain AS (
    SELECT trace_id, agent_name, lag(agent_name) OVER (
               PARTITION BY trace_id, coalesce(cause_span_id, span_id)
               ORDER BY cause_span_id IS NOT NULL, start_ns DESC, span_id) AS prev
    FROM errors WHERE role IN ('origin', 'propagated') AND agent_name IS NOT NULL{f}
), rej AS (
    SELECT agent_name AS a, unnest(from_json(rejects, '[{{"agent":"VARCHAR"}}]')).agent AS b
    FROM span_t WHERE rejects IS NOT NULL{f}
)
-- one SELECT over the union (ClickHouse takes no parenthesised union after a WITH),
-- its columns named (a union takes the first branch's names; ClickHouse merges repeats)
SELECT * FROM (
(SELECT 'node' AS tag, agent_name AS a, NULL AS b, NULL AS kind, sum(invocations) AS n,
        sum(duration_ms) AS dur, sum(critical_path_ms) AS cp, sum(cost_usd) AS cost,
        sum(error_count) AS errs, count(*) AS n_runs, 0 AS crit
 FROM agents WHERE agent_name IS NOT NULL{f} GROUP BY agent_name ORDER BY agent_name
 LIMIT {max_nodes})
UNION ALL
(SELECT 'edge', from_agent, to_agent, kind, count(*), NULL, NULL, NULL, NULL,
        count(DISTINCT trace_id), count(DISTINCT trace_id) FILTER (WHERE crit)
 FROM hand GROUP BY ALL ORDER BY count(*) DESC, from_agent, to_agent, kind LIMIT {max_edges})
UNION ALL
(SELECT 'error', least(prev, agent_name), greatest(prev, agent_name), NULL, count(*),
        NULL, NULL, NULL, NULL, NULL, NULL
 FROM chain WHERE prev IS NOT NULL AND prev <> agent_name GROUP BY ALL LIMIT {max_edges})
UNION ALL
(SELECT 'reject', least(a, b), greatest(a, b), NULL, count(*), NULL, NULL, NULL, NULL, NULL, NULL
 FROM rej WHERE a IS NOT NULL AND b IS NOT NULL AND a <> b GROUP BY ALL LIMIT {max_edges})
)
"""


def graph_over_runs(db: DB | Reader, flt: RunFilter | None = None) -> HandoffGraph:
    """The graph aggregated over every run the filter matches (all runs by default)."""
    flt = flt or RunFilter()
    clause, params = _in_runs(flt)
    sql = _AGGREGATE_SQL.format(
        f=clause,
        fh=clause.replace("trace_id IN", "h.trace_id IN", 1),
        max_nodes=MAX_NODES,
        max_edges=MAX_EDGES,
    )
    # the same filter appears once per filtered branch (crit, hand, chain, rej, node)
    n = sql.count("IN (SELECT trace_id FROM runs")
    where, _ = _where(flt)
    with _connect(db) as conn:
        rows = conn.execute(sql, params * n).fetchall()
        count = conn.execute(f"SELECT count(*) FROM runs{where}", params).fetchone()
    nodes: dict[str, GraphNode] = {}
    kinds: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    runs: dict[tuple[str, str], tuple[int, int]] = {}
    errors: dict[tuple[str, str], int] = {}
    rejections: dict[tuple[str, str], int] = {}
    for tag, a, b, kind, n_, dur, cp, cost, errs, n_runs, crit in rows:
        if tag == "node":
            nodes[a] = GraphNode(a, int(n_ or 0), dur, cp, cost, int(errs or 0), int(n_runs))
        elif tag == "edge":
            kinds[(a, b)][kind] = int(n_)
            seen, on_path = runs.get((a, b), (0, 0))
            # distinct runs per kind: the max is a lower bound of the pair's runs
            runs[(a, b)] = (max(seen, int(n_runs)), max(on_path, int(crit)))
        elif tag == "error":
            errors[(a, b)] = int(n_)
        else:
            rejections[(a, b)] = int(n_)
    edges = []
    for (src, dst), by_kind in kinds.items():
        seen, on_path = runs[(src, dst)]
        for agent in (src, dst):
            nodes.setdefault(agent, GraphNode(agent, 0, None, None, None, 0, 0))
        edges.append(
            GraphEdge(
                src,
                dst,
                sum(by_kind.values()),
                _sorted_kinds(by_kind.items()),
                errors.get(_pair(src, dst), 0),
                rejections.get(_pair(src, dst), 0),
                on_path * 2 >= seen > 0,
                seen,
            )
        )
    truncated = len(nodes) >= MAX_NODES or sum(1 for r in rows if r[0] == "edge") >= MAX_EDGES
    return _graph(nodes.values(), edges, int(count[0]) if count else 0, None, truncated)


def edge_handoffs(
    db: DB | Reader,
    source: str,
    target: str,
    *,
    trace_id: str | None = None,
    flt: RunFilter | None = None,
    limit: int = 200,
) -> list[EdgeHandoff]:
    """The handoffs along one edge (newest first), in one run or the filtered runs."""
    if trace_id is not None:
        clause, params = " AND trace_id = ?", [trace_id]
    else:
        clause, params = _in_runs(flt or RunFilter())
    sql = (
        "SELECT trace_id, kind, from_span_id, to_span_id, payload_preview, start_ns"
        f" FROM handoffs WHERE from_agent = ? AND to_agent = ?{clause}"
        " ORDER BY start_ns DESC, to_span_id LIMIT ?"
    )
    with _connect(db) as conn:
        rows = conn.execute(sql, [source, target, *params, limit]).fetchall()
    return [EdgeHandoff(r[0], r[1], r[2], r[3], _preview(r[4]), int(r[5] or 0)) for r in rows]


def _preview(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return str(_json(value))
