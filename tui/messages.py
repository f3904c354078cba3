"""Typed messages: how worker results and user intents travel to the widgets."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from collector.queries import RunBundle, RunRow, SpanDetail, SqlResult
from tui.layout import Line, SpanTree

__all__ = [
    "OpenRun",
    "OpenSpan",
    "RunLoaded",
    "RunsLoaded",
    "RunsPageLoaded",
    "SpanDetailLoaded",
    "SqlFinished",
    "StoreChanged",
]


@dataclass
class StoreChanged(Message, bubble=False):
    """New spans were ingested (the store's max(ingested_ns) moved)."""

    ingested_ns: int

    def can_replace(self, message: Message) -> bool:
        # a burst of polls collapses into the newest one
        return isinstance(message, StoreChanged)


@dataclass
class RunsLoaded(Message):
    """A fresh look at the runs list: count, the pages near the cursor, where it is now."""

    generation: int
    count: int
    pages: dict[int, list[RunRow]]
    cursor: int
    scroll_y: int


@dataclass
class RunsPageLoaded(Message):
    """Pages the runs list asked for while scrolling."""

    generation: int
    pages: dict[int, list[RunRow]]


@dataclass
class OpenRun(Message):
    """The user chose a run."""

    trace_id: str


@dataclass
class RunLoaded(Message):
    """A run was read and laid out (tree, error paths, cost lines) off the UI thread."""

    trace_id: str
    bundle: RunBundle
    tree: SpanTree
    error_lines: list[Line]
    cost_lines: list[Line]
    critical_shares: list[tuple[str, float]]


@dataclass
class OpenSpan(Message):
    """The user asked for a span's details."""

    trace_id: str
    span_id: str


@dataclass
class SpanDetailLoaded(Message):
    """A span's details were read (None: the span is not in the store)."""

    trace_id: str
    span_id: str
    detail: SpanDetail | None


@dataclass
class SqlFinished(Message):
    """The SQL console's statement finished."""

    sql: str
    result: SqlResult
    elapsed_s: float
