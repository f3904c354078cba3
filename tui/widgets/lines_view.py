"""A virtual list of prebuilt text lines with a cursor over the selectable ones.

Used by the errors and cost views: their text is built by `tui.layout.lines`,
this widget only styles it by `Line.kind` and renders what is on screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.segment import Segment
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.layout.lines import Line
from tui.messages import OpenSpan

__all__ = ["LinesView"]


class LinesView(ScrollView, can_focus=True):
    """Lines; `enter` on a line that stands for a span opens the span."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("enter", "open", "Span detail"),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "lines--cursor",
        "lines--header",
        "lines--muted",
        "lines--bad",
        "lines--good",
        "lines--edge",
        "lines--warn",
        "lines--trace",
    }
    # Line.kind -> component class (prefix match on "kind-")
    KIND_CLASS: ClassVar[dict[str, str]] = {
        "header": "lines--header",
        "total": "lines--header",
        "muted": "lines--muted",
        "trace": "lines--trace",
        "edge": "lines--edge",
        "unknown": "lines--muted",
        "path-failed": "lines--bad",
        "path-open": "lines--warn",
        "path-rejected": "lines--warn",
        "path-recovered": "lines--good",
        "hop-origin": "lines--bad",
        "hop-rejected": "lines--warn",
        "rejected-by": "lines--warn",
        "outcome-failed": "lines--bad",
        "outcome-recovered": "lines--good",
        "outcome-rejected": "lines--warn",
        "outcome-open": "lines--warn",
        "path-absorbed": "lines--muted",
        "outcome-absorbed": "lines--muted",
    }

    def __init__(self, trace_id: str = "", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.trace_id = trace_id
        self.lines: list[Line] = []
        self.cursor: int | None = None

    def set_lines(self, lines: Sequence[Line]) -> None:
        """Replace the content, keeping the cursor on the same span if it is still there."""
        old = (
            self.lines[self.cursor]
            if self.cursor is not None and self.cursor < len(self.lines)
            else None
        )
        self.lines = list(lines)
        self.cursor = None
        selectable = [i for i, line in enumerate(self.lines) if line.span_id]
        if old is not None:
            same = [i for i in selectable if self.lines[i] == old]
            self.cursor = same[0] if same else None
        if self.cursor is None and selectable:
            self.cursor = selectable[0]
        width = max((len(line.text) for line in self.lines), default=0)
        self.virtual_size = Size(width, len(self.lines))
        self.refresh()

    def render_line(self, y: int) -> Strip:
        index = round(self.scroll_offset.y) + y
        width = max(self.size.width, self.virtual_size.width)
        if index >= len(self.lines):
            return Strip.blank(self.size.width, self.rich_style)
        line = self.lines[index]
        style = self.rich_style
        cls = self.KIND_CLASS.get(line.kind)
        if cls:
            style = style + self.get_component_rich_style(cls)
        if index == self.cursor:
            style = style + self.get_component_rich_style("lines--cursor")
        strip = Strip([Segment(line.text.ljust(width), style)], width)
        x = round(self.scroll_offset.x)
        return strip.crop(x, x + self.size.width)

    def _move(self, index: int | None) -> None:
        if index is None:
            return
        self.cursor = index
        top = round(self.scroll_offset.y)
        if index < top:
            self.scroll_to(y=index, animate=False, immediate=True)
        elif index >= top + self.size.height:
            self.scroll_to(y=index - self.size.height + 1, animate=False, immediate=True)
        self.refresh()

    def action_cursor(self, delta: int) -> None:
        """Next / previous line that stands for a span."""
        if self.cursor is None:
            return
        step = 1 if delta > 0 else -1
        i = self.cursor + step
        while 0 <= i < len(self.lines):
            if self.lines[i].span_id:
                self._move(i)
                return
            i += step
        # nothing selectable further: still scroll so trailing text can be read
        self.scroll_relative(y=step, animate=False)

    def action_open(self) -> None:
        """Open the span of the selected line."""
        if self.cursor is not None and self.lines[self.cursor].span_id:
            self.post_message(OpenSpan(self.trace_id, self.lines[self.cursor].span_id or ""))

    def on_click(self, event: events.Click) -> None:
        """Select the clicked line; double click opens it."""
        index = round(self.scroll_offset.y) + event.y
        if 0 <= index < len(self.lines) and self.lines[index].span_id:
            self._move(index)
            if event.chain >= 2:
                self.action_open()
