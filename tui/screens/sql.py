"""`:`: a read-only SQL console over the views (model: Harlequin's editor and results viewer).

The statement goes through `collector.queries.sql_console`, i.e. the one guarded
runner `hoptrace sql` uses; a refusal or a DuckDB error is shown inline in its
one-line form. Results (at most the first 100,000 rows) go into a virtual table;
`e` writes them to CSV or Parquet, from memory, after a prompt for the path.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, Label
from textual.worker import Worker, WorkerState

from collector import queries
from tui._history import History
from tui.messages import OpenRun, OpenSpan, SqlFinished
from tui.widgets.key_bar import KeyBar
from tui.widgets.result_table import ResultTable, export_result
from tui.widgets.sql_editor import SqlEditor
from tui.workers import ReportsWorkerErrors

if TYPE_CHECKING:
    from tui.app import HoptraceApp

__all__ = ["MAX_ROWS", "SqlScreen", "error_line", "status_text"]

MAX_ROWS = 100_000
# how long a statement took; a module name so the snapshot test can hold it still
elapsed_clock = time.perf_counter


def status_text(result: queries.SqlResult, elapsed_s: float) -> str:
    """The line above the results: how many rows, whether capped, how long."""
    n = len(result.rows)
    count = (
        f"first {n:,} rows (more exist; results are capped)"
        if result.truncated
        else f"{n:,} row{'' if n == 1 else 's'}"
    )
    return f"{count} · {elapsed_s * 1000:.0f} ms"


def error_line(error: BaseException) -> str:
    """A failed statement in one line: the guard's refusal as `hoptrace sql` prints it."""
    # the guard's Refused / ParseError and DuckDB's errors all read as "<what>: <why>"
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@dataclass
class ViewsLoaded(Message):
    """The views and their columns, for completion."""

    names: dict[str, tuple[str, ...]]


@dataclass
class Exported(Message):
    """The result was written to a file."""

    path: Path
    rows: int


class SqlScreen(ReportsWorkerErrors, Screen[None]):
    """`enter` runs the statement in a worker; a new one replaces a running one."""

    CSS_PATH = "../styles/sql.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("e", "export", "Export CSV/Parquet"),
    ]

    def __init__(self, history: History | None = None) -> None:
        super().__init__()
        self.history = history or History()
        self.result: queries.SqlResult | None = None

    @property
    def hoptrace(self) -> HoptraceApp:
        """The app, typed."""
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield SqlEditor(id="sql-input")
        yield Label("", id="sql-complete")
        yield Label(
            f"read-only · at most the first {MAX_ROWS:,} rows are kept · enter runs, "
            "tab completes, ctrl+↑/↓ history, e (on the results) exports",
            id="sql-status",
        )
        yield Label("", id="sql-error")
        yield ResultTable(id="sql-result")
        yield Input(placeholder="export to (.csv or .parquet)", id="sql-export")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#sql-error", Label).display = False
        self.query_one(SqlEditor).focus()
        self._load_views()

    @work(thread=True, exit_on_error=False, description="Reading the views for completion")
    def _load_views(self) -> None:
        self.post_message(ViewsLoaded(queries.view_columns(self.hoptrace.db)))

    @on(ViewsLoaded)
    def _views_loaded(self, message: ViewsLoaded) -> None:
        self.query_one(SqlEditor).names = message.names

    @on(SqlEditor.Candidates)
    def _candidates(self, message: SqlEditor.Candidates) -> None:
        self.query_one("#sql-complete", Label).update("  ".join(message.names))

    @on(SqlEditor.Submitted)
    def _submit(self, message: SqlEditor.Submitted) -> None:
        sql = message.sql.strip()
        if sql:
            self.history.add(sql)
            self.query_one("#sql-status", Label).update("running…")
            self._say_error("")
            self._run(sql)

    @on(SqlEditor.Recall)
    def _recall(self, message: SqlEditor.Recall) -> None:
        text = self.history.previous() if message.step < 0 else self.history.next()
        if text is not None:
            self.query_one(SqlEditor).value = text

    @work(thread=True, exclusive=True, group="sql", exit_on_error=False, description="SQL")
    def _run(self, sql: str) -> None:
        started = elapsed_clock()
        result = queries.sql_console(self.hoptrace.db, sql, MAX_ROWS)
        self.post_message(SqlFinished(sql, result, elapsed_clock() - started))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Show a failed statement inline (Textual also runs the mixin's handler, which notifies)."""
        if event.state is WorkerState.ERROR and event.worker.group == "sql":
            self.query_one("#sql-status", Label).update("failed")
            assert event.worker.error is not None
            self._say_error(error_line(event.worker.error))

    def _say_error(self, text: str) -> None:
        label = self.query_one("#sql-error", Label)
        label.update(text)
        label.display = bool(text)

    @on(SqlFinished)
    def _finished(self, message: SqlFinished) -> None:
        self.result = message.result
        self.query_one("#sql-status", Label).update(status_text(message.result, message.elapsed_s))
        self.query_one(ResultTable).set_result(message.result)

    # --- a row opens its run or span ------------------------------------------------

    @on(OpenRun)
    def _open_run(self, message: OpenRun) -> None:
        message.stop()
        self.hoptrace.open_run(message.trace_id)

    @on(OpenSpan)
    def _open_span(self, message: OpenSpan) -> None:
        message.stop()
        from tui.screens.span import SpanScreen

        self.app.push_screen(SpanScreen(message.trace_id, message.span_id))

    # --- export: the user's explicit action, a prompt for the path ---------------------

    def action_export(self) -> None:
        """Ask where to write the result."""
        if self.result is None or not self.result.columns:
            self.notify("run a query first: there is no result to export", timeout=4)
            return
        prompt = self.query_one("#sql-export", Input)
        prompt.value = prompt.value or "hoptrace-result.csv"
        prompt.add_class("-shown")
        prompt.focus()

    def action_back(self) -> None:
        """Close the export prompt if open, else leave the console."""
        prompt = self.query_one("#sql-export", Input)
        if prompt.has_class("-shown"):
            prompt.remove_class("-shown")
            self.query_one(ResultTable).focus()
        else:
            self.app.pop_screen()

    @on(Input.Submitted, "#sql-export")
    def _export_to(self, event: Input.Submitted) -> None:
        event.stop()
        path = Path(event.value.strip()).expanduser()
        if not event.value.strip() or self.result is None:
            return
        event.input.remove_class("-shown")
        self.query_one(ResultTable).focus()
        self._export(self.result, path)

    @work(thread=True, exclusive=True, group="export", exit_on_error=False, description="Export")
    def _export(self, result: queries.SqlResult, path: Path) -> None:
        self.post_message(Exported(path, export_result(result, path)))

    @on(Exported)
    def _exported(self, message: Exported) -> None:
        self.notify(f"wrote {message.rows:,} rows to {message.path}", title="hoptrace", timeout=8)
