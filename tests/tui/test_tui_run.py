"""Pilot tests of one run: waterfall keys, errors, cost, span detail, help, SQL."""

from __future__ import annotations

from pathlib import Path

from demo_db import CHAIN_RUN, OK_RUN, PENDING_RUN, REJECTED_RUN
from textual.message import Message
from tui_helpers import make_app, of_type, screen_text, settle

from tui.app import HoptraceApp
from tui.messages import OpenRun, OpenSpan, RunLoaded, SpanDetailLoaded, SqlFinished
from tui.screens.help import HelpScreen
from tui.screens.run import RunScreen
from tui.screens.span import SpanScreen
from tui.screens.sql import SqlScreen
from tui.widgets.lines_view import LinesView
from tui.widgets.waterfall import Waterfall


async def open_run(pilot, trace_id: str) -> RunScreen:
    app: HoptraceApp = pilot.app
    await settle(pilot)
    # posted, not called: the screen opens in the app's own task (as a key press
    # would), so the test's message hook sees the new screen's messages too
    app.screen.post_message(OpenRun(trace_id))
    await settle(pilot)
    assert isinstance(app.screen, RunScreen)
    return app.screen


async def test_waterfall_tree_bars_and_critical_path(demo_db: Path) -> None:
    messages: list[Message] = []
    app = make_app(demo_db)
    async with app.run_test(size=(140, 36), message_hook=messages.append) as pilot:
        screen = await open_run(pilot, OK_RUN)
        [loaded] = of_type(messages, RunLoaded)
        assert len(loaded.bundle.spans) == 14
        wf = screen.query_one(Waterfall)
        assert [r.depth for r in wf.rows[:3]] == [0, 1, 2]
        text = screen_text(pilot)
        assert "critical path 4.00s: researcher 40%" in text
        # handoff receivers drawn as handoffs, model calls and tools with their own icons
        assert "⇢ invoke_agent researcher" in text
        assert "◇ chat gpt-4o-mini" in text
        assert "⚙ execute_tool web_search" in text
        assert "█" in text


async def test_waterfall_keys_fold_zoom_pan_and_errors(demo_db: Path) -> None:
    app = make_app(demo_db)
    async with app.run_test(size=(140, 36)) as pilot:
        screen = await open_run(pilot, REJECTED_RUN)
        wf = screen.query_one(Waterfall)
        assert len(wf.rows) == 9
        await pilot.press("down", "left")  # fold the orchestrator
        assert len(wf.rows) == 2
        await pilot.press("right")
        assert len(wf.rows) == 9
        await pilot.press("space")
        assert len(wf.rows) == 2
        await pilot.press(
            "space", "left"
        )  # unfold, then fold again... and left again goes to parent
        await pilot.press("left")
        assert wf.cursor == 0
        await pilot.press("right")
        full = wf.window
        await pilot.press("plus")
        assert wf.window.width_ns == full.width_ns // 2
        await pilot.press("l")
        assert wf.window.start_ns > full.start_ns
        await pilot.press("h", "h", "h")
        assert wf.window.start_ns == full.start_ns
        await pilot.press("minus")
        assert wf.window == full
        await pilot.press("plus", "plus", "0")
        assert wf.window == full
        await pilot.press("home", "n")
        assert wf.rows[wf.cursor].span.name == "invoke_agent orchestrator"
        await pilot.press("n")
        assert wf.rows[wf.cursor].span.name == "execute_tool recall"
        await pilot.press("n", "n")
        assert wf.rows[wf.cursor].span.name == "invoke_workflow research_team"  # wrapped
        await pilot.press("end", "pageup", "pagedown", "up", "k", "down", "j")
        assert wf.cursor == len(wf.rows) - 1


async def test_errors_tab_shows_paths_hop_by_hop(demo_db: Path) -> None:
    messages: list[Message] = []
    app = make_app(demo_db)
    async with app.run_test(size=(140, 36), message_hook=messages.append) as pilot:
        screen = await open_run(pilot, REJECTED_RUN)
        await pilot.press("e")
        assert screen.active_tab == "errors"
        view = screen.query_one("#errors-view", LinesView)
        assert view.has_focus
        lines = [line.text for line in view.lines]
        assert (
            lines[0] == "✗ Path 1: Rejected in coder — run failed at invoke_workflow research_team"
        )
        assert "✓ Path 2: TimeoutError in memory — recovered by memory" in lines
        joined = "\n".join(lines)
        assert "⊘ output rejected by reviewer: tests fail on empty input" in joined
        assert "⇅ crossed handoff coder → reviewer (data)" in joined
        assert "⇒ run failed at invoke_workflow research_team" in joined
        text = screen_text(pilot)
        assert "recovered by memory" in text
        # down moves to the next span line; enter opens it
        await pilot.press("down", "enter")
        await settle(pilot)
        [opened] = of_type(messages, OpenSpan)
        assert opened.span_id == f"{0xB2:08x}{6:08x}"  # the coder: its output was rejected
        assert isinstance(app.screen, SpanScreen)
        assert "invoke_agent coder" in screen_text(pilot)


async def test_errors_tab_shows_origin_stack_trace(demo_db: Path) -> None:
    app = make_app(demo_db)
    async with app.run_test(size=(140, 40)) as pilot:
        await open_run(pilot, CHAIN_RUN)
        await pilot.press("e")
        text = screen_text(pilot)
        assert "stack trace of the origin:" in text
        assert 'File "sample_pipelines/research_team.py", line 88, in web_search' in text
        await pilot.press("up", "k", "j")


async def test_cost_tab_per_agent_shares_and_total(demo_db: Path) -> None:
    app = make_app(demo_db)
    async with app.run_test(size=(140, 36)) as pilot:
        screen = await open_run(pilot, OK_RUN)
        await pilot.press("c")
        assert screen.active_tab == "cost"
        text = screen_text(pilot)
        assert "run total $0.00175" in text
        coder = next(line for line in text.splitlines() if line.startswith("coder"))
        assert "40%" in coder
        assert "█" in coder
        orchestrator = next(line for line in text.splitlines() if line.startswith("orchestrator"))
        assert "$0.00175" in orchestrator  # inclusive of the agents it delegated to
        await pilot.press("w")
        assert screen.active_tab == "waterfall"
        # the tab bar answers clicks too
        from tui.screens.run import TabBar

        await pilot.click(TabBar, offset=(19, 0))
        assert screen.active_tab == "errors"
        assert screen.query_one("#errors-view").has_focus


async def test_span_detail_and_jump_to_handoff_producer(demo_db: Path) -> None:
    messages: list[Message] = []
    app = make_app(demo_db)
    async with app.run_test(size=(140, 50), message_hook=messages.append) as pilot:
        screen = await open_run(pilot, OK_RUN)
        wf = screen.query_one(Waterfall)
        reviewer = next(i for i, r in enumerate(wf.rows) if r.span.name == "invoke_agent reviewer")
        await pilot.press(*["down"] * reviewer, "enter")
        await settle(pilot)
        [detail] = of_type(messages, SpanDetailLoaded)
        assert detail.detail is not None
        assert detail.detail.agent_name == "reviewer"
        text = screen_text(pilot)
        for section in ("Handoffs in", "Input", "Output", "Attributes", "Events", "Links"):
            assert section in text
        assert "data from coder" in text
        await pilot.press("p")
        await settle(pilot)
        assert isinstance(app.screen, SpanScreen)
        coder = of_type(messages, SpanDetailLoaded)[-1].detail
        assert coder is not None
        assert coder.agent_name == "coder"
        # the waterfall followed the jump
        assert wf.rows[wf.cursor].span.name == "invoke_agent coder"
        await pilot.press("escape")
        assert isinstance(app.screen, RunScreen)


async def test_span_without_handoff_warns_on_jump(demo_db: Path) -> None:
    app = make_app(demo_db)
    async with app.run_test(size=(140, 36)) as pilot:
        await settle(pilot)
        app.screen.post_message(OpenRun(OK_RUN))
        await settle(pilot)
        app.screen.post_message(OpenSpan(OK_RUN, f"{0xA1:08x}{1:08x}"))
        await settle(pilot)
        await pilot.press("p")
        assert isinstance(app.screen, SpanScreen)
        assert any("No handoff" in n.message for n in app._notifications)


async def test_pending_spans_are_open_ended_and_orphans_are_roots(demo_db: Path) -> None:
    app = make_app(demo_db)
    async with app.run_test(size=(140, 36)) as pilot:
        screen = await open_run(pilot, PENDING_RUN)
        wf = screen.query_one(Waterfall)
        roots = [r for r in wf.rows if r.depth == 0]
        assert [r.orphan for r in roots] == [False, True]
        text = screen_text(pilot)
        assert "▷" in text  # open-ended bars
        assert "execute_tool run_tests (orphan)" in text
        assert "5.00s…" in text  # elapsed so far, by the injected clock
        assert "[RUNNING]" in text


async def test_help_lists_the_keys_of_the_screen(demo_db: Path) -> None:
    app = make_app(demo_db)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(pilot)
        assert "Status filter" in text
        assert "Open run" in text
        await pilot.press("escape")
        await open_run(pilot, OK_RUN)
        await pilot.press("question_mark")
        text = screen_text(pilot)
        assert "Zoom in" in text
        assert "Next error" in text
        await pilot.press("question_mark")
        assert isinstance(app.screen, RunScreen)


async def test_sql_console_capped_results_and_errors(demo_db: Path) -> None:
    messages: list[Message] = []
    app = make_app(demo_db)
    async with app.run_test(size=(140, 36), message_hook=messages.append) as pilot:
        await settle(pilot)
        await pilot.press("colon")
        assert isinstance(app.screen, SqlScreen)
        await pilot.press(
            *"SELECT status, count(*) AS n FROM runs GROUP BY ALL ORDER BY 1", "enter"
        )
        await settle(pilot)
        [done] = of_type(messages, SqlFinished)
        assert done.result.columns == ("status", "n")
        assert done.result.rows == (("ERROR", 2), ("OK", 1), ("RUNNING", 1))
        assert "3 rows" in screen_text(pilot)
        # a bad statement: one error notification, no traceback, app still alive
        app.screen.query_one("#sql-input").value = ""
        await pilot.press(*"SELEC nope", "enter")
        await settle(pilot)
        errors = [n for n in app._notifications if n.severity == "error"]
        assert len(errors) == 1
        assert "SQL" in errors[0].message
        assert "Traceback" not in screen_text(pilot)
        await pilot.press("escape")
        assert not isinstance(app.screen, SqlScreen)


async def test_alternative_zoom_pan_keys_and_mouse(demo_db: Path) -> None:
    messages: list[Message] = []
    app = make_app(demo_db)
    async with app.run_test(size=(140, 36), message_hook=messages.append) as pilot:
        screen = await open_run(pilot, OK_RUN)
        wf = screen.query_one(Waterfall)
        full = wf.window
        await pilot.press("equals_sign")
        assert wf.window.width_ns == full.width_ns // 2
        await pilot.press("greater_than_sign")
        moved = wf.window.start_ns
        assert moved > full.start_ns
        await pilot.press("less_than_sign")
        assert wf.window.start_ns < moved
        # click selects a row, double click opens its span
        await pilot.click(Waterfall, offset=(10, 3))
        assert wf.cursor == 2
        await pilot.click(Waterfall, offset=(10, 3), times=2)
        await settle(pilot)
        [opened] = of_type(messages, OpenSpan)
        assert opened.span_id == wf.rows[2].span.span_id
        assert isinstance(app.screen, SpanScreen)


async def test_q_quits(demo_db: Path) -> None:
    app = make_app(demo_db)
    async with app.run_test(size=(140, 36)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


async def test_pending_bars_grow_with_the_clock(demo_db: Path) -> None:
    from demo_db import NOW

    now = [NOW / 1e9]
    app = HoptraceApp(demo_db, clock=lambda: now[0], poll_interval=3600)
    async with app.run_test(size=(140, 36)) as pilot:
        screen = await open_run(pilot, PENDING_RUN)
        wf = screen.query_one(Waterfall)
        before = wf.extent
        assert "5.00s…" in screen_text(pilot)
        now[0] += 3  # three seconds later, no new spans
        app._tick()
        await pilot.pause()
        assert wf.extent.end_ns == before.end_ns + 3 * 10**9
        assert wf.window == wf.extent  # a fitted view follows the growing run
        assert "8.00s…" in screen_text(pilot)
