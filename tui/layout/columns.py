"""Runs-list columns: widths that fit the terminal, and each run's cell texts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from collector.queries import RunRow

from .fmt import fmt_ago, fmt_cost, fmt_duration, fmt_time, fmt_tokens, truncate

__all__ = [
    "RUN_COLUMNS",
    "Column",
    "Placed",
    "column_at",
    "fit_columns",
    "render_cells",
    "run_cells",
]


@dataclass(frozen=True, slots=True)
class Column:
    """A column: `key` is also its sort key (collector.queries.RUN_SORT_KEYS)."""

    key: str
    title: str
    width: int
    right: bool = False
    flex: int = 0
    drop: int = 0
    """When the terminal is too narrow, higher `drop` goes first; 0 never goes."""


# status, duration, cost and root cause are what a run is judged by: they stay at
# 80 columns (the counts and the absolute start time go first, AGE still dates it)
RUN_COLUMNS: tuple[Column, ...] = (
    Column("start", "START (UTC)", 19, drop=4),
    Column("age", "AGE", 7, right=True, drop=2),
    Column("name", "NAME", 14, flex=1, drop=1),
    Column("conversation", "CONV", 11, drop=7),
    Column("status", "STATUS", 7),
    Column("duration", "DURATION", 9, right=True),
    Column("agents", "AGENTS", 7, right=True, drop=6),
    Column("calls", "CALLS", 6, right=True, drop=5),
    Column("tokens", "TOKENS", 7, right=True, drop=3),
    Column("cost", "COST", 9, right=True),
    Column("cause", "ROOT CAUSE", 16, flex=2),
)


@dataclass(frozen=True, slots=True)
class Placed:
    """A column placed at cell `x` with `width` cells."""

    column: Column
    x: int
    width: int


def fit_columns(columns: Sequence[Column], width: int, gap: int = 1) -> list[Placed]:
    """Fixed columns at their width, flex columns share what is left (by weight).

    When the terminal is narrower than the minimum, columns are dropped (highest
    `drop` first, then from the right) rather than squeezed into unreadable slivers.
    """
    columns = list(columns)
    for c in sorted((c for c in columns if c.drop), key=lambda c: -c.drop):
        if sum(k.width for k in columns) + gap * (len(columns) - 1) <= width:
            break
        columns.remove(c)
    minimum = sum(c.width for c in columns) + gap * (len(columns) - 1)
    spare = max(0, width - minimum)
    weights = sum(c.flex for c in columns)
    placed: list[Placed] = []
    x = 0
    given = 0
    flex_seen = 0
    for c in columns:
        w = c.width
        if c.flex and weights:
            flex_seen += c.flex
            share = spare * flex_seen // weights - given
            given += share
            w += share
        if x + w > width:
            break
        placed.append(Placed(c, x, w))
        x += w + gap
    return placed


def column_at(placed: Sequence[Placed], x: int) -> Column | None:
    """The column under cell `x` (for clicks on the header)."""
    for p in placed:
        if p.x <= x < p.x + p.width + 1:
            return p.column
    return None


def display_name(run: RunRow) -> str:
    """The run's name as the store derives it (`runs.name`), else its trace id's head."""
    return run.name or run.trace_id[:16]


def run_cells(run: RunRow, now_ns: int) -> dict[str, str]:
    """The text of each column for one run; `now_ns` comes from the app's clock."""
    duration = run.duration_ms
    if run.status == "RUNNING":
        duration = max(0.0, (now_ns - run.start_ns) / 1e6)
    tokens = None
    if run.input_tokens is not None or run.output_tokens is not None:
        tokens = (run.input_tokens or 0) + (run.output_tokens or 0)
    cause = ""
    if run.status == "ERROR":
        cause = f"{run.root_cause_agent or '?'}: {run.root_cause_error or 'error'}"
        if run.root_cause_message:
            cause += f" ({run.root_cause_message})"
    return {
        "start": fmt_time(run.start_ns),
        "age": fmt_ago(run.start_ns, now_ns),
        "name": display_name(run),
        "conversation": run.conversation_id or "",
        # ↺: OK only after a recovered error or a fixed rejection (worth a look)
        "status": f"{run.status} ↺" if run.recovered else run.status,
        "duration": fmt_duration(duration),
        "agents": str(run.agent_count),
        "calls": str(run.llm_calls),
        "tokens": fmt_tokens(tokens),
        "cost": fmt_cost(run.cost_usd) if run.llm_calls else "",
        "cause": cause,
    }


def render_cells(placed: Sequence[Placed], cells: dict[str, str], gap: int = 1) -> str:
    """One line of text with every placed column aligned and cut to its width."""
    parts = []
    for p in placed:
        text = truncate(cells.get(p.column.key, ""), p.width)
        parts.append(text.rjust(p.width) if p.column.right else text.ljust(p.width))
    return (" " * gap).join(parts)
