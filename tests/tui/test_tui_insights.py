"""The insights screen: `i` from the runs list, computed in a worker, each insight opening
its evidence run (Pilot), and its lines as a pure function."""

from __future__ import annotations

from pathlib import Path

from demo_db import CHAIN_RUN, OK_RUN, PENDING_RUN, REJECTED_RUN
from textual.message import Message
from tui_helpers import make_app, of_type, screen_text, settle

from collector.queries import InsightReport, InsightRun, InsightSpan, RunFilter, compute_insights
from tui.screens.help import key_table
from tui.screens.insights import InsightsLoaded, InsightsScreen, InsightsView, insight_lines
from tui.screens.run import RunScreen
from tui.screens.runs import RunsScreen

MS = 1_000_000


async def test_i_lists_the_insights_and_enter_opens_the_evidence_run(demo_db: Path) -> None:
    messages: list[Message] = []
    app = make_app(demo_db)
    async with app.run_test(size=(150, 40), message_hook=messages.append) as pilot:
        await settle(pilot)
        assert "Insights" in key_table(app.screen)
        await pilot.press("i")
        await settle(pilot)
        assert isinstance(app.screen, InsightsScreen)
        [loaded] = of_type(messages, InsightsLoaded)
        report = loaded.report
        # the run still going has no latency yet: the three finished runs
        assert report.runs == 3
        assert report.insights
        kinds = {i.kind for i in report.insights}
        assert {"what_if", "blame"} <= kinds
        text = screen_text(pilot)
        assert f"{len(report.insights)} insights over 3 runs" in text
        assert "1. [" in text
        view = app.screen.query_one(InsightsView)
        best = report.insights[0].evidence[0].trace_id
        assert best in {OK_RUN, REJECTED_RUN, CHAIN_RUN}
        await pilot.press("enter")  # the cursor starts on the first insight's title
        await settle(pilot)
        assert isinstance(app.screen, RunScreen)
        assert app.screen.trace_id == best
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, InsightsScreen)
        # down: the first insight's first evidence line, then its next one (or the next title)
        await pilot.press("down", "down")
        key = view.lines[view.cursor or 0].span_id or ""
        assert key.startswith("run:")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RunScreen)
        assert app.screen.trace_id == key.removeprefix("run:")
        assert app.screen.trace_id != PENDING_RUN


async def test_insights_follow_the_runs_filter(demo_db: Path) -> None:
    messages: list[Message] = []
    app = make_app(demo_db)
    async with app.run_test(size=(150, 40), message_hook=messages.append) as pilot:
        await settle(pilot)
        await pilot.press("f")  # status: ERROR
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        [loaded] = of_type(messages, InsightsLoaded)
        assert loaded.flt.status == "ERROR"
        assert loaded.report.runs == 2
        evidence = {e.trace_id for i in loaded.report.insights for e in i.evidence}
        assert evidence <= {REJECTED_RUN, CHAIN_RUN}
        assert "status: ERROR" in screen_text(pilot)
        await pilot.press("r")
        await settle(pilot)
        assert len(of_type(messages, InsightsLoaded)) == 2
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)


def _report() -> InsightReport:
    run = InsightRun("t" * 32, "OK", (
        InsightSpan("root", None, 0, 100 * MS, span_class="workflow"),
        InsightSpan("ra", "root", 0, 80 * MS, span_class="agent", agent_name="researcher"),
        InsightSpan("ca", "root", 0, 60 * MS, span_class="agent", agent_name="coder"),
    ), root_span_id="root")  # fmt: skip
    return compute_insights([run])


def test_insight_lines_wrap_and_every_selectable_line_opens_a_run() -> None:
    report = _report()
    lines = insight_lines(report, width=60)
    assert lines[0].text.startswith(f"{len(report.insights)} insights over 1 runs")
    assert all(len(line.text) <= 60 for line in lines if line.text.startswith("    how"))
    keys = {line.span_id for line in lines if line.span_id}
    assert keys == {"run:" + "t" * 32}
    titles = [line.text for line in lines if line.text.lstrip().startswith("1. [")]
    assert titles == [f" 1. [what-if] {report.insights[0].title}"]
    assert "researcher" in titles[0]
    empty = insight_lines(compute_insights([]))
    assert "Nothing to report" in empty[-1].text
    assert InsightsScreen(RunFilter(name="x")).flt.name == "x"
