"""The compare screen: mark two runs, `c`, the divergence and both sides; an SVG snapshot.

Regenerate the snapshot (after looking at the report!) with
`.venv/bin/pytest tests/tui/test_tui_compare.py --snapshot-update`.
"""

from __future__ import annotations

from pathlib import Path

from demo_db import OK_RUN, REJECTED_RUN
from textual.message import Message
from textual.pilot import Pilot
from tui_helpers import make_app, of_type, screen_text, settle

from collector.queries import Hop, RunSide, diff_runs
from tui.screens.compare import CompareLoaded, CompareScreen, body_text, hop_side_text
from tui.screens.runs import RunsScreen
from tui.widgets.runs_list import RunsList

SIZE = (140, 40)


async def _mark_ok_then_rejected(pilot: Pilot[None]) -> None:
    """Runs newest first: PENDING, CHAIN, REJECTED, OK. Mark OK (A), then REJECTED (B)."""
    await settle(pilot)
    for key in ("end", "m", "up", "m", "c"):
        await pilot.press(key)
        await settle(pilot)


async def test_two_marked_runs_open_the_compare_screen_at_their_divergence(demo_db: Path) -> None:
    messages: list[Message] = []
    app = make_app(demo_db)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await settle(pilot)
        runs = app.screen.query_one(RunsList)
        await pilot.press("end", "m")
        assert runs.marked == [OK_RUN]
        text = screen_text(pilot)
        assert "4 runs  ◆ 1 marked (c compares)" in text
        assert text.count("◆") == 2  # the count and the marked row
        await pilot.press("question_mark")  # the help lists both keys
        await settle(pilot)
        help_text = screen_text(pilot)
        assert "Mark for compare" in help_text
        assert "Compare marked runs" in help_text
        await pilot.press("escape")
        await pilot.press("m")  # unmark
        assert runs.marked == []
        await pilot.press("m", "up", "m")
        assert runs.marked == [OK_RUN, REJECTED_RUN]
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, CompareScreen)
        [loaded] = of_type(messages, CompareLoaded)
        assert (loaded.trace_a, loaded.trace_b) == (OK_RUN, REJECTED_RUN)
        assert loaded.diff is not None
        div = loaded.diff.divergence
        assert div is not None
        # the first thing that went differently: memory recovered a timeout in B
        assert (div.kind, div.a and div.a.agent, div.b and div.b.outcome) == (
            "outcome",
            "memory",
            "recovered",
        )
        text = screen_text(pilot)
        assert "first divergence at hop 2 [outcome]" in text
        assert "A: memory <- orchestrator" in text
        assert "B: memory <- orchestrator: recovered an error" in text
        assert "coder <- orchestrator: output rejected" in text
        # swap: B becomes the baseline
        await pilot.press("x")
        await settle(pilot)
        last = of_type(messages, CompareLoaded)[-1]
        assert (last.trace_a, last.trace_b) == (REJECTED_RUN, OK_RUN)
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)
        assert runs.marked == [OK_RUN, REJECTED_RUN]  # the marks stay


async def test_one_mark_compares_with_the_selected_run_and_none_with_the_previous_turn(
    demo_db: Path,
) -> None:
    messages: list[Message] = []
    app = make_app(demo_db)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await settle(pilot)
        await pilot.press("end", "m", "up", "up", "c")  # OK marked, CHAIN selected
        await settle(pilot)
        [loaded] = of_type(messages, CompareLoaded)
        assert loaded.trace_a == OK_RUN
        assert loaded.trace_b != OK_RUN
        assert loaded.diff is not None
        await pilot.press("escape", "end", "m", "c")  # OK unmarked: its previous turn, none
        await settle(pilot)
        last = of_type(messages, CompareLoaded)[-1]
        assert last.diff is None
        assert last.error is not None
        assert last.trace_a == OK_RUN
        assert "no earlier turn" in screen_text(pilot)


def test_the_side_by_side_text_and_the_coloured_hops() -> None:
    a = Hop("a1", "coder", "orchestrator", input_preview='{"task": "x"}', output_preview="y" * 90)
    b = Hop("b1", "coder", "orchestrator", outcome="error", error_type="Timeout",
            messages=(("gpt-4o", "hi", None),))  # fmt: skip
    side = hop_side_text("A", a, width=40).splitlines()
    assert side[:4] == ["A: coder <- orchestrator", "span a1", "input:", '{"task": "x"}']
    assert side[5:] == ["y" * 39 + "…"]  # cut at the pane width
    many = hop_side_text("A", Hop("a2", "coder", input_preview="l\\n" * 20), width=40)
    assert many.splitlines()[3:10] == ["l"] * 5 + ["…", "output:"]
    other = hop_side_text("B", b, width=40)
    assert "coder <- orchestrator: error started (Timeout)" in other
    assert "output:\n(not recorded)" in other
    assert "gpt-4o in:\nhi\ngpt-4o out:\n(not recorded)" in other
    assert hop_side_text("B", None, 40) == "B: no such hop in this run"
    diff = diff_runs(RunSide("x", hops=(a,)), RunSide("y", hops=(b, Hop("b2", "reviewer"))))
    body = body_text(diff)
    styles = {body.plain[s.start : s.end].split()[1]: s.style for s in body.spans}
    assert styles == {"~": "yellow", "+": "green"}


def test_compare_snapshot(snap_compare, demo_db: Path) -> None:
    """The OK run against the rejected one: summary, both memory hops, aligned hops, deltas."""
    assert snap_compare(make_app(demo_db), terminal_size=SIZE, run_before=_mark_ok_then_rejected)
