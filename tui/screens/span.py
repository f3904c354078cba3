"""Span detail: everything about one span; `p` jumps to a handoff's producer."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from collector import queries
from tui.layout.detail import detail_sections, handoff_producers
from tui.messages import SpanDetailLoaded
from tui.widgets.key_bar import KeyBar
from tui.workers import ReportsWorkerErrors

if TYPE_CHECKING:
    from tui.app import HoptraceApp

__all__ = ["SpanScreen"]


class SpanScreen(ReportsWorkerErrors, Screen[str | None]):
    """Dismisses with the producer span id when the user jumps to it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("p", "producer", "Jump to producer"),
    ]

    def __init__(self, trace_id: str, span_id: str) -> None:
        super().__init__()
        self.trace_id = trace_id
        self.span_id = span_id
        self.producers: list[tuple[str, str]] = []

    @property
    def hoptrace(self) -> HoptraceApp:
        """The app, typed."""
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield VerticalScroll(Static(f"span {self.span_id} (loading…)"), id="span-detail")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#span-detail").focus()
        self._load(self.trace_id, self.span_id)

    @work(
        thread=True,
        exclusive=True,
        group="span",
        exit_on_error=False,
        description="Reading the span",
    )
    def _load(self, trace_id: str, span_id: str) -> None:
        detail = queries.span_detail(self.hoptrace.db, trace_id, span_id)
        self.post_message(SpanDetailLoaded(trace_id, span_id, detail))

    @on(SpanDetailLoaded)
    async def _loaded(self, message: SpanDetailLoaded) -> None:
        body = self.query_one("#span-detail", VerticalScroll)
        await body.remove_children()
        if message.detail is None:
            await body.mount(Static(f"span {message.span_id} is not in the store", markup=False))
            return
        self.producers = handoff_producers(message.detail)
        widgets = []
        for title, text in detail_sections(message.detail):
            widgets.append(Static(title, classes="section-title", markup=False))
            widgets.append(Static(text, classes="section-body", markup=False))
        await body.mount_all(widgets)

    def action_back(self) -> None:
        """Close."""
        self.dismiss(None)

    def action_producer(self) -> None:
        """Jump to the span that handed data or work to this one."""
        if not self.producers:
            self.notify("No handoff into this span.", severity="warning")
            return
        self.dismiss(self.producers[0][0])
