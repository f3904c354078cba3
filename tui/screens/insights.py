"""`i` (from the runs list): the ranked insights over the runs of the current filter.

Each insight is a few lines: its title (enter opens its best evidence run), the saving
per run, how it was computed, the confidence note, and its evidence runs (enter opens
that run). The report is computed in a worker by `collector.queries.insights` and
arrives as an `InsightsLoaded` message; the text is built by `insight_lines`, a pure
function.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Label

from collector import queries
from collector.queries import InsightReport, RunFilter
from tui.layout.lines import Line
from tui.messages import OpenRun
from tui.widgets.key_bar import KeyBar
from tui.widgets.lines_view import LinesView
from tui.workers import ReportsWorkerErrors

if TYPE_CHECKING:
    from tui.app import HoptraceApp

__all__ = ["MAX_EVIDENCE_SHOWN", "InsightsLoaded", "InsightsScreen", "insight_lines"]

MAX_EVIDENCE_SHOWN = 5
_RUN = "run:"  # Line.span_id of a line that opens a run: "run:<trace_id>"
_LABEL = {
    "what_if": "what-if",
    "parallel": "parallel",
    "model_swap": "model swap",
    "waste": "waste",
    "blame": "blame",
}


@dataclass
class InsightsLoaded(Message):
    """The insights of a filter were computed."""

    flt: RunFilter
    report: InsightReport


def _saving(saving_s: float | None, saving_usd: float | None) -> str:
    parts = []
    if saving_s:
        parts.append(f"{saving_s:.3f} s")
    if saving_usd:
        parts.append(f"${saving_usd:.5f}")
    return ", ".join(parts) or "none"


def insight_lines(report: InsightReport, width: int = 100) -> list[Line]:
    """The report as styled lines; a title or evidence line opens a run (`run:<trace_id>`)."""
    width = max(40, width)
    lat = "-" if report.latency_p50_s is None else f"{report.latency_p50_s:.3f} s"
    cost = "-" if report.cost_per_run_usd is None else f"${report.cost_per_run_usd:.5f}"
    out = [
        Line(
            f"{len(report.insights)} insights over {report.runs} runs (of "
            f"{report.runs_in_filter} in the filter); p50 latency {lat}, {cost} per run",
            "header",
        )
    ]
    out += [Line(f"note: {n}", "path-open") for n in report.notes]
    if not report.insights:
        out.append(Line("Nothing to report: no finished runs in the filter.", "muted"))
        return out
    for n, i in enumerate(report.insights, 1):
        first = i.evidence[0].trace_id if i.evidence else None
        out.append(Line(""))
        kind = "path-failed" if i.kind == "blame" else "header"
        title = f"{n:>2}. [{_LABEL.get(i.kind, i.kind)}] {i.title}"
        out.append(Line(title, kind, f"{_RUN}{first}" if first else None))
        out.append(
            Line(
                f"    saving per run: {_saving(i.saving_s, i.saving_usd)} "
                f"({i.score:.1%} of a typical run) · {i.runs} runs",
                "text",
            )
        )
        for label, text, style in (("how", i.how, "muted"), ("confidence", i.confidence, "muted")):
            for part in textwrap.wrap(
                f"{label}: {text}", width - 4, initial_indent="    ", subsequent_indent="      "
            ):
                out.append(Line(part, style))
        for e in i.evidence[:MAX_EVIDENCE_SHOWN]:
            own = "" if e.saving_s is None else f" · this run {e.saving_s:.3f} s"
            spans = f" · {len(e.span_ids)} spans" if e.span_ids else ""
            out.append(
                Line(f"      ▸ run {e.trace_id}{spans}{own}", "trace", f"{_RUN}{e.trace_id}")
            )
        if len(i.evidence) > MAX_EVIDENCE_SHOWN:
            out.append(Line(f"      … {len(i.evidence) - MAX_EVIDENCE_SHOWN} more runs", "muted"))
    return out


class InsightsView(LinesView):
    """The insight lines; `enter` opens the run of the selected line."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "open", "Open evidence run")]

    def action_open(self) -> None:
        if self.cursor is None:
            return
        key = self.lines[self.cursor].span_id or ""
        if key.startswith(_RUN):
            self.post_message(OpenRun(key.removeprefix(_RUN)))


class InsightsScreen(ReportsWorkerErrors, Screen[None]):
    """The ranked insights of `flt`'s runs; `r` recomputes them."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "refresh", "Recompute"),
    ]

    def __init__(self, flt: RunFilter | None = None) -> None:
        super().__init__()
        self.flt = flt or RunFilter()
        self.report: InsightReport | None = None

    @property
    def hoptrace(self) -> HoptraceApp:
        """The app, typed."""
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Label(f"Insights · {self._filter_text()} · computing…", id="insights-status")
        yield InsightsView(id="insights")
        yield KeyBar()

    def _filter_text(self) -> str:
        parts = [f"status: {self.flt.status or 'all'}"]
        if self.flt.name:
            parts.append(f"name: {self.flt.name}")
        if self.flt.text:
            parts.append(f"search: {self.flt.text}")
        return ", ".join(parts)

    def on_mount(self) -> None:
        self.query_one(InsightsView).focus()
        self._compute(self.flt)

    def action_refresh(self) -> None:
        """Compute again (new runs may have arrived)."""
        self.query_one("#insights-status", Label).update(
            f"Insights · {self._filter_text()} · computing…"
        )
        self._compute(self.flt)

    @work(
        thread=True, exclusive=True, group="insights", exit_on_error=False, description="Insights"
    )
    def _compute(self, flt: RunFilter) -> None:
        self.post_message(InsightsLoaded(flt, queries.insights(self.hoptrace.db, flt)))

    @on(InsightsLoaded)
    def _loaded(self, message: InsightsLoaded) -> None:
        self.report = message.report
        view = self.query_one(InsightsView)
        view.set_lines(insight_lines(message.report, max(40, self.size.width)))
        self.query_one("#insights-status", Label).update(
            f"Insights · {self._filter_text()} · {len(message.report.insights)} found"
        )

    @on(OpenRun)
    def _open_run(self, message: OpenRun) -> None:
        message.stop()
        self.hoptrace.open_run(message.trace_id)
