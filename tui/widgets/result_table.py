"""The SQL console's result: a virtual table that formats only the rows on screen.

A `DataTable` builds every row up front (seconds at 100k rows); this widget keeps
the fetched tuples and renders a row when it scrolls into view, so the console
stays responsive at its 100,000-row cap. `enter` on a row that carries a
trace_id (and a span_id) opens that run (or span).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.segment import Segment
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from collector.queries import SqlResult
from tui.messages import OpenRun, OpenSpan

__all__ = [
    "CELL",
    "EXPORT_FORMATS",
    "ResultTable",
    "column_widths",
    "export_result",
    "format_row",
    "row_target",
]

CELL = 32
SAMPLE = 500  # widths from a sample: scanning 100k rows on every result would stall the UI
EXPORT_FORMATS = (".csv", ".parquet")


def column_widths(result: SqlResult, cell: int = CELL) -> list[int]:
    """Each column's width: its header or its widest sampled value, at most `cell`."""
    rows = result.rows
    # the first, the last and an even spread: ids and counters widen towards the end
    sample = rows[:SAMPLE] + rows[-SAMPLE:] + rows[:: max(1, len(rows) // SAMPLE)]
    return [
        min(cell, max([len(c)] + [len(_text(r[i])) for r in sample]))
        for i, c in enumerate(result.columns)
    ]


def _text(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return format(value, ".10g")  # 0.000375, not 0.00037499999999999995
    return str(value).replace("\n", " ")


def format_row(values: tuple[object, ...], widths: list[int]) -> str:
    """One row as fixed-width cells; a cut value ends in `…`."""
    cells = []
    for v, w in zip(values, widths, strict=True):
        text = _text(v)
        text = text if len(text) <= w else text[: w - 1] + "…"
        # numbers right-aligned, so magnitudes line up down a column
        numeric = isinstance(v, int | float) and not isinstance(v, bool)
        cells.append(text.rjust(w) if numeric else text.ljust(w))
    return " │ ".join(cells)


def row_target(result: SqlResult, index: int) -> tuple[str, str | None] | None:
    """(trace_id, span_id or None) a row points at, if it has a trace_id column."""
    if "trace_id" not in result.columns or not 0 <= index < len(result.rows):
        return None
    row = result.rows[index]
    trace = row[result.columns.index("trace_id")]
    if not trace:
        return None
    span = row[result.columns.index("span_id")] if "span_id" in result.columns else None
    return str(trace), (str(span) if span else None)


def export_result(result: SqlResult, path: Path) -> int:
    """Write the fetched rows to `path` (.csv or .parquet); returns the row count.

    From the rows already in memory, never by re-running the query: the query path
    stays read-only and what is written is exactly what the user saw. Written to a
    temporary file first, so a failure leaves nothing half-written.
    """
    import polars as pl

    suffix = path.suffix.lower()
    if suffix not in EXPORT_FORMATS:
        raise ValueError(f"export to .csv or .parquet, not {suffix or 'a name without one'!r}")
    names: list[str] = []
    for c in result.columns:  # SELECT 1, 1 gives two columns named "1"
        name, n = c, 1
        while name in names:
            n += 1
            name = f"{c}_{n}"
        names.append(name)
    frame = pl.DataFrame(
        [list(r) for r in result.rows], schema=names, orient="row", infer_schema_length=None
    )
    tmp = path.with_name(f".{path.name}.partial")
    try:
        if suffix == ".csv":
            frame.write_csv(tmp)
        else:
            frame.write_parquet(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return frame.height


class ResultTable(ScrollView, can_focus=True):
    """A header line and the result rows under a cursor; the header stays on top."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "cursor(-20)", "Page up", show=False),
        Binding("pagedown", "cursor(20)", "Page down", show=False),
        Binding("home", "jump(0)", "First row", show=False),
        Binding("end", "jump(-1)", "Last row", show=False),
        Binding("enter", "open", "Open run / span"),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"result--header", "result--cursor"}

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.result = SqlResult((), (), False)
        self.widths: list[int] = []
        self.cursor = 0

    def set_result(self, result: SqlResult) -> None:
        """Show a new result, cursor on its first row."""
        self.result = result
        self.widths = column_widths(result)
        self.cursor = 0
        width = sum(self.widths) + 3 * max(0, len(self.widths) - 1)
        self.virtual_size = Size(width, len(result.rows) + 1)
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = max(self.size.width, self.virtual_size.width)
        x = round(self.scroll_offset.x)
        if y == 0:
            if not self.result.columns:
                return Strip.blank(self.size.width, self.rich_style)
            style = self.rich_style + self.get_component_rich_style("result--header")
            text = format_row(self.result.columns, self.widths)
        else:
            # row 0 of the virtual space sits under the header, so y - 1 rows below the top
            index = round(self.scroll_offset.y) + y - 1
            if index >= len(self.result.rows):
                return Strip.blank(self.size.width, self.rich_style)
            style = self.rich_style
            if index == self.cursor and self.has_focus:
                style = style + self.get_component_rich_style("result--cursor")
            text = format_row(self.result.rows[index], self.widths)
        return Strip([Segment(text.ljust(width), style)], width).crop(x, x + self.size.width)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def _move(self, index: int) -> None:
        if not self.result.rows:
            return
        self.cursor = max(0, min(len(self.result.rows) - 1, index))
        top = round(self.scroll_offset.y)
        rows_shown = max(1, self.size.height - 1)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + rows_shown:
            self.scroll_to(y=self.cursor - rows_shown + 1, animate=False, immediate=True)
        self.refresh()

    def action_cursor(self, delta: int) -> None:
        """Move the cursor by `delta` rows."""
        self._move(self.cursor + delta)

    def action_jump(self, index: int) -> None:
        """First (0) or last (-1) row."""
        self._move(index if index >= 0 else len(self.result.rows) - 1)

    def action_open(self) -> None:
        """Open the run or span of the cursor row; say so when the row has none."""
        target = row_target(self.result, self.cursor)
        if target is None:
            self.notify("this row has no trace_id to open", timeout=4)
        elif target[1] is None:
            self.post_message(OpenRun(target[0]))
        else:
            self.post_message(OpenSpan(target[0], target[1]))

    def on_click(self, event: events.Click) -> None:
        """Select the clicked row; double click opens it."""
        if event.y == 0:
            return
        self._move(round(self.scroll_offset.y) + event.y - 1)
        if event.chain >= 2:
            self.action_open()
