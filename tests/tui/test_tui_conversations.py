"""Conversations: runs sharing gen_ai.conversation.id as ordered turns (query and screen)."""

from __future__ import annotations

from pathlib import Path

from demo_db import NOW, _Trace
from textual.widgets import DataTable
from tui_helpers import make_app, screen_text, settle, wait_for

from collector import SpanBatch, SpanStore, queries
from tui.screens.conversations import ConversationsScreen
from tui.screens.run import RunScreen
from tui.screens.runs import RunsScreen
from tui.widgets.runs_list import RunsList

CONV = "conv-42"
TURNS = [f"{0x4201 + i:032x}" for i in range(3)]
OTHER = f"{0x4301:032x}"
S = 1_000_000_000


def turn(batch: SpanBatch, trace_id: str, start_ns: int, conversation: str, *, fail: bool = False,
         retry: bool = False) -> None:  # fmt: skip
    t = _Trace(batch, trace_id, start_ns, int(trace_id[-8:], 16))
    conv = {"gen_ai.conversation.id": conversation}
    status = {"status": "ERROR", "message": "ValueError: no answer"} if fail else {}
    wf = t.workflow("chat_team", 0, 700, attrs=conv, **status)
    attrs = {**conv, "error.type": "ValueError"} if fail else conv
    orch = t.agent("orchestrator", wf, 5, 690, attrs=attrs, **status)
    o = ("orchestrator", orch)
    t.chat(o, 10, 300, (100, 20))
    t.agent("memory", orch, 300, 305, by=o)
    if retry:  # a failed tool call the orchestrator retried: an OK, recovered turn
        t.tool("lookup", o, 310, 400, status="ERROR", message="TimeoutError: slow")
        t.tool("lookup", o, 410, 500)


def add_conversations(db: Path) -> None:
    batch = SpanBatch()
    # written out of order: turns are ordered by start time, not by arrival
    turn(batch, TURNS[2], NOW - 10 * S, CONV, retry=True)
    turn(batch, TURNS[0], NOW - 30 * S, CONV)
    turn(batch, TURNS[1], NOW - 20 * S, CONV, fail=True)
    turn(batch, OTHER, NOW - 60 * S, "conv-7")
    store = SpanStore(db)
    try:
        store.write(batch)
    finally:
        store.close()


def test_conversation_turns_in_start_order(demo_db: Path) -> None:
    add_conversations(demo_db)
    found = queries.conversations(demo_db)
    assert [c.conversation_id for c in found] == [CONV, "conv-7"]  # newest activity first
    conv = found[0]
    assert (conv.turns, conv.failed_turns) == (3, 1)
    assert conv.first_start_ns < conv.last_start_ns
    turns = queries.conversation_turns(demo_db, CONV)
    assert [t.trace_id for t in turns] == TURNS
    assert [t.turn for t in turns] == [1, 2, 3]
    assert [t.status for t in turns] == ["OK", "ERROR", "OK"]
    assert turns[1].root_cause_agent == "orchestrator"
    assert [t.recovered for t in turns] == [False, False, True]
    assert all(t.memory is not None and "memory result" in t.memory for t in turns)
    assert conv.cost_usd is not None
    assert abs(conv.cost_usd - sum(t.cost_usd or 0 for t in turns)) < 1e-12
    # the filter narrows which runs count
    failed = queries.conversations(demo_db, queries.RunFilter(status="ERROR"))
    assert [(c.conversation_id, c.turns) for c in failed] == [(CONV, 1)]
    assert queries.conversation_turns(demo_db, "nope") == []


async def test_conversations_screen_from_the_runs_list_opens_a_turn(demo_db: Path) -> None:
    add_conversations(demo_db)
    app = make_app(demo_db)
    async with app.run_test(size=(140, 36)) as pilot:
        await settle(pilot)
        runs = app.screen.query_one(RunsList)
        index = next(i for i in range(runs.count) if runs.row(i).trace_id == TURNS[1])
        await pilot.press(*["down"] * index)
        assert runs.selected_trace_id == TURNS[1]
        assert CONV in screen_text(pilot)  # the conversation column of the runs list
        await pilot.press("t")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ConversationsScreen)
        assert screen.conversation_id == CONV  # the selected run's conversation
        assert [t.trace_id for t in screen.turns] == TURNS
        # the table paints its new rows on a later refresh than the worker's answer
        await wait_for(pilot, lambda: "orchestrator: ValueError" in screen_text(pilot))
        text = screen_text(pilot)
        assert "conv-42: 3 turns, 1 failed" in text
        assert "orchestrator: ValueError" in text
        assert "OK ↺" in text
        assert "memory result" in text  # what the memory agent carried into each turn
        assert "conv-7" in text
        turns = screen.query_one("#turns", DataTable)
        await pilot.press("t")  # to the turns table
        assert turns.has_focus
        await pilot.press("down", "enter")  # turn 2
        await settle(pilot)
        assert isinstance(app.screen, RunScreen)
        assert app.screen.trace_id == TURNS[1]
        await pilot.press("escape")
        assert isinstance(app.screen, ConversationsScreen)
        await pilot.press("v", "down")  # the other conversation
        await settle(pilot)
        assert screen.conversation_id == "conv-7"
        assert [t.trace_id for t in screen.turns] == [OTHER]
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


async def test_conversations_screen_without_conversations(demo_db: Path) -> None:
    app = make_app(demo_db)
    async with app.run_test(size=(140, 30)) as pilot:
        await settle(pilot)
        await pilot.press("t")
        await settle(pilot)
        assert isinstance(app.screen, ConversationsScreen)
        assert "No conversations in these runs." in screen_text(pilot)


def test_conversations_snapshot(snap_compare, demo_db: Path) -> None:
    """`t` on a turn of conv-42: its three turns, the failed one's root cause, the ↺ mark."""
    add_conversations(demo_db)

    async def run_before(pilot) -> None:
        await settle(pilot)
        runs = pilot.app.screen.query_one(RunsList)
        index = next(i for i in range(runs.count) if runs.row(i).trace_id == TURNS[0])
        await pilot.press(*["down"] * index)
        # scrolling loads the row's page in a worker: `t` before it lands opens no
        # conversation in particular (seen once in CI)
        await settle(pilot)
        assert runs.row(runs.cursor).trace_id == TURNS[0]
        await pilot.press("t")
        await settle(pilot)
        await wait_for(pilot, lambda: "orchestrator: ValueError" in screen_text(pilot))

    assert snap_compare(make_app(demo_db), terminal_size=(140, 24), run_before=run_before)
