"""`a` on the runs list: agents across the filtered runs, sortable, worst runs, plots."""

from __future__ import annotations

from pathlib import Path

from demo_db import CHAIN_RUN
from textual.widgets import DataTable
from textual_plotext import PlotextPlot
from tui_helpers import make_app, screen_text, settle

from tui.screens.agents import AgentsScreen, RunLines
from tui.screens.run import RunScreen

SIZE = (140, 44)
AGENTS = {"orchestrator", "memory", "researcher", "analyst", "coder", "reviewer"}


async def test_a_lists_every_agent_with_its_numbers_and_sorts(demo_db: Path) -> None:
    async with make_app(demo_db).run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, AgentsScreen)
        assert {s.agent for s in screen.stats} == AGENTS
        table = screen.query_one(DataTable)
        assert table.row_count == len(AGENTS)
        costs = [s.cost_per_run for s in screen.stats if s.cost_per_run is not None]
        assert costs == sorted(costs, reverse=True)  # cost per run, highest first
        text = screen_text(pilot)
        assert "ROOT CAUSE" in text
        assert "sorted by cost ↓" in text
        researcher = next(s for s in screen.stats if s.agent == "researcher")
        # the chain run failed in the researcher's tool: half the failed runs
        assert researcher.root_cause_share == 0.5
        await pilot.press("s")  # p95
        await settle(pilot)
        p95 = [s.p95_ms for s in screen.stats if s.p95_ms is not None]
        assert p95 == sorted(p95, reverse=True)
        await pilot.press("S")
        await settle(pilot)
        p95 = [s.p95_ms for s in screen.stats if s.p95_ms is not None]
        assert p95 == sorted(p95)
        assert "sorted by p95 ↑" in screen_text(pilot)


async def test_an_agent_shows_its_worst_runs_and_plots_and_a_run_opens(demo_db: Path) -> None:
    async with make_app(demo_db).run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        screen = pilot.app.screen
        table = screen.query_one(DataTable)
        names = [s.agent for s in screen.stats]
        table.move_cursor(row=names.index("researcher"))
        await settle(pilot)
        runs = screen.query_one(RunLines)
        assert runs.lines[0].text.startswith("worst runs of researcher")
        assert runs.lines[1].span_id == CHAIN_RUN  # the run it was the root cause of
        assert "root cause" in runs.lines[1].text
        assert len(screen.query(PlotextPlot)) == 3
        text = screen_text(pilot)
        assert "researcher: time per run (ms)" in text
        assert "cost per run (USD)" in text
        assert "newest invocations (ms)" in text
        await pilot.press("enter")  # on the table: into the worst runs
        await settle(pilot)
        assert runs.has_focus
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(pilot.app.screen, RunScreen)
        assert pilot.app.screen.trace_id == CHAIN_RUN


async def test_the_agents_screen_follows_the_runs_filter(demo_db: Path) -> None:
    async with make_app(demo_db).run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f")  # ERROR runs only
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, AgentsScreen)
        assert "status ERROR" in screen_text(pilot)
        assert all(s.runs <= 2 for s in screen.stats)
        assert sum(s.root_cause_share or 0 for s in screen.stats) == 1.0
