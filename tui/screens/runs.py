"""The first screen: every run in the store, sortable, filterable, live."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Input, Label

from collector.queries import RUN_SORT_KEYS, RunFilter, RunSort
from tui.messages import OpenRun, RunsLoaded, StoreChanged
from tui.widgets.key_bar import KeyBar
from tui.widgets.runs_list import RunsList

if TYPE_CHECKING:
    from tui.app import HoptraceApp

__all__ = ["RunsScreen"]

STATUSES: tuple[str | None, ...] = (None, "ERROR", "RUNNING", "OK")
SORT_KEYS: tuple[str, ...] = tuple(RUN_SORT_KEYS)


class RunsScreen(Screen[None]):
    """Runs list with a filter bar; `enter` opens a run."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # the app's `?` again, here first: the key bar lists the screen's keys before
        # the app's, and at 80 columns the app's fell off the end of the line
        Binding("question_mark", "app.help", "Help"),
        Binding("slash", "focus_search", "Search"),
        Binding("n", "focus_name", "Name filter"),
        Binding("f", "cycle_status", "Status filter"),
        Binding("s", "cycle_sort", "Sort column"),
        Binding("S", "reverse_sort", "Reverse sort"),
        Binding("x", "clear_filters", "Clear filters"),
        Binding("d", "span_detail", "Root-cause span"),
        # show=False: the key bar (and its snapshots) stay as they are; `?` lists it
        Binding("i", "insights", "Insights", show=False),
        Binding("m", "mark", "Mark for compare", show=False),
        Binding("c", "compare", "Compare marked runs", show=False),
        Binding("g", "graph", "Graph", show=False),
        Binding("a", "agents", "Agents across runs", show=False),
        Binding("t", "conversations", "Conversations", show=False),
        Binding("escape", "focus_list", "List", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.status: str | None = None

    @property
    def hoptrace(self) -> HoptraceApp:
        """The app, typed."""
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Horizontal(id="filters"):
            yield Label(self._status_text(), id="status-filter")
            yield Input(placeholder="name (n)", id="name-filter")
            yield Input(placeholder="search: name, id, agent, error (/)", id="search")
            yield Label("", id="runs-count")
        runs = RunsList(self.hoptrace.db, self.hoptrace.clock, id="runs")
        # start reading now: the first page is queried while the widgets mount
        runs.reload()
        yield runs
        yield KeyBar()

    @property
    def runs(self) -> RunsList:
        """The list widget."""
        return self.query_one(RunsList)

    def on_mount(self) -> None:
        self.runs.focus()

    def _status_text(self) -> str:
        return f"status: {self.status or 'all'}"

    def _apply(self, sort: RunSort | None = None) -> None:
        flt = RunFilter(
            status=self.status,
            name=self.query_one("#name-filter", Input).value.strip(),
            text=self.query_one("#search", Input).value.strip(),
        )
        self.query_one("#status-filter", Label).update(self._status_text())
        self.runs.set_query(flt, sort or self.runs.sort)

    @on(Input.Changed)
    def _filter_typed(self) -> None:
        self._apply()

    @on(Input.Submitted)
    def _filter_done(self) -> None:
        self.runs.focus()

    @on(StoreChanged)
    def _store_changed(self) -> None:
        self.runs.reload()

    @on(OpenRun)
    def _open_run(self, message: OpenRun) -> None:
        message.stop()
        self.hoptrace.open_run(message.trace_id)

    @on(RunsLoaded)
    def _counted(self) -> None:
        marked = len(self.runs.marked)
        marks = f"  ◆ {marked} marked (c compares)" if marked else ""
        self.query_one("#runs-count", Label).update(f"{self.runs.count} runs{marks}")

    def action_insights(self) -> None:
        """Ranked insights over the runs the filter shows."""
        from tui.screens.insights import InsightsScreen

        self.app.push_screen(InsightsScreen(self.runs.filter))

    def action_mark(self) -> None:
        """Mark (or unmark) the selected run for comparison."""
        run = self.runs.row(self.runs.cursor)
        if run is None:
            self.notify("No run selected.", severity="warning")
            return
        self.runs.toggle_mark(run.trace_id)
        self._counted()

    def action_compare(self) -> None:
        """Compare the two marked runs, a marked run with the selected one, or the
        selected run with its conversation's previous turn."""
        from tui.screens.compare import CompareScreen

        run = self.runs.row(self.runs.cursor)
        marked = self.runs.marked
        if len(marked) == 2:
            self.app.push_screen(CompareScreen(marked[0], marked[1]))
        elif marked and run is not None and run.trace_id != marked[0]:
            self.app.push_screen(CompareScreen(marked[0], run.trace_id))
        elif run is not None:
            self.app.push_screen(CompareScreen(run.trace_id))
        else:
            self.notify("No run selected.", severity="warning")

    def action_graph(self) -> None:
        """The handoff graph over the runs the filter shows."""
        from tui.screens.graph import GraphScreen

        self.app.push_screen(GraphScreen(self.runs.filter))

    def action_agents(self) -> None:
        """Every agent across the runs the filter shows."""
        from tui.screens.agents import AgentsScreen

        self.app.push_screen(AgentsScreen(self.runs.filter))

    def action_conversations(self) -> None:
        """Conversations over the runs the filter shows, at the selected run's one."""
        from tui.screens.conversations import ConversationsScreen

        run = self.runs.row(self.runs.cursor)
        conversation = run.conversation_id if run is not None else None
        self.app.push_screen(ConversationsScreen(self.runs.filter, conversation))

    def action_span_detail(self) -> None:
        """Span detail of the selected run's root cause (or of its root span)."""
        run = self.runs.row(self.runs.cursor)
        span_id = run and (run.root_cause_span_id or run.root_span_id)
        if run is None or not span_id:
            self.notify("No run selected.", severity="warning")
            return
        from tui.screens.span import SpanScreen

        def jumped(producer: str | None) -> None:
            if producer:
                self.app.push_screen(SpanScreen(run.trace_id, producer), jumped)

        self.app.push_screen(SpanScreen(run.trace_id, span_id), jumped)

    def action_focus_search(self) -> None:
        """Focus the free-text filter."""
        self.query_one("#search", Input).focus()

    def action_focus_name(self) -> None:
        """Focus the name filter."""
        self.query_one("#name-filter", Input).focus()

    def action_focus_list(self) -> None:
        """Back to the list."""
        self.runs.focus()

    def action_cycle_status(self) -> None:
        """all -> ERROR -> RUNNING -> OK -> all."""
        self.status = STATUSES[(STATUSES.index(self.status) + 1) % len(STATUSES)]
        self._apply()

    def action_cycle_sort(self) -> None:
        """Sort by the next column."""
        key = SORT_KEYS[(SORT_KEYS.index(self.runs.sort.key) + 1) % len(SORT_KEYS)]
        self._apply(RunSort(key, self.runs.sort.descending))

    def action_reverse_sort(self) -> None:
        """Flip ascending / descending."""
        self._apply(RunSort(self.runs.sort.key, not self.runs.sort.descending))

    def action_clear_filters(self) -> None:
        """Show every run again."""
        self.status = None
        with self.prevent(Input.Changed):
            self.query_one("#name-filter", Input).value = ""
            self.query_one("#search", Input).value = ""
        self._apply()
