"""`g` on the runs list: the handoff graph aggregated over the runs the filter shows."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Label

from collector.queries import RunFilter
from tui.messages import OpenSpan, StoreChanged
from tui.widgets.graph_view import GraphPanel
from tui.widgets.key_bar import KeyBar

if TYPE_CHECKING:
    from tui.app import HoptraceApp

__all__ = ["GraphScreen", "filter_text"]


def filter_text(flt: RunFilter) -> str:
    """The filter in words, for the title."""
    parts = []
    if flt.status:
        parts.append(f"status {flt.status}")
    if flt.name:
        parts.append(f"name ~ {flt.name!r}")
    if flt.text:
        parts.append(f"search {flt.text!r}")
    return ", ".join(parts) or "all runs"


class GraphScreen(Screen[None]):
    """Agents and handoffs over many runs; `enter` on an edge lists its handoffs."""

    AUTO_FOCUS = "#graph-grid"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("g", "focus_graph", "Graph", show=False),
    ]

    def __init__(self, flt: RunFilter | None = None) -> None:
        super().__init__()
        self.flt = flt or RunFilter()

    @property
    def hoptrace(self) -> HoptraceApp:
        """The app, typed."""
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Label(f"Handoff graph: {filter_text(self.flt)}", id="graph-title", markup=False)
        panel = GraphPanel(db=self.hoptrace.db, flt=self.flt, id="graph-panel")
        yield panel
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one(GraphPanel).load()

    @on(StoreChanged)
    def _store_changed(self) -> None:
        self.query_one(GraphPanel).load()

    def action_focus_graph(self) -> None:
        """Back from the handoff list to the graph."""
        self.query_one(GraphPanel).focus()

    @on(OpenSpan)
    def _open_span(self, message: OpenSpan) -> None:
        message.stop()
        from tui.screens.span import SpanScreen

        def jumped(producer: str | None) -> None:
            if producer:
                self.app.push_screen(SpanScreen(message.trace_id, producer), jumped)

        self.app.push_screen(SpanScreen(message.trace_id, message.span_id), jumped)
