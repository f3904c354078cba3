"""The handoff graph in the TUI: the run screen's Graph tab and the aggregated screen (`g`)."""

from __future__ import annotations

from pathlib import Path

from demo_db import CHAIN_RUN, OK_RUN
from textual.pilot import Pilot
from tui_helpers import make_app, screen_text, settle

from tui.messages import OpenRun
from tui.screens.graph import GraphScreen
from tui.screens.run import RunScreen
from tui.screens.span import SpanScreen
from tui.widgets.graph_view import GraphView, HandoffList

SIZE = (140, 44)


async def open_run(pilot: Pilot[None], trace_id: str) -> None:
    await settle(pilot)
    pilot.app.screen.post_message(OpenRun(trace_id))
    await settle(pilot)


async def select_edge(pilot: Pilot[None], source: str, target: str) -> None:
    view = pilot.app.screen.query_one(GraphView)
    for _ in range(len(view.order) + 1):
        if view.describe(view.selected) == ("edge", source, target):
            return
        await pilot.press("tab")
    raise AssertionError(f"no edge {source} -> {target}: {[view.describe(t) for t in view.order]}")


async def test_g_on_a_run_shows_its_agents_and_handoffs_as_a_graph(demo_db: Path) -> None:
    async with make_app(demo_db).run_test(size=SIZE) as pilot:
        await open_run(pilot, OK_RUN)
        await pilot.press("g")
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, RunScreen)
        assert screen.active_tab == "graph"
        view = screen.query_one(GraphView)
        assert view.has_focus
        assert view.graph is not None
        assert view.graph.trace_id == OK_RUN
        agents = {b.agent for b in view.grid.nodes}  # type: ignore[union-attr]
        assert agents == {"orchestrator", "memory", "researcher", "analyst", "coder", "reviewer"}
        text = screen_text(pilot)
        assert "│ orchestrator" in text
        assert "▼" in text
        assert "6 agents" in text
        # the top node is selected first and described below the graph
        assert view.describe(view.selected) == ("node", "orchestrator")
        assert "orchestrator: 1 invocations" in text


async def test_selecting_an_edge_lists_its_handoffs_and_enter_opens_the_receiver(
    demo_db: Path,
) -> None:
    async with make_app(demo_db).run_test(size=SIZE) as pilot:
        await open_run(pilot, OK_RUN)
        await pilot.press("g")
        await settle(pilot)
        await select_edge(pilot, "coder", "reviewer")
        await settle(pilot)
        handoffs = pilot.app.screen.query_one(HandoffList)
        assert handoffs.lines[0].text.startswith("coder → reviewer: 1 data")
        assert "draft v1" in handoffs.lines[1].text  # the payload the reviewer got
        receiver = handoffs.lines[1].span_id
        assert receiver
        await pilot.press("enter")  # into the list
        await settle(pilot)
        assert handoffs.has_focus
        await pilot.press("enter")  # open the receiving span
        await settle(pilot)
        assert isinstance(pilot.app.screen, SpanScreen)
        assert "invoke_agent reviewer" in screen_text(pilot)


async def test_arrow_keys_move_between_nodes_and_edges(demo_db: Path) -> None:
    async with make_app(demo_db).run_test(size=SIZE) as pilot:
        await open_run(pilot, OK_RUN)
        await pilot.press("g")
        await settle(pilot)
        view = pilot.app.screen.query_one(GraphView)
        start = view.describe(view.selected)
        await pilot.press("down")
        below = view.describe(view.selected)
        assert below != start
        await pilot.press("up")
        assert view.describe(view.selected) == start
        await pilot.press("down", "down", "down", "right", "left", "j", "k")
        assert view.selected in view.order


async def test_the_edge_a_propagated_error_crossed_is_marked(demo_db: Path) -> None:
    async with make_app(demo_db).run_test(size=SIZE) as pilot:
        await open_run(pilot, CHAIN_RUN)
        await pilot.press("g")
        await settle(pilot)
        view = pilot.app.screen.query_one(GraphView)
        assert view.grid is not None
        assert view.graph is not None
        crossed = {(e.source, e.target) for e in view.graph.edges if e.errors}
        assert ("orchestrator", "researcher") in crossed
        route = next(
            r for r in view.grid.edges if (r.source, r.target) == ("orchestrator", "researcher")
        )
        assert {view.grid.styles[r][c] for r, c in route.cells} == {"edge-error"}
        await select_edge(pilot, "orchestrator", "researcher")
        await settle(pilot)
        assert "error hop(s) crossed" in pilot.app.screen.query_one(HandoffList).lines[0].text


async def test_g_on_the_runs_list_aggregates_the_filtered_runs(demo_db: Path) -> None:
    async with make_app(demo_db).run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("g")
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, GraphScreen)
        view = screen.query_one(GraphView)
        assert view.graph is not None
        assert view.graph.runs == 4
        assert "Handoff graph: all runs" in screen_text(pilot)
        every = {(e.source, e.target): e.count for e in view.graph.edges}
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("f")  # failed runs only
        await settle(pilot)
        await pilot.press("g")
        await settle(pilot)
        view = pilot.app.screen.query_one(GraphView)
        assert view.graph is not None
        assert view.graph.runs == 2
        assert "status ERROR" in screen_text(pilot)
        failed = {(e.source, e.target): e.count for e in view.graph.edges}
        assert all(failed[k] <= every[k] for k in failed)


async def test_aggregated_edge_lists_handoffs_of_every_run_and_opens_the_span(
    demo_db: Path,
) -> None:
    async with make_app(demo_db).run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("g")
        await settle(pilot)
        await select_edge(pilot, "orchestrator", "researcher")
        await settle(pilot)
        handoffs = pilot.app.screen.query_one(HandoffList)
        rows = [line for line in handoffs.lines if line.span_id]
        assert len(rows) >= 2
        assert len({handoffs.trace_ids[handoffs.lines.index(r)] for r in rows}) >= 2
        await pilot.press("enter")
        await settle(pilot)
        assert handoffs.has_focus
        trace_id = handoffs.trace_ids[handoffs.cursor or 0]
        await pilot.press("enter")
        await settle(pilot)
        span = pilot.app.screen
        assert isinstance(span, SpanScreen)
        assert span.trace_id == trace_id
        assert "invoke_agent researcher" in screen_text(pilot)
