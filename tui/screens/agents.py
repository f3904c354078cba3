"""`a` on the runs list: every agent across the filtered runs, sortable, with one agent's
worst runs and plots of its latency and cost over time and a latency histogram."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Label
from textual.worker import get_current_worker
from textual_plotext import PlotextPlot

from collector import queries
from collector.queries import AGENT_SORT_KEYS, AgentRun, AgentSeries, AgentStats, RunFilter
from tui.layout.fmt import fmt_cost, fmt_duration, fmt_time, fmt_tokens
from tui.layout.lines import Line
from tui.messages import StoreChanged
from tui.screens.graph import filter_text
from tui.widgets.key_bar import KeyBar
from tui.widgets.lines_view import LinesView
from tui.workers import ReportsWorkerErrors

if TYPE_CHECKING:
    from tui.app import HoptraceApp

__all__ = ["AgentsScreen"]

SORT_KEYS: tuple[str, ...] = tuple(AGENT_SORT_KEYS)
COLUMNS = (
    "AGENT",
    "RUNS",
    "CALLS",
    "P50",
    "P95",
    "ERRORS",
    "ROOT CAUSE",
    "CRIT PATH",
    "COST/RUN",
    "TOKENS",
)


@dataclass
class AgentsLoaded(Message):
    """The per-agent numbers over the filtered runs."""

    stats: list[AgentStats]
    elapsed_s: float


@dataclass
class AgentDetailLoaded(Message):
    """One agent's worst runs and plot series."""

    agent: str
    runs: list[AgentRun]
    series: AgentSeries


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def stat_row(s: AgentStats) -> tuple[str, ...]:
    """The table cells of one agent."""
    return (
        s.agent,
        str(s.runs),
        str(s.invocations),
        fmt_duration(s.p50_ms),
        fmt_duration(s.p95_ms),
        _pct(s.error_rate),
        _pct(s.root_cause_share),
        _pct(s.critical_path_share),
        fmt_cost(s.cost_per_run),
        fmt_tokens(s.input_tokens + s.output_tokens),
    )


def run_lines(agent: str, runs: list[AgentRun]) -> list[Line]:
    """The worst runs, each standing for its run (Enter opens it)."""
    out = [Line(f"worst runs of {agent} (enter opens)", "header")]
    if not runs:
        out.append(Line("No runs.", "muted"))
    for r in runs:
        mark = "✗ root cause" if r.root_cause else (f"✗{r.error_count}" if r.error_count else "")
        kind = "path-failed" if r.root_cause else ("hop-rejected" if r.error_count else "text")
        out.append(
            Line(
                f"{fmt_time(r.start_ns)}  {r.status:<7} {fmt_duration(r.duration_ms):>8}"
                f" {fmt_cost(r.cost_usd):>9}  {r.trace_id[:8]}  {mark}",
                kind,
                r.trace_id,
            )
        )
    return out


class RunLines(LinesView):
    """Lines whose `span_id` is a run's trace id: Enter opens the run."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "open", "Open run")]

    def action_open(self) -> None:
        """Open the selected run."""
        if self.cursor is not None and self.lines[self.cursor].span_id:
            self.app.open_run(self.lines[self.cursor].span_id)  # type: ignore[attr-defined]


class AgentsScreen(ReportsWorkerErrors, Screen[None]):
    """The agents table; moving the cursor shows that agent's runs and plots."""

    AUTO_FOCUS = "#agents-table"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("s", "cycle_sort", "Sort column"),
        Binding("S", "reverse_sort", "Reverse sort"),
        Binding("r", "focus_runs", "Worst runs"),
        Binding("t", "focus_table", "Agents", show=False),
    ]

    def __init__(self, flt: RunFilter | None = None) -> None:
        super().__init__()
        self.flt = flt or RunFilter()
        self.sort, self.descending = "cost", True
        self.stats: list[AgentStats] = []
        self.agent: str | None = None

    @property
    def hoptrace(self) -> HoptraceApp:
        """The app, typed."""
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        self.load()
        yield Label(self._title(), id="agents-title", markup=False)
        table: DataTable[str] = DataTable(id="agents-table", cursor_type="row", zebra_stripes=True)
        table.add_columns(*COLUMNS)
        yield table
        with Horizontal(id="agent-detail"):
            yield RunLines(id="agent-runs")
            with Vertical(id="agent-plots"):
                yield PlotextPlot(id="plot-latency")
                yield PlotextPlot(id="plot-cost")
                yield PlotextPlot(id="plot-histogram")
        yield KeyBar()

    def _title(self, elapsed: float | None = None) -> str:
        took = f"  (read in {elapsed * 1000:.0f} ms)" if elapsed is not None else ""
        order = "↓" if self.descending else "↑"
        return f"Agents across runs: {filter_text(self.flt)}   sorted by {self.sort} {order}{took}"

    def load(self) -> None:
        """Read the per-agent numbers in a worker."""
        self._load(self.flt, self.sort, self.descending)

    @work(
        thread=True,
        exclusive=True,
        group="agents",
        exit_on_error=False,
        description="Reading the agents",
    )
    def _load(self, flt: RunFilter, sort: str, descending: bool) -> None:
        import time

        t0 = time.perf_counter()
        stats = queries.agents_across(self.hoptrace.db, flt, sort, descending)
        if not get_current_worker().is_cancelled:
            self.post_message(AgentsLoaded(stats, time.perf_counter() - t0))

    @on(AgentsLoaded)
    def _loaded(self, message: AgentsLoaded) -> None:
        self.stats = message.stats
        self.query_one("#agents-title", Label).update(self._title(message.elapsed_s))
        table = self.query_one(DataTable)
        keep = self.agent
        # columns too: a cleared DataTable keeps the old widths for rows it had cached,
        # which drew later rows against stale column edges
        table.clear(columns=True)
        table.add_columns(*COLUMNS)
        for s in self.stats:
            table.add_row(*stat_row(s), key=s.agent)
        if not self.stats:
            self.query_one(RunLines).set_lines([Line("No agents in these runs.", "muted")])
            return
        names = [s.agent for s in self.stats]
        table.move_cursor(row=names.index(keep) if keep in names else 0)
        self._show(names[table.cursor_row])

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value:
            self._show(str(event.row_key.value))

    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        self.action_focus_runs()

    def _show(self, agent: str) -> None:
        if agent == self.agent and self.query_one(RunLines).lines:
            return
        self.agent = agent
        self._detail(agent, self.flt)

    @work(
        thread=True,
        exclusive=True,
        group="agent",
        exit_on_error=False,
        description="Reading the agent",
    )
    def _detail(self, agent: str, flt: RunFilter) -> None:
        with queries.reader(self.hoptrace.db) as db:
            runs = queries.agent_runs(db, agent, flt)
            series = queries.agent_series(db, agent, flt)
        if not get_current_worker().is_cancelled:
            self.post_message(AgentDetailLoaded(agent, runs, series))

    @on(AgentDetailLoaded)
    def _detail_loaded(self, message: AgentDetailLoaded) -> None:
        if message.agent != self.agent:
            return
        self.query_one(RunLines).set_lines(run_lines(message.agent, message.runs))
        s = message.series
        x = list(range(1, len(s.duration_ms) + 1))
        self._plot("#plot-latency", f"{message.agent}: time per run (ms), oldest → newest",
                   x, list(s.duration_ms))  # fmt: skip
        costs = [(i, c) for i, c in zip(x, s.cost_usd, strict=True) if c is not None]
        self._plot("#plot-cost", "cost per run (USD)", [i for i, _ in costs], [c for _, c in costs])
        hist = self.query_one("#plot-histogram", PlotextPlot)
        plt = hist.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(f"latency of its {len(s.latencies_ms)} newest invocations (ms)")
        if s.latencies_ms:
            plt.hist(list(s.latencies_ms), bins=20)
        hist.refresh()

    def _plot(self, selector: str, title: str, x: list[int], y: list[float]) -> None:
        widget = self.query_one(selector, PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        if y:
            plt.plot(x, y, marker="braille")
        widget.refresh()

    @on(StoreChanged)
    def _store_changed(self) -> None:
        self.load()

    def action_cycle_sort(self) -> None:
        """Sort by the next column."""
        self.sort = SORT_KEYS[(SORT_KEYS.index(self.sort) + 1) % len(SORT_KEYS)]
        self.descending = self.sort != "name"
        self.load()

    def action_reverse_sort(self) -> None:
        """Flip ascending / descending."""
        self.descending = not self.descending
        self.load()

    def action_focus_runs(self) -> None:
        """Into the selected agent's worst runs."""
        self.query_one(RunLines).focus()

    def action_focus_table(self) -> None:
        """Back to the agents table."""
        self.query_one(DataTable).focus()
