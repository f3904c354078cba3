"""The handoff graph on screen: the laid-out grid, a cursor over nodes and edges, and the
handoffs of the selected edge below it.

`GraphView` only paints `collector.queries.layout_graph`'s cells (Line API, one
strip per row) and moves a selection with `tui.layout.graph.nearest`; `GraphPanel`
puts it over a `HandoffList` and does the reading: in a run the handoffs come from
the bundle the run screen already has, aggregated they are queried in a worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Label
from textual.worker import get_current_worker

from collector import queries
from collector.queries import EdgeHandoff, GraphEdge, HandoffGraph, RunBundle, RunFilter
from tui.layout.graph import (
    GraphGrid,
    Target,
    handoff_lines,
    layout_graph,
    nearest,
    node_lines,
    targets,
)
from tui.layout.lines import Line
from tui.messages import OpenSpan
from tui.widgets.lines_view import LinesView
from tui.workers import ReportsWorkerErrors

__all__ = ["GraphLaidOut", "GraphPanel", "GraphView", "HandoffList"]


@dataclass
class GraphLaidOut(Message):
    """A graph was read (or built from a bundle) and laid out off the UI thread."""

    graph: HandoffGraph
    grid: GraphGrid


@dataclass
class EdgeHandoffsLoaded(Message):
    """The handoffs along one edge, read for the aggregated graph."""

    edge: GraphEdge
    rows: list[EdgeHandoff]


class GraphView(ScrollView, can_focus=True):
    """The grid; arrows (or h j k l) move to the nearest node or edge, tab walks them all."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move('up')", "Up", show=False),
        Binding("down,j", "move('down')", "Down", show=False),
        Binding("left,h", "move('left')", "Left", show=False),
        Binding("right,l", "move('right')", "Right", show=False),
        Binding("tab", "step(1)", "Next node / edge"),
        Binding("shift+tab", "step(-1)", "Previous node / edge", show=False),
        Binding("enter", "choose", "Handoffs of the edge"),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "graph--node",
        "graph--node-error",
        "graph--node-critical",
        "graph--edge",
        "graph--edge-error",
        "graph--edge-reject",
        "graph--edge-critical",
        "graph--name",
        "graph--label",
        "graph--selected",
    }

    @dataclass
    class Selected(Message):
        """The cursor moved to a node or an edge (`chosen`: Enter was pressed)."""

        view: GraphView
        target: Target
        chosen: bool = False

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.grid: GraphGrid | None = None
        self.graph: HandoffGraph | None = None
        self.order: list[Target] = []
        self.selected: Target | None = None
        self._cells: frozenset[tuple[int, int]] = frozenset()
        self._styles: dict[str, Style] = {}

    def set_grid(self, graph: HandoffGraph, grid: GraphGrid) -> None:
        """Show a new layout, keeping the selection on the same agent or edge if it is still there."""
        old = self.describe(self.selected)
        self.graph, self.grid = graph, grid
        self.order = targets(grid)
        self._styles = {}
        self.virtual_size = Size(grid.width + 1, len(grid.lines))
        again = next((t for t in self.order if self.describe(t) == old), None)
        self._select(again or (self.order[0] if self.order else None), announce=True)

    def describe(self, target: Target | None) -> tuple[str, ...] | None:
        """A selection by name ("node", agent) / ("edge", source, target), stable across layouts."""
        if target is None or self.grid is None:
            return None
        kind, i = target
        if kind == "node":
            return ("node", self.grid.nodes[i].agent)
        route = self.grid.edges[i]
        return ("edge", route.source, route.target)

    def edge_of(self, target: Target) -> GraphEdge | None:
        """The graph edge a target stands for."""
        if target[0] != "edge" or self.grid is None or self.graph is None:
            return None
        return self.graph.edges[self.grid.edges[target[1]].edge]

    def _select(
        self, target: Target | None, *, announce: bool = True, chosen: bool = False
    ) -> None:
        self.selected = target
        self._cells = frozenset()
        if target is not None and self.grid is not None:
            kind, i = target
            if kind == "node":
                b = self.grid.nodes[i]
                self._cells = frozenset(
                    (r, c)
                    for r in range(b.row, b.row + b.height)
                    for c in range(b.col, b.col + b.width)
                )
                region = Region(b.col, b.row, b.width, b.height)
            else:
                route = self.grid.edges[i]
                cells = set(route.cells)
                if route.label:
                    row, col, length = route.label
                    cells.update((row, col + k) for k in range(length))
                self._cells = frozenset(cells)
                rows = [r for r, _ in cells]
                cols = [c for _, c in cells]
                region = Region(
                    min(cols), min(rows), max(cols) - min(cols) + 1, max(rows) - min(rows) + 1
                )
            self.scroll_to_region(region, animate=False, immediate=True)
            if announce:
                self.post_message(self.Selected(self, target, chosen))
        self.refresh()

    def _style(self, tag: str) -> Style:
        style = self._styles.get(tag)
        if style is None:
            base, *extra = tag.split()
            style = self.get_component_rich_style(f"graph--{base}")
            for more in extra:
                style += self.get_component_rich_style(f"graph--{more}")
            self._styles[tag] = style
        return style

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        row = round(self.scroll_offset.y) + y
        grid = self.grid
        if grid is None or row >= len(grid.lines):
            return Strip.blank(width, self.rich_style)
        text, tags = grid.lines[row], grid.styles[row]
        selected = self.get_component_rich_style("graph--selected")
        segments: list[Segment] = []
        start = 0
        for col in range(1, len(text) + 1):
            # one segment per run of cells that look alike
            if (
                col < len(text)
                and tags[col] == tags[start]
                and (((row, col) in self._cells) == ((row, start) in self._cells))
            ):
                continue
            style = self.rich_style + self._style(tags[start]) if tags[start] else self.rich_style
            if (row, start) in self._cells:
                style += selected
            segments.append(Segment(text[start:col], style))
            start = col
        strip = Strip(segments).extend_cell_length(
            max(width, self.virtual_size.width), self.rich_style
        )
        x = round(self.scroll_offset.x)
        return strip.crop(x, x + width)

    def action_move(self, direction: str) -> None:
        """To the nearest node or edge in that direction."""
        if self.grid is None or self.selected is None:
            return
        self._select(nearest(self.grid, self.selected, direction, self.order))

    def action_step(self, delta: int) -> None:
        """Next / previous node or edge in reading order (nodes first, then edges)."""
        if not self.order:
            return
        i = self.order.index(self.selected) if self.selected in self.order else -delta
        self._select(self.order[(i + delta) % len(self.order)])

    def action_choose(self) -> None:
        """Show (and move into) the selected edge's handoffs."""
        if self.selected is not None:
            self._select(self.selected, chosen=True)

    def on_click(self, event: events.Click) -> None:
        """Select what was clicked; a double click chooses it."""
        if self.grid is None:
            return
        row, col = round(self.scroll_offset.y) + event.y, round(self.scroll_offset.x) + event.x
        route = self.grid.edge_at(row, col)
        box = self.grid.node_at(row, col)
        target: Target | None = None
        if box is not None:
            target = ("node", self.grid.nodes.index(box))
        elif route is not None:
            target = ("edge", self.grid.edges.index(route))
        if target is not None:
            self._select(target, chosen=event.chain >= 2)


class HandoffList(LinesView):
    """Lines that stand for spans of any run (each line knows its trace)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.trace_ids: list[str | None] = []

    def set_items(self, lines: list[Line], trace_ids: list[str | None]) -> None:
        """Replace the lines; `trace_ids[i]` is the run of line i's span."""
        self.trace_ids = trace_ids
        self.set_lines(lines)

    def action_open(self) -> None:
        """Open the selected handoff's receiving span in its own run."""
        if self.cursor is None:
            return
        span_id = self.lines[self.cursor].span_id
        trace_id = self.trace_ids[self.cursor] if self.cursor < len(self.trace_ids) else None
        if span_id and trace_id:
            self.post_message(OpenSpan(trace_id, span_id))


class GraphPanel(ReportsWorkerErrors, Widget):
    """The graph over the handoffs of its selected edge."""

    def __init__(
        self, *, db: object = None, flt: RunFilter | None = None, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.db = db
        self.flt = flt
        self.bundle: RunBundle | None = None

    def compose(self) -> ComposeResult:
        yield GraphView(id="graph-grid")
        yield Label("", id="graph-caption", markup=False)
        yield HandoffList(id="graph-handoffs")

    @property
    def view(self) -> GraphView:
        """The grid widget."""
        return self.query_one(GraphView)

    @property
    def handoffs(self) -> HandoffList:
        """The list under the grid."""
        return self.query_one(HandoffList)

    def focus(self, scroll_visible: bool = True) -> GraphPanel:
        """Focus lands on the grid (the run screen focuses a tab's container)."""
        self.view.focus(scroll_visible)
        return self

    # --- one run: built from the bundle the run screen read
    def set_bundle(self, bundle: RunBundle) -> None:
        """Lay the run's graph out in a worker."""
        self.bundle = bundle
        self._build(bundle)

    @work(
        thread=True,
        exclusive=True,
        group="graph",
        exit_on_error=False,
        description="Laying out the graph",
    )
    def _build(self, bundle: RunBundle) -> None:
        graph = queries.handoff_graph(bundle)
        grid = layout_graph(graph)
        if not get_current_worker().is_cancelled:
            self.post_message(GraphLaidOut(graph, grid))

    # --- many runs: one grouped query
    def load(self) -> None:
        """Read and lay out the graph over the filtered runs in a worker."""
        self._read(self.db, self.flt)

    @work(
        thread=True,
        exclusive=True,
        group="graph",
        exit_on_error=False,
        description="Reading the graph",
    )
    def _read(self, db: object, flt: RunFilter | None) -> None:
        graph = queries.graph_over_runs(db, flt)  # type: ignore[arg-type]
        grid = layout_graph(graph)
        if not get_current_worker().is_cancelled:
            self.post_message(GraphLaidOut(graph, grid))

    @on(GraphLaidOut)
    def _laid_out(self, message: GraphLaidOut) -> None:
        message.stop()
        graph = message.graph
        scope = "this run" if graph.trace_id else f"{graph.runs} runs"
        more = " (truncated)" if graph.truncated else ""
        self.query_one("#graph-caption", Label).update(
            f"{len(graph.nodes)} agents, {len(graph.edges)} edges over {scope}{more}"
            "   ✗ error crossed  ⊘ rejection  magenta: critical path"
        )
        if not graph.nodes:
            self.handoffs.set_items([Line("No agents in these runs.", "muted")], [None])
        self.view.set_grid(graph, message.grid)

    @on(GraphView.Selected)
    def _selected(self, message: GraphView.Selected) -> None:
        message.stop()
        view = self.view
        edge = view.edge_of(message.target)
        graph = view.graph
        if graph is None:
            return
        if edge is None:
            agent = view.describe(message.target)
            if agent:
                self.handoffs.set_items(node_lines(graph, agent[1]), [])
            return
        if self.bundle is not None:
            rows = [
                EdgeHandoff(
                    graph.trace_id or "", h.kind, h.from_span_id, h.to_span_id, h.payload_preview, 0
                )
                for h in self.bundle.handoffs
                if (h.from_agent, h.to_agent) == (edge.source, edge.target)
            ]
            self._show(edge, rows, message.chosen)
        else:
            self._edge_rows(edge, message.chosen)

    def _show(self, edge: GraphEdge, rows: list[EdgeHandoff], chosen: bool) -> None:
        lines, ids = handoff_lines(edge, rows, many_runs=self.bundle is None)
        self.handoffs.set_items(lines, ids)
        if chosen:
            self.handoffs.focus()

    @work(
        thread=True,
        exclusive=True,
        group="edge",
        exit_on_error=False,
        description="Reading the handoffs",
    )
    def _edge_rows(self, edge: GraphEdge, chosen: bool) -> None:
        rows = queries.edge_handoffs(self.db, edge.source, edge.target, flt=self.flt)  # type: ignore[arg-type]
        if not get_current_worker().is_cancelled:
            self.post_message(EdgeHandoffsLoaded(edge, rows))
            if chosen:
                self.app.call_from_thread(self.handoffs.focus)

    @on(EdgeHandoffsLoaded)
    def _edge_loaded(self, message: EdgeHandoffsLoaded) -> None:
        message.stop()
        self._show(message.edge, message.rows, False)
