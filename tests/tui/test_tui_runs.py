"""Pilot tests of the runs view: listing, sorting, filtering, opening (messages first)."""

from __future__ import annotations

from pathlib import Path

from demo_db import CHAIN_RUN, NOW, OK_RUN, PENDING_RUN, REJECTED_RUN, _Trace
from textual.color import Color
from textual.message import Message
from tui_helpers import make_app, of_type, screen_text, settle

from collector import SpanBatch, SpanStore
from collector.queries import RunSort
from tui.layout.columns import RUN_COLUMNS, fit_columns
from tui.messages import OpenRun, RunLoaded, RunsLoaded
from tui.screens.run import RunScreen
from tui.screens.runs import RunsScreen
from tui.widgets.runs_list import RunsList


def visible_ids(app) -> list[str]:
    runs = app.screen.query_one(RunsList)
    return [runs.row(i).trace_id for i in range(runs.count)]


async def test_runs_view_shows_every_run_newest_first(demo_db: Path) -> None:
    messages: list[Message] = []
    app = make_app(demo_db)
    async with app.run_test(size=(140, 30), message_hook=messages.append) as pilot:
        await settle(pilot)
        [loaded, *_] = of_type(messages, RunsLoaded)
        assert loaded.count == 4
        assert isinstance(app.screen, RunsScreen)
        assert visible_ids(app) == [PENDING_RUN, CHAIN_RUN, REJECTED_RUN, OK_RUN]
        text = screen_text(pilot)
        assert "4 runs" in text
        assert "RUNNING" in text
        assert "coder: Rejected (tests" in text
        assert "researcher: ConnectionError" in text
        # the injected clock makes ages and the running duration stable
        assert "5s ago" in text
        assert "5.00s" in text


async def test_sort_keys_cycle_and_reverse(demo_db: Path) -> None:
    messages: list[Message] = []
    app = make_app(demo_db)
    async with app.run_test(size=(140, 30), message_hook=messages.append) as pilot:
        await settle(pilot)
        runs = app.screen.query_one(RunsList)
        await pilot.press("s")  # start -> name
        await settle(pilot)
        assert runs.sort.key == "name"
        for _ in range(2):  # name -> status -> duration
            await pilot.press("s")
        await settle(pilot)
        assert runs.sort.key == "duration"
        assert runs.sort.descending
        assert visible_ids(app)[:3] == [OK_RUN, REJECTED_RUN, CHAIN_RUN]
        await pilot.press("S")
        await settle(pilot)
        assert not runs.sort.descending
        assert visible_ids(app)[:3] == [CHAIN_RUN, REJECTED_RUN, OK_RUN]
        assert "DURATION▲" in screen_text(pilot)
        # every reload answered with a message
        assert len(of_type(messages, RunsLoaded)) >= 4


async def test_header_click_sorts_by_that_column(demo_db: Path) -> None:
    app = make_app(demo_db)
    async with app.run_test(size=(140, 30)) as pilot:
        await settle(pilot)
        runs = app.screen.query_one(RunsList)
        header = screen_text(pilot).splitlines()[3]
        x = header.index("COST")
        await pilot.click(RunsList, offset=(x, 0))
        await settle(pilot)
        assert runs.sort.key == "cost"
        assert visible_ids(app)[0] == OK_RUN
        await pilot.click(RunsList, offset=(x, 0))
        await settle(pilot)
        assert not runs.sort.descending


async def test_status_name_and_text_filters(demo_db: Path) -> None:
    messages: list[Message] = []
    app = make_app(demo_db)
    async with app.run_test(size=(140, 30), message_hook=messages.append) as pilot:
        await settle(pilot)
        runs = app.screen.query_one(RunsList)
        await pilot.press("f")
        await settle(pilot)
        assert of_type(messages, RunsLoaded)[-1].count == 2
        assert "status: ERROR" in screen_text(pilot)
        await pilot.press("f")
        await settle(pilot)
        assert visible_ids(app) == [PENDING_RUN]
        await pilot.press("x")
        await settle(pilot)
        assert runs.count == 4

        await pilot.press("slash")
        await pilot.press(*"unreachable")
        await settle(pilot)
        assert visible_ids(app) == [CHAIN_RUN]
        await pilot.press("enter")  # leaves the search box, back on the list
        assert runs.has_focus
        await pilot.press("x", "n", *"zzz")
        await settle(pilot)
        assert runs.count == 0
        assert "0 runs" in screen_text(pilot)
        await pilot.press("escape")
        assert runs.has_focus


async def test_keys_move_the_cursor_and_enter_opens_the_run(demo_db: Path) -> None:
    messages: list[Message] = []
    app = make_app(demo_db)
    async with app.run_test(size=(140, 30), message_hook=messages.append) as pilot:
        await settle(pilot)
        runs = app.screen.query_one(RunsList)
        await pilot.press("end")
        assert runs.selected_trace_id == OK_RUN
        await pilot.press("up", "k")
        assert runs.selected_trace_id == CHAIN_RUN
        await pilot.press("home", "down", "j", "pagedown", "pageup")
        assert runs.cursor == 0
        await pilot.press("down", "down", "enter")
        await settle(pilot)
        [opened] = of_type(messages, OpenRun)
        assert opened.trace_id == REJECTED_RUN
        [loaded] = of_type(messages, RunLoaded)
        assert loaded.bundle.run is not None
        assert loaded.bundle.run.status == "ERROR"
        assert isinstance(app.screen, RunScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


async def test_double_click_opens_a_run(demo_db: Path) -> None:
    app = make_app(demo_db)
    async with app.run_test(size=(140, 30)) as pilot:
        await settle(pilot)
        await pilot.click(RunsList, offset=(5, 4), times=2)
        await settle(pilot)
        assert isinstance(app.screen, RunScreen)
        assert app.screen.trace_id == OK_RUN


async def test_d_opens_the_root_cause_span_of_the_selected_run(demo_db: Path) -> None:
    from tui.messages import SpanDetailLoaded
    from tui.screens.span import SpanScreen

    messages: list[Message] = []
    app = make_app(demo_db)
    async with app.run_test(size=(140, 40), message_hook=messages.append) as pilot:
        await settle(pilot)
        await pilot.press("down", "d")  # the chain run
        await settle(pilot)
        assert isinstance(app.screen, SpanScreen)
        [loaded] = of_type(messages, SpanDetailLoaded)
        assert loaded.detail is not None
        assert loaded.detail.name == "execute_tool web_search"
        assert loaded.detail.error_role == "origin"
        text = screen_text(pilot)
        assert "ConnectionError: search backend unreachable" in text
        assert "Traceback (most recent call last):" in text
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


RETRIED_RUN = f"{0xE7:032x}"


def add_retried_run(db: Path) -> None:
    """An OK run whose orchestrator retried a failed tool call (the error was recovered)."""
    batch = SpanBatch()
    t = _Trace(batch, RETRIED_RUN, NOW - 2_000_000_000, 0xE7)
    wf = t.workflow("retry_team", 0, 900)
    orch = t.agent("orchestrator", wf, 5, 890)
    o = ("orchestrator", orch)
    t.tool("fetch", o, 10, 100, status="ERROR", message="TimeoutError: slow backend")
    t.tool("fetch", o, 110, 300)
    store = SpanStore(db)
    try:
        store.write(batch)
    finally:
        store.close()


async def test_a_recovered_ok_run_is_marked(demo_db: Path) -> None:
    add_retried_run(demo_db)
    app = make_app(demo_db)
    async with app.run_test(size=(140, 30)) as pilot:
        await settle(pilot)
        runs = app.screen.query_one(RunsList)
        by_id = {runs.row(i).trace_id: runs.row(i) for i in range(runs.count)}
        assert by_id[RETRIED_RUN].recovered
        assert not by_id[OK_RUN].recovered  # OK without any error
        assert not by_id[REJECTED_RUN].recovered  # it recovered one error, but failed
        lines = screen_text(pilot).splitlines()
        marked = [line for line in lines if "OK ↺" in line]
        assert len(marked) == 1
        assert "retry_team" in marked[0]


async def test_search_matches_any_agent_of_a_run(demo_db: Path) -> None:
    app = make_app(demo_db)
    async with app.run_test(size=(140, 30)) as pilot:
        await settle(pilot)
        runs = app.screen.query_one(RunsList)
        await pilot.press("slash", *"analyst")  # an agent of the OK run, never blamed
        await settle(pilot)
        assert runs.count == 1
        assert visible_ids(app) == [OK_RUN]
        await pilot.press("enter", "x", "slash", *"coder")  # blamed in one run, present in more
        await settle(pilot)
        assert REJECTED_RUN in visible_ids(app)
        assert OK_RUN in visible_ids(app)


async def test_status_sort_puts_errors_first(demo_db: Path) -> None:
    app = make_app(demo_db)
    async with app.run_test(size=(140, 30)) as pilot:
        await settle(pilot)
        runs = app.screen.query_one(RunsList)
        await pilot.press("s", "s")  # start -> name -> status
        await settle(pilot)
        assert runs.sort.key == "status"
        assert runs.sort.descending
        assert [runs.row(i).status for i in range(runs.count)] == [
            "ERROR",
            "ERROR",
            "RUNNING",
            "OK",
        ]
        header = next(line for line in screen_text(pilot).splitlines() if "START" in line)
        assert "STATUS▼" in header
        await pilot.press("S")
        await settle(pilot)
        assert [runs.row(i).status for i in range(runs.count)][-2:] == ["ERROR", "ERROR"]


async def test_at_80x24_the_key_columns_and_help_key_stay_visible(demo_db: Path) -> None:
    app = make_app(demo_db)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        lines = screen_text(pilot).splitlines()
        header = next(line for line in lines if "STATUS" in line)
        for title in ("STATUS", "DURATION", "COST", "ROOT CAUSE"):
            assert title in header
        chain = next(line for line in lines if "researcher: Conn" in line)
        assert len(chain.rstrip()) <= 80
        # the whole cause does not fit: cut with an ellipsis, never mid-word silence
        assert "researcher: ConnectionError (search backend unreachable)" not in chain
        assert chain.rstrip().endswith("…")
        assert "$" in chain  # its cost
        assert "? Help" in lines[-1]
        # START did not fit: AGE carries the sort arrow and sorts by start on a click
        assert "AGE▼" in header
        runs = app.screen.query_one(RunsList)
        await pilot.click(RunsList, offset=(header.index("AGE"), 0))
        await settle(pilot)
        assert runs.sort == RunSort("start", descending=False)
        await pilot.press("question_mark")
        await settle(pilot)
        from tui.screens.help import HelpScreen

        assert isinstance(app.screen, HelpScreen)


def test_narrow_terminals_drop_counts_before_the_key_columns() -> None:
    keys = [p.column.key for p in fit_columns(RUN_COLUMNS, 80)]
    assert keys == ["age", "name", "status", "duration", "tokens", "cost", "cause"]
    placed = fit_columns(RUN_COLUMNS, 80)
    assert placed[-1].x + placed[-1].width == 80
    tight = [p.column.key for p in fit_columns(RUN_COLUMNS, 50)]
    assert tight == ["status", "duration", "cost", "cause"]


def contrast(fg: Color, bg: Color) -> float:
    """WCAG 2 contrast ratio of two opaque colours."""

    def luminance(c: Color) -> float:
        def channel(v: int) -> float:
            s = v / 255
            return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

        return 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b)

    hi, lo = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def worst_contrast(runs: RunsList, y: int) -> tuple[float, str]:
    worst = (99.0, "")
    for seg in runs.render_line(y):
        if seg.text.strip() and seg.style is not None:
            fg = Color.from_rich_color(seg.style.color)
            bg = Color.from_rich_color(seg.style.bgcolor)
            worst = min(worst, (contrast(fg, bg), f"{seg.text.strip()!r} {fg.hex} on {bg.hex}"))
    return worst


async def test_the_selected_row_is_readable(demo_db: Path) -> None:
    app = make_app(demo_db)
    async with app.run_test(size=(140, 30)) as pilot:
        await settle(pilot)
        runs = app.screen.query_one(RunsList)
        await pilot.press("down")  # the chain run: ERROR, red status and root cause
        await settle(pilot)
        assert runs.row(runs.cursor).status == "ERROR"
        assert runs.has_focus
        # WCAG AA for normal text, on the cursor and on plain rows
        for y in (2, 1, 3, 4):
            ratio, where = worst_contrast(runs, y)
            assert ratio >= 4.5, where
        await pilot.press("slash")  # the list loses focus: the cursor stays readable
        await settle(pilot)
        assert not runs.has_focus
        ratio, where = worst_contrast(runs, 2)
        assert ratio >= 4.5, where
