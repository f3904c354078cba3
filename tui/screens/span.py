"""Span detail: everything about one span; `p` jumps to a handoff's producer.

A model call's detail (and an agent's: the calls it made, in order) includes the
conversation as a chat transcript (tui.layout.transcript): `e` expands or folds long
parts, `/` searches inside it, `n` / `N` go to the next / previous match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Input, Static

from collector import queries
from collector.queries import SpanConversation
from tui.layout.detail import CONVERSATION, detail_sections, handoff_producers
from tui.layout.transcript import TranscriptLine, search_lines, transcript_lines
from tui.messages import SpanDetailLoaded
from tui.widgets.key_bar import KeyBar
from tui.workers import ReportsWorkerErrors

if TYPE_CHECKING:
    from tui.app import HoptraceApp

__all__ = ["SpanScreen"]

_ROLE_STYLES = {"system": "magenta", "user": "cyan", "assistant": "green", "tool": "yellow"}


@dataclass
class SpanLoaded(SpanDetailLoaded):
    """A span's details and its conversation were read (detail None: not in the store)."""

    conversation: SpanConversation | None = None


def render_transcript(lines: list[TranscriptLine], term: str, current: int | None) -> Text:
    """The transcript as Rich text: role lines bold (and coloured), search hits reversed."""
    text = Text(no_wrap=False)
    needle = term.casefold()
    for i, line in enumerate(lines):
        style = ""
        if line.kind == "header":
            style = "bold"
        elif line.kind == "role":
            style = "bold " + _ROLE_STYLES.get(line.role or "", "")
        elif line.kind in ("fold", "meta"):
            style = "dim"
        piece = Text(line.text, style=style.strip())
        if needle:
            piece.highlight_words([term], style="reverse", case_sensitive=False)
            if i == current:
                piece.stylize("underline")
        text.append_text(piece)
        if i < len(lines) - 1:
            text.append("\n")
    return text


class SpanScreen(ReportsWorkerErrors, Screen[str | None]):
    """Dismisses with the producer span id when the user jumps to it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("p", "producer", "Jump to producer"),
        Binding("e", "expand", "Expand/fold messages"),
        Binding("slash", "search", "Search transcript"),
        Binding("n", "next_match(1)", "Next match", show=False),
        Binding("N", "next_match(-1)", "Previous match", show=False),
    ]

    def __init__(self, trace_id: str, span_id: str) -> None:
        super().__init__()
        self.trace_id = trace_id
        self.span_id = span_id
        self.producers: list[tuple[str, str]] = []
        self.conversation: SpanConversation | None = None
        self.expanded = False
        self.term = ""
        self.lines: list[TranscriptLine] = []
        self.matches: list[int] = []
        self.match_at = -1

    @property
    def hoptrace(self) -> HoptraceApp:
        """The app, typed."""
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield VerticalScroll(Static(f"span {self.span_id} (loading…)"), id="span-detail")
        yield Input(
            placeholder="search the transcript (enter: find, esc: close)", id="transcript-search"
        )
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#transcript-search").display = False
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
        with queries.reader(self.hoptrace.db) as r:
            detail = queries.span_detail(r, trace_id, span_id)
            conversation = (
                None if detail is None else queries.span_conversation(r, trace_id, span_id)
            )
        self.post_message(SpanLoaded(trace_id, span_id, detail, conversation))

    @on(SpanLoaded)
    async def _loaded(self, message: SpanLoaded) -> None:
        body = self.query_one("#span-detail", VerticalScroll)
        await body.remove_children()
        if message.detail is None:
            await body.mount(Static(f"span {message.span_id} is not in the store", markup=False))
            return
        self.producers = handoff_producers(message.detail)
        self.conversation = message.conversation
        widgets = []
        for title, text in detail_sections(message.detail, message.conversation):
            if title == CONVERSATION:
                title = "Conversation (e: expand/fold · /: search · n/N: next/previous match)"
                widgets.append(Static(title, classes="section-title", markup=False))
                widgets.append(Static("", id="transcript", classes="section-body transcript"))
                continue
            widgets.append(Static(title, classes="section-title", markup=False))
            widgets.append(Static(text, classes="section-body", markup=False))
        await body.mount_all(widgets)
        self._render_transcript()

    def _render_transcript(self) -> None:
        if self.conversation is None or not self.conversation.calls:
            return
        self.lines = transcript_lines(self.conversation, self.expanded)
        self.matches = search_lines(self.lines, self.term)
        current = self.matches[self.match_at] if 0 <= self.match_at < len(self.matches) else None
        widget = self.query("#transcript").first(Static)
        widget.update(render_transcript(self.lines, self.term, current))

    def action_back(self) -> None:
        """Close (or close the search box first)."""
        search = self.query_one("#transcript-search", Input)
        if search.display:
            search.display = False
            self.query_one("#span-detail").focus()
            return
        self.dismiss(None)

    def action_producer(self) -> None:
        """Jump to the span that handed data or work to this one."""
        if not self.producers:
            self.notify("No handoff into this span.", severity="warning")
            return
        self.dismiss(self.producers[0][0])

    def action_expand(self) -> None:
        """Show long messages in full, or fold them again."""
        self.expanded = not self.expanded
        self._render_transcript()

    def action_search(self) -> None:
        """Open the transcript search box."""
        if self.conversation is None or not self.conversation.calls:
            self.notify("No conversation recorded for this span.", severity="warning")
            return
        search = self.query_one("#transcript-search", Input)
        search.display = True
        search.focus()

    @on(Input.Submitted, "#transcript-search")
    def _search(self, event: Input.Submitted) -> None:
        self.term = event.value
        # a match may sit inside a folded part: searching shows everything
        self.expanded = self.expanded or bool(self.term.strip())
        self.match_at = 0
        self._render_transcript()
        event.input.display = False
        self.query_one("#span-detail").focus()
        if not self.matches:
            self.notify(f"No match for {self.term!r}.", severity="warning")
            return
        self.notify(f"{len(self.matches)} matching lines")
        self._scroll_to_match()

    def action_next_match(self, step: int) -> None:
        """Go to the next (1) or previous (-1) search match."""
        if not self.matches:
            return
        self.match_at = (self.match_at + step) % len(self.matches)
        self._render_transcript()
        self._scroll_to_match()

    def _scroll_to_match(self) -> None:
        widget = self.query("#transcript").first(Static)
        body = self.query_one("#span-detail", VerticalScroll)
        line = self.matches[self.match_at]
        # the transcript does not wrap its short lines, so line i is about row i
        y = widget.virtual_region.y + line
        body.scroll_to(y=max(0, y - 3), animate=False)
