"""`t` on the runs list: conversations (runs sharing a conversation id) and, for the
highlighted one, its turns in order with status, duration, cost and root cause."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Label
from textual.worker import get_current_worker

from collector import queries
from collector.queries import ConversationSummary, ConversationTurn, RunFilter
from tui.layout.fmt import fmt_cost, fmt_duration, fmt_time, truncate
from tui.messages import StoreChanged
from tui.screens.graph import filter_text
from tui.widgets.key_bar import KeyBar
from tui.workers import ReportsWorkerErrors

if TYPE_CHECKING:
    from tui.app import HoptraceApp

__all__ = ["ConversationsScreen", "conversation_cells", "turn_cells"]

CONVERSATION_COLUMNS = ("CONVERSATION", "TURNS", "FAILED", "FIRST (UTC)", "LAST (UTC)",
                        "DURATION", "COST")  # fmt: skip
TURN_COLUMNS = ("TURN", "START (UTC)", "NAME", "STATUS", "DURATION", "COST", "ROOT CAUSE",
                "MEMORY CARRIED", "RUN")  # fmt: skip


@dataclass
class ConversationsLoaded(Message):
    """The conversations over the filtered runs."""

    conversations: list[ConversationSummary]


@dataclass
class TurnsLoaded(Message):
    """One conversation's turns."""

    conversation_id: str
    turns: list[ConversationTurn]


def conversation_cells(c: ConversationSummary) -> tuple[str, ...]:
    """The table cells of one conversation."""
    return (
        truncate(c.conversation_id, 36),
        str(c.turns),
        str(c.failed_turns) if c.failed_turns else "",
        fmt_time(c.first_start_ns),
        fmt_time(c.last_start_ns),
        fmt_duration(c.duration_ms),
        fmt_cost(c.cost_usd),
    )


def turn_cells(t: ConversationTurn) -> tuple[str, ...]:
    """The table cells of one turn (the root cause cut with an ellipsis)."""
    cause = ""
    if t.status == "ERROR":
        cause = f"{t.root_cause_agent or '?'}: {t.root_cause_error or 'error'}"
        if t.root_cause_message:
            cause += f" ({t.root_cause_message})"
    return (
        f"#{t.turn}",
        fmt_time(t.start_ns),
        truncate(t.name or "", 24),
        f"{t.status} ↺" if t.recovered else t.status,
        fmt_duration(t.duration_ms),
        fmt_cost(t.cost_usd),
        truncate(cause, 40),
        truncate(t.memory, 32),
        t.trace_id[:8],
    )


class ConversationsScreen(ReportsWorkerErrors, Screen[None]):
    """Conversations on top, the highlighted one's turns below; Enter on a turn opens it."""

    AUTO_FOCUS = "#conversations"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("t", "focus_turns", "Turns"),
        Binding("v", "focus_conversations", "Conversations"),
    ]

    def __init__(self, flt: RunFilter | None = None, conversation_id: str | None = None) -> None:
        super().__init__()
        self.flt = flt or RunFilter()
        self.conversation_id = conversation_id
        """The highlighted conversation (the selected run's, when opened from one)."""
        self.items: list[ConversationSummary] = []
        self.turns: list[ConversationTurn] = []

    @property
    def hoptrace(self) -> HoptraceApp:
        """The app, typed."""
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        self.load()
        yield Label(f"Conversations: {filter_text(self.flt)}", id="conversations-title")
        table: DataTable[str] = DataTable(id="conversations", cursor_type="row")
        table.add_columns(*CONVERSATION_COLUMNS)
        yield table
        yield Label("", id="turns-title", markup=False)
        turns: DataTable[str] = DataTable(id="turns", cursor_type="row", zebra_stripes=True)
        turns.add_columns(*TURN_COLUMNS)
        yield turns
        yield KeyBar()

    def load(self) -> None:
        """Read the conversations in a worker."""
        self._load(self.flt)

    @work(thread=True, exclusive=True, group="conversations", exit_on_error=False,
          description="Reading conversations")  # fmt: skip
    def _load(self, flt: RunFilter) -> None:
        found = queries.conversations(self.hoptrace.db, flt)
        if not get_current_worker().is_cancelled:
            self.post_message(ConversationsLoaded(found))

    @on(ConversationsLoaded)
    def _loaded(self, message: ConversationsLoaded) -> None:
        self.items = message.conversations
        table = self.query_one("#conversations", DataTable)
        table.clear()
        for c in self.items:
            table.add_row(*conversation_cells(c), key=c.conversation_id)
        if not self.items:
            self.query_one("#turns-title", Label).update("No conversations in these runs.")
            return
        ids = [c.conversation_id for c in self.items]
        keep = self.conversation_id
        table.move_cursor(row=ids.index(keep) if keep in ids else 0)
        self._show(ids[table.cursor_row])

    @on(DataTable.RowHighlighted, "#conversations")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value:
            self._show(str(event.row_key.value))

    @on(DataTable.RowSelected, "#conversations")
    def _conversation_chosen(self) -> None:
        self.action_focus_turns()

    def _show(self, conversation_id: str) -> None:
        self.conversation_id = conversation_id
        self._turns(conversation_id)

    @work(thread=True, exclusive=True, group="turns", exit_on_error=False,
          description="Reading a conversation")  # fmt: skip
    def _turns(self, conversation_id: str) -> None:
        turns = queries.conversation_turns(self.hoptrace.db, conversation_id)
        if not get_current_worker().is_cancelled:
            self.post_message(TurnsLoaded(conversation_id, turns))

    @on(TurnsLoaded)
    def _turns_loaded(self, message: TurnsLoaded) -> None:
        if message.conversation_id != self.conversation_id:
            return
        self.turns = message.turns
        failed = sum(t.status == "ERROR" for t in self.turns)
        self.query_one("#turns-title", Label).update(
            f"{message.conversation_id}: {len(self.turns)} turns, {failed} failed"
            "   (enter opens a turn)"
        )
        table = self.query_one("#turns", DataTable)
        table.clear()
        for t in self.turns:
            table.add_row(*turn_cells(t), key=t.trace_id)

    @on(DataTable.RowSelected, "#turns")
    def _turn_chosen(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.hoptrace.open_run(str(event.row_key.value))

    @on(StoreChanged)
    def _store_changed(self) -> None:
        self.load()

    def action_focus_turns(self) -> None:
        """Move to the turns table."""
        self.query_one("#turns", DataTable).focus()

    def action_focus_conversations(self) -> None:
        """Back to the conversations table."""
        self.query_one("#conversations", DataTable).focus()
