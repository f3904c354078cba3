"""The hoptrace Textual app: screens, the live poll, and the one error path."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual._path import CSSPathType
from textual.app import App
from textual.binding import Binding, BindingType
from textual.worker import get_current_worker

from collector import queries
from tui.messages import StoreChanged
from tui.workers import ReportsWorkerErrors

__all__ = ["HoptraceApp"]


class HoptraceApp(ReportsWorkerErrors, App[None]):
    """Browse runs, open one as a waterfall, its error paths, its cost, any span."""

    TITLE = "hoptrace"
    CSS_PATH: ClassVar[CSSPathType] = ["styles/app.tcss", "styles/graph.tcss"]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help"),
        Binding("colon", "sql", "SQL"),
        Binding("q", "quit", "Quit"),
        # not on the key bar (it stays short at 80 columns); `?` lists it
        Binding("ctrl+s", "save_screenshot", "Save an SVG screenshot", show=False),
    ]

    def __init__(
        self,
        db: str | Path,
        *,
        clock: Callable[[], float] = time.time,
        poll_interval: float = 0.5,
    ) -> None:
        """Open the UI on `db`.

        Args:
            db: DuckDB file written by the collector.
            clock: Unix seconds; injected by tests so "ago" texts are stable.
            poll_interval: Seconds between checks of the store for new spans.
        """
        super().__init__()
        self.db = db
        self.clock = clock
        self.poll_interval = poll_interval
        self.last_ingested_ns: int | None = None

    def on_mount(self) -> None:
        from tui.screens.runs import RunsScreen

        self.push_screen(RunsScreen())
        self.set_interval(self.poll_interval, self.poll_store, name="poll-store")
        self.set_interval(2.0, self._tick, name="tick")

    # --- live refresh: poll max(ingested_ns) in a worker, redraw only if it moved

    def poll_store(self) -> None:
        """Ask (off the UI thread) whether anything new was ingested."""
        self._poll(self.last_ingested_ns)

    @work(
        thread=True,
        exclusive=True,
        group="poll",
        exit_on_error=False,
        description="Polling the store",
    )
    def _poll(self, last: int | None) -> None:
        newest = queries.max_ingested_ns(self.db)
        if newest is not None and newest != last and not get_current_worker().is_cancelled:
            self.post_message(StoreChanged(newest))

    @on(StoreChanged)
    def _store_changed(self, message: StoreChanged) -> None:
        if message.ingested_ns == self.last_ingested_ns:
            return
        self.last_ingested_ns = message.ingested_ns
        # every screen on the stack keeps itself fresh
        for screen in self.screen_stack:
            screen.post_message(StoreChanged(message.ingested_ns))

    def _tick(self) -> None:
        """Redraw clock-dependent text (ages, running durations, pending bars)."""
        from tui.widgets.runs_list import RunsList
        from tui.widgets.waterfall import Waterfall

        for screen in self.screen_stack:
            for widget in screen.query(RunsList):
                widget.tick()
            for wf in screen.query(Waterfall):
                wf.tick()

    # --- navigation ---------------------------------------------------------------

    def open_run(self, trace_id: str) -> None:
        """Show one run (waterfall, errors, cost)."""
        from tui.screens.run import RunScreen

        self.push_screen(RunScreen(trace_id))

    def action_help(self) -> None:
        """Keys of the current screen."""
        from tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_save_screenshot(self) -> None:
        """Save an SVG of the current screen into the working directory and say where.

        Textual's own palette entry writes to ~/Downloads and fails when it is missing.
        """
        try:
            path = self.save_screenshot(path=os.getcwd())
        except OSError as exc:
            self.notify(f"Screenshot not saved: {exc}", severity="error", timeout=8)
            return
        self.notify(f"Screenshot saved to {path}", title="hoptrace", timeout=8)

    def action_sql(self) -> None:
        """The SQL console."""
        from tui.screens.sql import SqlScreen

        if not isinstance(self.screen, SqlScreen):
            self.push_screen(SqlScreen())
