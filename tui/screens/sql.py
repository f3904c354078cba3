"""`:`: a read-only SQL console over the views, results capped."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Input, Label
from textual.worker import Worker, WorkerState

from collector import queries
from tui.layout.lines import Line
from tui.messages import SqlFinished
from tui.widgets.key_bar import KeyBar
from tui.widgets.lines_view import LinesView
from tui.workers import ReportsWorkerErrors

if TYPE_CHECKING:
    from tui.app import HoptraceApp

__all__ = ["MAX_ROWS", "SqlScreen", "result_lines"]

MAX_ROWS = 1000
CELL = 24


def result_lines(result: queries.SqlResult) -> list[Line]:
    """A fixed-width text table of a capped result."""
    widths = [
        min(CELL, max([len(c)] + [len(str(r[i])) for r in result.rows[:200]]))
        for i, c in enumerate(result.columns)
    ]

    def fmt(values: tuple[object, ...]) -> str:
        cells = []
        for v, w in zip(values, widths, strict=True):
            text = "NULL" if v is None else str(v).replace("\n", " ")
            cells.append((text if len(text) <= w else text[: w - 1] + "…").ljust(w))
        return " │ ".join(cells)

    out = [Line(fmt(result.columns), "header")]
    out += [Line(fmt(r)) for r in result.rows]
    more = (
        f"more than {len(result.rows)} rows (capped)"
        if result.truncated
        else f"{len(result.rows)} rows"
    )
    out.append(Line(more, "muted"))
    return out


class SqlScreen(ReportsWorkerErrors, Screen[None]):
    """Type a query, `enter` runs it in a worker; a new query replaces a running one."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.pop_screen", "Back")]

    @property
    def hoptrace(self) -> HoptraceApp:
        """The app, typed."""
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Input(placeholder="SELECT * FROM runs ORDER BY start_time DESC", id="sql-input")
        yield Label(f"read-only; at most {MAX_ROWS} rows are shown", id="sql-status")
        yield LinesView(id="sql-result")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.query_one("#sql-status", Label).update("running…")
            self._run(event.value.strip())

    @work(thread=True, exclusive=True, group="sql", exit_on_error=False, description="SQL")
    def _run(self, sql: str) -> None:
        started = time.perf_counter()
        result = queries.sql_console(self.hoptrace.db, sql, MAX_ROWS)
        self.post_message(SqlFinished(sql, result, time.perf_counter() - started))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Say "failed" next to the query (Textual also runs the mixin's handler, which notifies)."""
        if event.state is WorkerState.ERROR:
            self.query_one("#sql-status", Label).update("failed")

    @on(SqlFinished)
    def _finished(self, message: SqlFinished) -> None:
        self.query_one("#sql-status", Label).update(f"{message.elapsed_s * 1000:.0f} ms")
        self.query_one(LinesView).set_lines(result_lines(message.result))
