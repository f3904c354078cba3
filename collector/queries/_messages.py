"""What a span's model calls saw and said: the transcript behind the span detail.

For a model call: its own `messages` rows. For an agent (or any other span): the rows
of the model calls it made itself (`agent_span_id`, or its direct children), call by
call in start order, with their tokens and cost summed; plus, for a span whose output
a reviewer rejected, who rejected it and why; and, for each handoff into the span,
whether the span's first model call was sent text that the sender's last model call
replied (content lineage: which upstream output flowed into which downstream prompt,
derived and stored on the handoff rows by collector.derive._lineage).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from collector.queries._read import DB, Reader, _connect, _json

__all__ = [
    "MAX_MESSAGE_ROWS",
    "ContentLineage",
    "MessageRow",
    "ModelCallRow",
    "SpanConversation",
    "span_conversation",
]

MAX_MESSAGE_ROWS = 2000
"""Rows read for one span's transcript (the view is not bounded; the screen must be)."""


@dataclass(frozen=True, slots=True)
class ContentLineage:
    """The receiver's first model call was sent text the sender's last model call replied."""

    from_agent: str | None
    from_span_id: str
    from_call_span_id: str
    to_call_span_id: str
    excerpt: str


@dataclass(frozen=True, slots=True)
class MessageRow:
    """One part of one message (a row of the `messages` view)."""

    span_id: str
    direction: str
    index: int
    message_index: int
    role: str | None
    part_type: str
    content: str | None
    tool_name: str | None
    tool_call_id: str | None
    finish_reason: str | None


@dataclass(frozen=True, slots=True)
class ModelCallRow:
    """One model call shown in a transcript."""

    span_id: str
    name: str
    model: str | None
    status: str
    start_ns: int
    duration_ms: float | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None


@dataclass(frozen=True, slots=True)
class SpanConversation:
    """The model calls of a span (itself, or those it made) and their messages, in order."""

    calls: tuple[ModelCallRow, ...]
    messages: tuple[MessageRow, ...]
    truncated: bool
    rejected_by: str | None = None
    """Agent that rejected this span's output, when one did."""
    reject_reason: str | None = None
    lineage: tuple[ContentLineage, ...] = ()

    @property
    def input_tokens(self) -> int | None:
        return _sum(c.input_tokens for c in self.calls)

    @property
    def output_tokens(self) -> int | None:
        return _sum(c.output_tokens for c in self.calls)

    @property
    def cost_usd(self) -> float | None:
        """Sum of the calls' costs; None when any is unknown (never a partial that looks whole)."""
        costs = [c.cost_usd for c in self.calls]
        if not costs or any(c is None for c in costs):
            return None
        return float(sum(c for c in costs if c is not None))


def _sum(values: Any) -> int | None:
    known = [v for v in values if v is not None]
    return int(sum(known)) if known else None


_CALLS = """
SELECT span_id, name, model, status, start_ns, duration_ms, input_tokens, output_tokens, cost_usd
FROM spans
WHERE trace_id = ? AND hoptrace_kind = 'llm'
  AND (span_id = ? OR agent_span_id = ? OR (parent_span_id = ? AND agent_span_id IS NULL))
ORDER BY start_ns, span_id
LIMIT 500
"""


def span_conversation(db: DB | Reader, trace_id: str, span_id: str) -> SpanConversation:
    """The transcript of span `span_id`: its model calls and their messages (bounded)."""
    with _connect(db) as conn:
        calls = conn.execute(_CALLS, [trace_id, span_id, span_id, span_id]).fetchall()
        rows: list[Any] = []
        if calls:
            ids = [c[0] for c in calls]
            marks = ", ".join("?" for _ in ids)
            rows = conn.execute(
                'SELECT span_id, direction, "index", message_index, role, part_type, content,'
                " tool_name, tool_call_id, finish_reason FROM messages"
                f" WHERE trace_id = ? AND span_id IN ({marks})"
                " ORDER BY start_ns, span_id,"
                " CASE direction WHEN 'system' THEN 0 WHEN 'tools' THEN 1 WHEN 'input' THEN 2"
                ' ELSE 3 END, "index"'
                f" LIMIT {MAX_MESSAGE_ROWS + 1}",
                [trace_id, *ids],
            ).fetchall()
        # the collector's reading of reject events (span_t.rejects), as load_run reads it
        rejects = conn.execute(
            "SELECT agent_name, rejects FROM span_t WHERE trace_id = ? AND rejects IS NOT NULL"
            " ORDER BY start_ns",
            [trace_id],
        ).fetchall()
        lineage = _lineage(conn, trace_id, span_id)
    reject = next(
        (
            (agent or rej.get("agent"), rej.get("reason"))
            for agent, text in rejects
            for rej in _json(text) or []
            if isinstance(rej, dict) and rej.get("span_id") == span_id
        ),
        None,
    )
    truncated = len(rows) > MAX_MESSAGE_ROWS
    return SpanConversation(
        calls=tuple(ModelCallRow(*c) for c in calls),
        messages=tuple(MessageRow(*r) for r in rows[:MAX_MESSAGE_ROWS]),
        truncated=truncated,
        rejected_by=None if reject is None else reject[0],
        reject_reason=None if reject is None else reject[1],
        lineage=lineage,
    )


def _lineage(conn: Any, trace_id: str, span_id: str) -> tuple[ContentLineage, ...]:
    # derived once, on the handoff rows (collector.derive._lineage); one per sender,
    # its first handoff into this span
    rows = conn.execute(
        "SELECT from_agent, from_span_id, lineage_from_call, lineage_to_call, lineage_text"
        " FROM handoffs WHERE trace_id = ? AND to_span_id = ? AND lineage"
        " QUALIFY row_number() OVER (PARTITION BY from_span_id ORDER BY start_ns, kind) = 1"
        " ORDER BY start_ns, from_span_id",
        [trace_id, span_id],
    ).fetchall()
    return tuple(ContentLineage(*r) for r in rows)
