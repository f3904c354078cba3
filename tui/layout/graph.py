"""The handoff graph's geometry for the TUI: the collector's pure grid layout, plus navigation.

The grid itself is built in `collector.queries` (so `hoptrace graph --format text`
prints the very same picture without importing the TUI); what the TUI adds is the
order the cursor walks: nodes top to bottom, left to right, then edges by where
their line starts, and the edge nearest in a direction for the arrow keys.
"""

from __future__ import annotations

from collections.abc import Sequence

from collector.queries import EdgeRoute, GraphGrid, NodeBox, layout_graph

__all__ = ["EdgeRoute", "GraphGrid", "NodeBox", "Target", "layout_graph", "nearest", "targets"]

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
