"""Row-cursor movement shared by the Line-API lists (runs list, waterfall).

Both widgets draw a one-line header above their rows, so screen line `i - top + 1`
shows row `i`; moving repaints only the two rows whose look changed.
"""

from __future__ import annotations

from textual.binding import Binding, BindingType
from textual.scroll_view import ScrollView

CURSOR_BINDINGS: list[BindingType] = [
    Binding("up,k", "cursor(-1)", "Up", show=False),
    Binding("down,j", "cursor(1)", "Down", show=False),
    Binding("pageup", "page(-1)", "Page up", show=False),
    Binding("pagedown", "page(1)", "Page down", show=False),
    Binding("home", "jump(0)", "First", show=False),
    Binding("end", "jump(-1)", "Last", show=False),
]


class RowCursor(ScrollView):
    """A `ScrollView` with a selected row under a one-line header."""

    # Subclasses list CURSOR_BINDINGS in their own BINDINGS: the help screen shows a
    # widget's own bindings, and the cursor keys belong in it.
    cursor: int = 0

    def row_count(self) -> int:
        """How many rows there are to move over."""
        raise NotImplementedError

    def cursor_moved(self) -> None:
        """Called after the cursor changed row (before repainting)."""

    def _scroll_to_cursor(self) -> None:
        rows_on_screen = max(1, self.size.height - 1)
        top = round(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + rows_on_screen:
            self.scroll_to(y=self.cursor - rows_on_screen + 1, animate=False, immediate=True)

    def _move_to(self, index: int) -> None:
        count = self.row_count()
        if count == 0:
            return
        old = self.cursor
        self.cursor = max(0, min(index, count - 1))
        self._scroll_to_cursor()
        self.cursor_moved()
        top = round(self.scroll_offset.y)
        for i in (old, self.cursor):
            self.refresh_lines(i - top + 1)

    def action_cursor(self, delta: int) -> None:
        """Move the selection by `delta` rows."""
        self._move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        """Move the selection by a screenful."""
        self._move_to(self.cursor + direction * max(1, self.size.height - 2))

    def action_jump(self, index: int) -> None:
        """First (0) or last (-1) row."""
        self._move_to(self.row_count() - 1 if index < 0 else index)
