"""One run: waterfall, error paths and cost in tabs, with a summary on top."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Label
from textual.worker import get_current_worker

from collector import queries
from collector.queries import RunBundle
from tui.layout import build_tree, cost_lines, cost_table, critical_shares, error_lines, error_paths
from tui.layout.columns import display_name
from tui.layout.fmt import fmt_cost, fmt_duration, fmt_time, fmt_tokens
from tui.messages import OpenSpan, RunLoaded, StoreChanged
from tui.widgets.graph_view import GraphPanel
from tui.widgets.key_bar import KeyBar
from tui.widgets.lines_view import LinesView
from tui.widgets.waterfall import Waterfall
from tui.workers import ReportsWorkerErrors

if TYPE_CHECKING:
    from tui.app import HoptraceApp

__all__ = ["RunScreen"]

COST_WIDTH = 110


TABS: tuple[tuple[str, str], ...] = (
    ("waterfall", "Waterfall (w)"),
    ("errors", "Errors (e)"),
    ("cost", "Cost (c)"),
    ("graph", "Graph (g)"),
)


class TabBar(Label):
    """The tab titles; the active one highlighted, a click switches."""

    def on_mount(self) -> None:
        self.show("waterfall")

    def show(self, active: str) -> None:
        """Highlight `active`."""
        parts = [f"[reverse] {title} [/]" if key == active else f" {title} " for key, title in TABS]
        self.update("  ".join(parts))

    def on_click(self, event: events.Click) -> None:
        """Switch to the clicked tab."""
        x = 0
        for key, title in TABS:
            width = len(title) + 2
            if x <= event.x < x + width:
                self.screen.action_tab(key)  # type: ignore[attr-defined]
                return
            x += width + 2


class RunScreen(ReportsWorkerErrors, Screen[None]):
    """Tabs over one run; `escape` goes back to the runs list."""

    AUTO_FOCUS = "#waterfall-view"  # one focus change on open
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("w", "tab('waterfall')", "Waterfall"),
        Binding("e", "tab('errors')", "Errors"),
        Binding("c", "tab('cost')", "Cost"),
        Binding("g", "tab('graph')", "Graph"),
    ]

    def __init__(self, trace_id: str) -> None:
        super().__init__()
        self.trace_id = trace_id
        self.bundle: RunBundle | None = None

    @property
    def hoptrace(self) -> HoptraceApp:
        """The app, typed."""
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        # start reading now: the query runs in its thread while the widgets mount
        self.load()
        yield Label(f"run {self.trace_id} (loading…)", id="run-summary", markup=False)
        yield Label("", id="critical-path", markup=False)
        # a one-line tab bar over a ContentSwitcher: the same keys and clicks as
        # TabbedContent at a fraction of the widgets (opening a run stays fast)
        yield TabBar(id="tab-bar")
        with ContentSwitcher(initial="waterfall-view", id="tabs"):
            yield Waterfall(self.trace_id, self.hoptrace.clock, id="waterfall-view")
            yield LinesView(self.trace_id, id="errors-view")
            yield LinesView(self.trace_id, id="cost-view")
            yield GraphPanel(id="graph-view")
        yield KeyBar()

    def load(self) -> None:
        """Read the run in a worker."""
        known = self.bundle.ingested_ns if self.bundle else None
        self._load(self.trace_id, known, self.bundle is None)

    @work(
        thread=True, exclusive=True, group="run", exit_on_error=False, description="Reading the run"
    )
    def _load(self, trace_id: str, known_ns: int | None, force: bool) -> None:
        with queries.reader(self.hoptrace.db) as db:
            if not force and queries.max_ingested_ns(db, trace_id) == known_ns:
                return  # nothing new in this run
            bundle = queries.load_run(db, trace_id)
        # the layout maths run here too, so a 10k-span run never stalls the UI
        tree = build_tree(bundle.spans)
        paths = error_paths(
            tree, bundle.errors, bundle.handoffs, bundle.rejections, bundle.recoveries
        )
        table = cost_table(bundle.agents, bundle.run.cost_usd if bundle.run else None)
        message = RunLoaded(
            trace_id,
            bundle,
            tree,
            error_lines(paths, dict(bundle.stacktraces)),
            cost_lines(table, COST_WIDTH),
            critical_shares(bundle.agents, bundle.spans),
        )
        if not get_current_worker().is_cancelled:
            self.post_message(message)

    @on(StoreChanged)
    def _store_changed(self) -> None:
        self.load()

    @on(RunLoaded)
    def _loaded(self, message: RunLoaded) -> None:
        bundle = self.bundle = message.bundle
        self.query_one("#run-summary", Label).update(self._summary(bundle))
        shares = message.critical_shares
        path_ms = bundle.run.critical_path_ms if bundle.run else None
        text = "  ".join(f"{agent} {share:.0%}" for agent, share in shares)
        self.query_one("#critical-path", Label).update(
            f"critical path {fmt_duration(path_ms)}: {text}" if shares else "critical path: n/a"
        )
        self.query_one(Waterfall).set_bundle(bundle, message.tree)
        self.query_one("#errors-view", LinesView).set_lines(message.error_lines)
        self.query_one("#cost-view", LinesView).set_lines(message.cost_lines)
        self.query_one(GraphPanel).set_bundle(bundle)

    def _summary(self, bundle: RunBundle) -> str:
        run = bundle.run
        if run is None:
            return f"run {self.trace_id}: not in the store"
        duration = run.duration_ms
        if run.status == "RUNNING":
            duration = max(0.0, self.hoptrace.clock() * 1e3 - run.start_ns / 1e6)
        tokens = (run.input_tokens or 0) + (run.output_tokens or 0)
        text = (
            f"{display_name(run)}  [{run.status}]  {fmt_time(run.start_ns)} UTC  "
            f"{fmt_duration(duration)}  {run.span_count} spans  {run.agent_count} agents  "
            f"{run.llm_calls} model calls  {fmt_tokens(tokens)} tokens  {fmt_cost(run.cost_usd)}"
        )
        if run.status == "ERROR":
            text += (
                f"\nroot cause: {run.root_cause_agent or '?'}: {run.root_cause_error or 'error'}"
            )
            if run.root_cause_message:
                text += f" ({run.root_cause_message})"
        return text

    @property
    def active_tab(self) -> str:
        """waterfall, errors, cost or graph."""
        current = self.query_one("#tabs", ContentSwitcher).current or "waterfall-view"
        return current.removesuffix("-view")

    def action_tab(self, tab: str) -> None:
        """Switch tab and focus its view."""
        self.query_one("#tabs", ContentSwitcher).current = f"{tab}-view"
        self.query_one(TabBar).show(tab)
        self.query_one(f"#{tab}-view").focus()

    @on(OpenSpan)
    def _open_span(self, message: OpenSpan) -> None:
        message.stop()
        from tui.screens.span import SpanScreen

        def jumped(producer: str | None) -> None:
            # the detail screen returns a span to jump to (a handoff producer)
            if producer and self.query_one(Waterfall).reveal(producer):
                self.action_tab("waterfall")
                self.app.push_screen(SpanScreen(self.trace_id, producer), jumped)

        self.app.push_screen(SpanScreen(message.trace_id, message.span_id), jumped)
