"""The handoff graph's geometry for the TUI: the collector's pure grid layout, plus navigation.

The grid itself is built in `collector.queries` (so `hoptrace graph --format text`
prints the very same picture without importing the TUI); what the TUI adds is the
order the cursor walks: nodes top to bottom, left to right, then edges by where
their line starts, and the edge nearest in a direction for the arrow keys.
"""

from __future__ import annotations

from collections.abc import Sequence

from collector.queries import (
    EdgeHandoff,
    EdgeRoute,
    GraphEdge,
    GraphGrid,
    HandoffGraph,
    NodeBox,
    layout_graph,
)

from .fmt import fmt_time, truncate
from .lines import Line

__all__ = [
    "EdgeRoute",
    "GraphGrid",
    "NodeBox",
    "Target",
    "handoff_lines",
    "layout_graph",
    "nearest",
    "node_lines",
    "targets",
]

Target = tuple[str, int]
"""("node", index into grid.nodes) or ("edge", index into grid.edges)."""


def _anchor(grid: GraphGrid, target: Target) -> tuple[float, float]:
    """A representative cell: a box's centre, an edge's label or the middle of its line."""
    kind, i = target
    if kind == "node":
        b = grid.nodes[i]
        return b.row + b.height / 2, b.col + b.width / 2
    route = grid.edges[i]
    if route.label is not None:
        row, col, length = route.label
        return row, col + length / 2
    cells = sorted(route.cells)
    return cells[len(cells) // 2] if cells else (0.0, 0.0)


def targets(grid: GraphGrid) -> list[Target]:
    """Everything the cursor can select, in reading order (nodes, then edges)."""
    nodes = [("node", i) for i in range(len(grid.nodes))]
    edges = sorted((("edge", i) for i in range(len(grid.edges))), key=lambda t: _anchor(grid, t))
    return nodes + edges


def nearest(grid: GraphGrid, current: Target, direction: str, among: Sequence[Target]) -> Target:
    """The selectable item closest to `current` in a direction (up, down, left, right).

    Distance favours the direction's axis: moving down picks what is below and most
    nearly in the same column. Nothing there: stay.
    """
    r0, c0 = _anchor(grid, current)
    best: tuple[float, Target] | None = None
    for t in among:
        if t == current:
            continue
        r, c = _anchor(grid, t)
        dr, dc = r - r0, c - c0
        along, across = {
            "down": (dr, abs(dc)),
            "up": (-dr, abs(dc)),
            "right": (dc, abs(dr)),
            "left": (-dc, abs(dr)),
        }[direction]
        if along <= 0.5:
            continue
        # a row is about two columns wide on screen
        score = along + 2 * across if direction in ("down", "up") else along + 4 * across
        if best is None or score < best[0]:
            best = (score, t)
    return best[1] if best else current


def handoff_lines(
    edge: GraphEdge, rows: list[EdgeHandoff], *, many_runs: bool = True
) -> tuple[list[Line], list[str | None]]:
    """The edge in words, then one line per handoff: (when, run,) kind, what the receiver got."""
    kinds = ", ".join(f"{n} {k}" for k, n in edge.kinds)
    marks = []
    if edge.errors:
        marks.append(f"✗ {edge.errors} error hop(s) crossed")
    if edge.rejections:
        marks.append(f"⊘ {edge.rejections} rejection(s)")
    if edge.critical:
        marks.append("on the critical path")
    head = f"{edge.source} → {edge.target}: {kinds}" + (f"  ({', '.join(marks)})" if marks else "")
    lines = [Line(head, "header")]
    ids: list[str | None] = [None]
    if not rows:
        lines.append(Line("No handoffs recorded along this edge.", "muted"))
        ids.append(None)
    for h in rows:
        span = h.to_span_id or h.from_span_id
        got = truncate(" ".join((h.payload_preview or "(no payload captured)").split()), 200)
        where = "" if h.to_span_id else "  (receiver never ran)"
        run = f"{fmt_time(h.start_ns)}  run {h.trace_id[:8]}  " if many_runs else ""
        lines.append(Line(f"{run}{h.kind:<8}  {got}{where}", "text", span))
        ids.append(h.trace_id)
    return lines, ids


def node_lines(graph: HandoffGraph, agent: str) -> list[Line]:
    """An agent's numbers and its edges in and out."""
    node = graph.by_agent[agent]
    cost = "n/a" if node.cost_usd is None else f"${node.cost_usd:.4f}"
    runs = f" in {node.runs} runs" if graph.trace_id is None else ""
    lines = [
        Line(
            f"{agent}: {node.invocations} invocations{runs}, {node.error_count} errors, own cost {cost}",
            "header",
        )
    ]
    for e in graph.edges:
        if agent in (e.source, e.target):
            lines.append(Line(f"  {e.source} → {e.target}: {e.label}", "muted"))
    lines.append(Line("tab / arrows: select an edge; enter lists its handoffs", "muted"))
    return lines
