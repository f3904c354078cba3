"""Lay a `HandoffGraph` out on a character grid: boxes, orthogonal edges, labels, hit boxes.

grandalf's Sugiyama layout does the graph part (layering with cycle breaking,
dummy vertices for long edges, crossing reduction, x coordinates); this module
only turns its coordinates into terminal cells. Between two layers each edge
segment leaves its upper box through its own port, runs along a track row (tracks
are shared by segments whose spans do not overlap) and drops into its lower box;
edges grandalf reversed to break a cycle keep their arrow pointing up. Pure: no
DuckDB, no Textual, so `hoptrace graph --format text` and the TUI draw the same.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from collector.queries._fmt import fmt_cost, fmt_duration
from collector.queries._graph import GraphEdge, GraphNode, HandoffGraph
from collector.queries._graph_canvas import Canvas

__all__ = ["EdgeRoute", "GraphGrid", "NodeBox", "layout_graph", "node_lines"]

BOX_H = 4
X_SPACE = 4
COMPONENT_GAP = 6


@dataclass(frozen=True, slots=True)
class NodeBox:
    """Where an agent's box is: top-left cell, size."""

    agent: str
    row: int
    col: int
    width: int
    height: int

    def contains(self, row: int, col: int) -> bool:
        """Whether the cell is inside the box."""
        return self.row <= row < self.row + self.height and self.col <= col < self.col + self.width


@dataclass(frozen=True, slots=True)
class EdgeRoute:
    """The cells one edge occupies (line and label); `edge` is its index in `graph.edges`."""

    edge: int
    source: str
    target: str
    cells: frozenset[tuple[int, int]]
    label: tuple[int, int, int] | None
    """(row, col, length) of the label, when it found room on the grid."""


@dataclass(frozen=True, slots=True)
class GraphGrid:
    """Text lines, a style tag per cell ("" for none), and the hit boxes."""

    lines: tuple[str, ...]
    styles: tuple[tuple[str, ...], ...]
    nodes: tuple[NodeBox, ...]
    edges: tuple[EdgeRoute, ...]

    @property
    def width(self) -> int:
        """Widest line."""
        return max((len(line) for line in self.lines), default=0)

    def node_at(self, row: int, col: int) -> NodeBox | None:
        """The box under a cell."""
        return next((n for n in self.nodes if n.contains(row, col)), None)

    def edge_at(self, row: int, col: int) -> EdgeRoute | None:
        """The edge under a cell (its line or its label)."""
        for route in self.edges:
            if (row, col) in route.cells:
                return route
            if route.label and route.label[0] == row and 0 <= col - route.label[1] < route.label[2]:
                return route
        return None


def node_lines(node: GraphNode, loops: int = 0) -> tuple[str, str]:
    """The two text lines of a box: the name, then invocations, time, cost, errors, self-loops."""
    stats = f"{node.invocations}× {fmt_duration(node.duration_ms) or '-'} {fmt_cost(node.cost_usd)}"
    if node.error_count:
        stats += f" ✗{node.error_count}"
    if loops:
        stats += f" ↻{loops}"
    return node.agent, stats


def _edge_style(edge: GraphEdge) -> str:
    if edge.errors:
        return "edge-error"
    if edge.rejections:
        return "edge-reject"
    return "edge-critical" if edge.critical else "edge"


def _node_style(node: GraphNode) -> str:
    if node.error_count:
        return "node-error"
    return "node-critical" if node.critical_path_ms else "node"


@dataclass
class _Item:
    """A box or a dummy (one column) in a layer, after grandalf placed it."""

    key: object
    rank: int
    x: float
    width: int
    col: int = 0


@dataclass
class _Segment:
    """One edge between adjacent layers: upper item to lower item."""

    edge: int
    upper: _Item
    lower: _Item
    rank: int
    up_col: int = 0
    low_col: int = 0
    track: int = -1
    first: bool = False  # touches the edge's upper end (a node, not a dummy)
    last: bool = False


def _place(graph: HandoffGraph, widths: dict[str, int]) -> tuple[list[_Item], list[_Segment]]:
    """Sugiyama through grandalf, one connected component after the other, left to right."""
    from grandalf.graphs import Edge, Vertex, graph_core
    from grandalf.layouts import SugiyamaLayout

    class _View:
        def __init__(self, w: int) -> None:
            self.w, self.h, self.xy = w, BOX_H, (0.0, 0.0)

    vertices = {n.agent: Vertex(n.agent) for n in graph.nodes}
    for agent, v in vertices.items():
        v.view = _View(widths[agent])
    edges = []
    for i, e in enumerate(graph.edges):
        if e.source != e.target and e.source in vertices and e.target in vertices:
            edges.append(Edge(vertices[e.source], vertices[e.target], data=i))
    # components built here, in name order: grandalf's Graph collects each one's
    # edges in a set, so its layout would change from one process to the next
    components = []
    for vs, es in _components(list(vertices.values()), edges):
        components.append(graph_core(vs, es))
    items: list[_Item] = []
    segments: list[_Segment] = []
    offset = 0.0
    for comp in components:
        sug = SugiyamaLayout(comp)
        sug.xspace, sug.yspace, sug.dw, sug.dh = X_SPACE, 1, 1, BOX_H
        order = list(comp.sV)
        roots = [v for v in order if not v.e_in()]
        if not roots:  # a pure cycle: start where most leaves
            roots = [max(order, key=lambda v: (len(v.e_out()), v.data))]
        sug.init_all(roots=roots)
        sug.draw()
        mine: dict[object, _Item] = {}
        for layer in sug.layers:
            for v in layer:
                real = isinstance(v, Vertex)
                width = widths[v.data] if real else 1
                item = _Item(v.data if real else v, sug.grx[v].rank, v.view.xy[0], width)
                mine[v] = item
        low = min((it.x - it.width / 2 for it in mine.values()), default=0.0)
        for it in mine.values():
            it.x += offset - low
        items.extend(mine.values())
        offset = max((it.x + it.width / 2 for it in items), default=0.0) + COMPONENT_GAP
        for e in comp.sE:
            chain = _chain(sug, e)
            for k, (a, b) in enumerate(itertools.pairwise(chain)):
                segments.append(
                    _Segment(
                        e.data, mine[a], mine[b], mine[a].rank, first=k == 0,
                        last=k == len(chain) - 2,
                    )
                )  # fmt: skip
    return items, segments


def _components(vertices: list[Any], edges: list[Any]) -> list[tuple[list[Any], list[Any]]]:
    """Connected components, vertices and edges each in the order given."""
    group = {id(v): i for i, v in enumerate(vertices)}

    def find(i: int) -> int:
        while group[id(vertices[i])] != i:
            i = group[id(vertices[i])]
        return i

    for e in edges:
        a, b = find(group[id(e.v[0])]), find(group[id(e.v[1])])
        if a != b:
            group[id(vertices[max(a, b)])] = min(a, b)
    roots: dict[int, tuple[list[Any], list[Any]]] = {}
    for i, v in enumerate(vertices):
        roots.setdefault(find(i), ([], []))[0].append(v)
    for e in edges:
        roots[find(group[id(e.v[0])])][1].append(e)
    return list(roots.values())


def _chain(sug: object, e: object) -> list[object]:
    """The edge's vertices from its upper end to its lower end, dummies between."""
    v0, v1 = e.v  # type: ignore[attr-defined]
    grx = sug.grx  # type: ignore[attr-defined]
    if grx[v0].rank > grx[v1].rank:
        v0, v1 = v1, v0
    ctrl = sug.ctrls.get(e)  # type: ignore[attr-defined]
    if not ctrl:
        return [v0, v1]
    return [ctrl[r] for r in range(grx[v0].rank, grx[v1].rank + 1)]


def _columns(items: list[_Item]) -> None:
    """Integer columns in grandalf's order, never overlapping after rounding."""
    by_rank: dict[int, list[_Item]] = defaultdict(list)
    for it in items:
        by_rank[it.rank].append(it)
    for layer in by_rank.values():
        layer.sort(key=lambda it: it.x)
        right = -2
        for it in layer:
            it.col = max(round(it.x - it.width / 2), right + 2)
            right = it.col + it.width - 1
    shift = min((it.col for it in items), default=0)
    for it in items:
        it.col -= shift


def _ports(segments: list[_Segment]) -> None:
    """Spread the segments leaving (entering) a box over its bottom (top) border."""
    down: dict[int, list[_Segment]] = defaultdict(list)
    up: dict[int, list[_Segment]] = defaultdict(list)
    for s in segments:
        down[id(s.upper)].append(s)
        up[id(s.lower)].append(s)

    def spread(item: _Item, group: list[_Segment], attr: str, other: str) -> None:
        group.sort(key=lambda s: (getattr(s, other).col, s.edge))
        if item.width == 1:
            for s in group:
                setattr(s, attr, item.col)
            return
        inner = item.width - 2
        for i, s in enumerate(group):
            step = (i + 1) * inner // (len(group) + 1)
            setattr(s, attr, item.col + 1 + min(inner - 1, step))

    for group in down.values():
        spread(group[0].upper, group, "up_col", "lower")
    for group in up.values():
        spread(group[0].lower, group, "low_col", "upper")


def _unclash(segments: Sequence[_Segment]) -> None:
    """Move a lower port off a column an upper port uses in the same gap.

    Otherwise the two verticals would share cells between their track rows and
    read as one line.
    """
    ups = {s.up_col for s in segments}
    lows = {s.low_col for s in segments}
    for s in segments:
        if s.low_col == s.up_col or s.low_col not in ups:
            continue
        item = s.lower
        for col in (s.low_col + 1, s.low_col - 1, s.low_col + 2, s.low_col - 2):
            inside = item.width > 2 and item.col < col < item.col + item.width - 1
            if inside and col not in ups and col not in lows:
                lows.discard(s.low_col)
                s.low_col = col
                lows.add(col)
                break


def _tracks(segments: Sequence[_Segment]) -> int:
    """Give each bending segment a track row; returns how many tracks the gap needs."""
    bends = sorted(
        (s for s in segments if s.up_col != s.low_col),
        key=lambda s: (min(s.up_col, s.low_col), max(s.up_col, s.low_col)),
    )
    ends: list[int] = []  # rightmost column used on each track
    for s in bends:
        lo, hi = min(s.up_col, s.low_col), max(s.up_col, s.low_col)
        for t, end in enumerate(ends):
            if end + 1 < lo:
                ends[t], s.track = hi, t
                break
        else:
            s.track = len(ends)
            ends.append(hi)
    return len(ends)


def layout_graph(graph: HandoffGraph) -> GraphGrid:
    """The whole graph on a character grid, top to bottom (who hands over above whom)."""
    if not graph.nodes:
        return GraphGrid(("No agents.",), (("",) * 10,), (), ())
    loops = {e.source: e.count for e in graph.edges if e.source == e.target}
    texts = {n.agent: node_lines(n, loops.get(n.agent, 0)) for n in graph.nodes}
    widths = {a: max(len(t[0]), len(t[1])) + 4 for a, t in texts.items()}
    items, segments = _place(graph, widths)
    _columns(items)
    _ports(segments)
    by_gap: dict[int, list[_Segment]] = defaultdict(list)
    for s in segments:
        by_gap[s.rank].append(s)
    ranks = max((it.rank for it in items), default=0) + 1
    tops, row = [], 0
    gaps: dict[int, int] = {}
    for r in range(ranks):
        tops.append(row)
        # stub row, tracks, label row, arrow row
        _unclash(by_gap.get(r, []))
        gaps[r] = 3 + max(1, _tracks(by_gap.get(r, []))) if r < ranks - 1 else 0
        row += BOX_H + gaps[r]
    canvas = Canvas()
    boxes: list[NodeBox] = []
    for it in items:
        if not isinstance(it.key, str):
            continue  # a dummy: drawn as its edge's line through the layer
        node = graph.by_agent[it.key]
        style = _node_style(node)
        box = NodeBox(it.key, tops[it.rank], it.col, it.width, BOX_H)
        boxes.append(box)
        inner = it.width - 2
        name, stats = texts[it.key]
        canvas.text(box.row, box.col, "┌" + "─" * inner + "┐", style)
        canvas.text(box.row + 1, box.col, "│" + f" {name}".ljust(inner) + "│", style + " name")
        canvas.text(box.row + 2, box.col, "│" + f" {stats}".ljust(inner) + "│", style)
        canvas.text(box.row + 3, box.col, "└" + "─" * inner + "┘", style)
    routes = _route(graph, segments, tops, canvas)
    lines, styles = canvas.render()
    boxes.sort(key=lambda b: (b.row, b.col))
    return GraphGrid(lines, styles, tuple(boxes), routes)


def _route(
    graph: HandoffGraph, segments: list[_Segment], tops: list[int], canvas: Canvas
) -> tuple[EdgeRoute, ...]:
    cells: dict[int, set[tuple[int, int]]] = defaultdict(set)
    # where the label goes: near the end the arrow points into
    label_spots: dict[int, list[tuple[int, int]]] = defaultdict(list)
    # an edge grandalf reversed to break a cycle has its target on top
    up = {s.edge for s in segments if s.first and s.upper.key == graph.edges[s.edge].target}
    for s in segments:
        edge = graph.edges[s.edge]
        style = _edge_style(edge)
        points_up = s.edge in up
        top = tops[s.rank] + BOX_H  # first row under the upper layer's boxes
        bottom = tops[s.rank + 1] - 1  # last row above the lower layer's boxes
        track = top + 1 + max(0, s.track)
        mine = cells[s.edge]
        if s.up_col == s.low_col:
            canvas.line((top, s.up_col), (bottom, s.low_col), style, mine)
        else:
            canvas.line((top, s.up_col), (track, s.up_col), style, mine)
            canvas.line((track, s.up_col), (track, s.low_col), style, mine)
            canvas.line((track, s.low_col), (bottom, s.low_col), style, mine)
        # a dummy below: carry the line through that layer's box rows
        if not isinstance(s.lower.key, str):
            canvas.line((bottom, s.low_col), (bottom + BOX_H + 1, s.low_col), style, mine)
        if points_up and s.first:
            canvas.text(top, s.up_col, "▲", style)
            canvas.style[(top, s.up_col)] = style
            label_spots[s.edge] += [(r, s.up_col) for r in range(top, bottom + 1)]
        if not points_up and s.last:
            canvas.text(bottom, s.low_col, "▼", style)
            label_spots[s.edge] += [(bottom - 1, s.low_col), (bottom, s.low_col)] + [
                (r, s.low_col) for r in range(bottom - 2, top - 1, -1)
            ]
        if isinstance(s.upper.key, str) and s.first:
            canvas.chars[(top - 1, s.up_col)] = "┬"
        if isinstance(s.lower.key, str) and s.last:
            canvas.chars[(bottom + 1, s.low_col)] = "┴"
    routes = []
    for i, edge in enumerate(graph.edges):
        if i not in cells:
            continue
        # no room near the arrow: anywhere beside the edge's own line, lowest first
        spots = label_spots.get(i, []) + sorted(cells[i], key=lambda rc: (-rc[0], rc[1]))
        label = _put_label(canvas, edge, spots)
        routes.append(EdgeRoute(i, edge.source, edge.target, frozenset(cells[i]), label))
    return tuple(routes)


def _put_label(
    canvas: Canvas, edge: GraphEdge, spots: list[tuple[int, int]]
) -> tuple[int, int, int] | None:
    text = edge.label
    style = _edge_style(edge) + " label"
    for row, col in spots:
        for start in (col + 2, col - len(text) - 1):
            if canvas.free(row, start, len(text)):
                canvas.text(row, start, text, style)
                return (row, start, len(text))
    return None
