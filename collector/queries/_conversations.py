"""Conversations: runs that share `runs.conversation_id` (gen_ai.conversation.id, or the
session attribute of other dialects), listed, and one conversation's turns in order."""

from __future__ import annotations

from dataclasses import dataclass

from collector.queries._read import DB, Reader, _connect
from collector.queries._runs import _where
from collector.queries._types import RunFilter

__all__ = ["ConversationSummary", "ConversationTurn", "conversation_turns", "conversations"]

CONVERSATIONS_LIMIT = 500
"""At most this many conversations (newest activity first): the screen feeds a DataTable."""
TURNS_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    """One conversation over the runs the filter shows."""

    conversation_id: str
    turns: int
    failed_turns: int
    first_start_ns: int
    last_start_ns: int
    duration_ms: float | None
    """Sum of its turns' durations."""
    cost_usd: float | None


@dataclass(frozen=True, slots=True)
class ConversationTurn:
    """One run of a conversation; `turn` counts from 1 in start order."""

    turn: int
    trace_id: str
    name: str | None
    start_ns: int
    duration_ms: float | None
    status: str
    cost_usd: float | None
    root_cause_agent: str | None
    root_cause_error: str | None
    root_cause_message: str | None
    recovered: bool
    memory: str | None = None
    """What a memory agent of the turn returned (its output preview): what it carried
    from earlier turns into this one."""


def conversations(
    db: DB | Reader, flt: RunFilter | None = None, limit: int = CONVERSATIONS_LIMIT
) -> list[ConversationSummary]:
    """Conversations with at least one run in the filter, most recently active first."""
    where, params = _where(flt or RunFilter())
    where = f"{where} AND" if where else " WHERE"
    sql = (
        "SELECT conversation_id, count(*), count(*) FILTER (WHERE status = 'ERROR'),"
        " min(start_ns), max(start_ns), sum(duration_ms), sum(cost_usd)"
        f" FROM runs{where} conversation_id IS NOT NULL"
        " GROUP BY conversation_id ORDER BY max(start_ns) DESC, conversation_id LIMIT ?"
    )
    with _connect(db) as conn:
        rows = conn.execute(sql, [*params, limit]).fetchall()
    return [
        ConversationSummary(
            conversation_id=r[0],
            turns=int(r[1]),
            failed_turns=int(r[2]),
            first_start_ns=int(r[3] or 0),
            last_start_ns=int(r[4] or 0),
            duration_ms=r[5],
            cost_usd=r[6],
        )
        for r in rows
    ]


def conversation_turns(
    db: DB | Reader, conversation_id: str, limit: int = TURNS_LIMIT
) -> list[ConversationTurn]:
    """The runs of one conversation, oldest first, numbered as turns."""
    # a memory agent by name (the convention the demo and most teams use): its first
    # output, joined rather than a correlated LIMIT 1 subquery, which ClickHouse refuses
    sql = (
        "SELECT runs.trace_id, name, start_ns, duration_ms, status, cost_usd, root_cause_agent,"
        " root_cause_error, root_cause_message,"
        " status = 'OK' AND EXISTS (SELECT 1 FROM errors e WHERE e.trace_id = runs.trace_id"
        " AND e.role IN ('recovered', 'rejected')), m.memory"
        " FROM runs LEFT JOIN (SELECT s.trace_id, arg_min(s.output_preview, s.start_ns) AS memory"
        "  FROM spans s WHERE s.hoptrace_kind = 'agent'"
        "  AND strpos(lower(s.agent_name), 'memory') > 0"
        "  AND s.trace_id IN (SELECT trace_id FROM runs WHERE conversation_id = ?)"
        "  GROUP BY s.trace_id) m ON m.trace_id = runs.trace_id"
        " WHERE conversation_id = ? ORDER BY start_ns, runs.trace_id LIMIT ?"
    )
    with _connect(db) as conn:
        rows = conn.execute(sql, [conversation_id, conversation_id, limit]).fetchall()
    return [
        ConversationTurn(
            turn=i,
            trace_id=r[0],
            name=r[1],
            start_ns=int(r[2] or 0),
            duration_ms=r[3],
            status=r[4] or "UNSET",
            cost_usd=r[5],
            root_cause_agent=r[6],
            root_cause_error=r[7],
            root_cause_message=r[8],
            recovered=bool(r[9]),
            memory=r[10],
        )
        for i, r in enumerate(rows, start=1)
    ]
