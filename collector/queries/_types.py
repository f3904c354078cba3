"""The typed rows `collector.queries` returns (plain frozen dataclasses, no DuckDB).

Kept apart from the SQL so that `tui.layout` and the widgets can import the shapes
they render without the query code; `collector.queries` re-exports every name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = [
    "AgentRow",
    "ErrorRow",
    "HandoffRow",
    "RecoveryMark",
    "RejectMark",
    "RunBundle",
    "RunFilter",
    "RunRow",
    "RunSort",
    "SpanDetail",
    "SpanRow",
    "SqlResult",
]


@dataclass(frozen=True, slots=True)
class RunFilter:
    """What the runs list shows: a status (or all), a name part, free text."""

    status: str | None = None
    name: str = ""
    text: str = ""


@dataclass(frozen=True, slots=True)
class RunSort:
    """Order of the runs list; `key` is one of `RUN_SORT_KEYS`."""

    key: str = "start"
    descending: bool = True


@dataclass(frozen=True, slots=True)
class RunRow:
    """One row of the `runs` view, as the runs list shows it."""

    trace_id: str
    name: str | None
    start_ns: int
    duration_ms: float | None
    status: str
    span_count: int
    agent_count: int
    llm_calls: int
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    error_count: int
    root_cause_agent: str | None
    root_cause_error: str | None
    root_cause_message: str | None
    root_cause_span_id: str | None
    critical_path_ms: float | None
    pending_spans: int
    root_span_id: str | None = None
    recovered: bool = False
    """OK, but only after a recovered error or a rejected draft that was fixed."""
    conversation_id: str | None = None


class SpanRow(NamedTuple):
    """The columns of one span the waterfall needs (details are fetched on demand).

    A NamedTuple, not a dataclass: a 10k-span run builds 10k of these, and tuple
    construction is several times cheaper (it is most of the time to open one).
    """

    span_id: str
    parent_span_id: str | None
    name: str
    operation: str | None
    kind: str | None
    agent_name: str | None
    start_ns: int
    end_ns: int | None
    """None while pending (the stored end equals the start until it finishes)."""
    status: str
    pending: bool
    error_type: str | None
    error_role: str | None
    cause_span_id: str | None
    on_critical_path: bool
    critical_path_ms: float | None
    model: str | None
    cost_usd: float | None
    agent_span_id: str | None = None
    span_class: str | None = None
    """The collector's classification (`spans.hoptrace_kind`): workflow | agent | handoff |
    tool | llm, whichever dialect the span came in; None for a plain span."""


@dataclass(frozen=True, slots=True)
class AgentRow:
    """One row of the `agents` view for a run."""

    agent_name: str
    invocations: int
    duration_ms: float | None
    critical_path_ms: float | None
    critical_path_share: float | None
    llm_calls: int
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    inclusive_cost_usd: float | None
    error_count: int
    models: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ErrorRow:
    """One row of the `errors` view for a run."""

    span_id: str
    agent_name: str | None
    span_name: str | None
    error_type: str | None
    error_message: str | None
    role: str
    cause_span_id: str | None
    start_ns: int


@dataclass(frozen=True, slots=True)
class HandoffRow:
    """One edge of the `handoffs` view."""

    from_agent: str | None
    to_agent: str | None
    kind: str
    from_span_id: str | None
    to_span_id: str | None
    payload_preview: str | None


@dataclass(frozen=True, slots=True)
class RejectMark:
    """A `hoptrace.reject` event: `span_id` (of `agent`) rejected `rejected_span_id`."""

    span_id: str
    agent: str | None
    rejected_span_id: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class RecoveryMark:
    """A span that completed normally after catching the errors of `origin_span_ids`."""

    span_id: str
    agent: str | None
    origin_span_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RunBundle:
    """Everything the run screen draws, read in one connection."""

    run: RunRow | None
    spans: tuple[SpanRow, ...]
    agents: tuple[AgentRow, ...]
    errors: tuple[ErrorRow, ...]
    handoffs: tuple[HandoffRow, ...]
    rejections: tuple[RejectMark, ...]
    recoveries: tuple[RecoveryMark, ...]
    ingested_ns: int | None
    stacktraces: tuple[tuple[str, str], ...] = ()
    """(span_id, exception_stacktrace) of the spans where errors started."""


@dataclass(frozen=True, slots=True)
class SpanDetail:
    """Everything known about one span, JSON columns decoded."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    operation: str | None
    agent_name: str | None
    start_ns: int
    end_ns: int | None
    duration_ms: float | None
    status: str
    status_message: str | None
    error_type: str | None
    error_message: str | None
    error_role: str | None
    cause_span_id: str | None
    model: str | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    pending: bool
    input_preview: str | None
    output_preview: str | None
    exception_stacktrace: str | None
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    handoffs_in: tuple[HandoffRow, ...] = ()


@dataclass(frozen=True, slots=True)
class SqlResult:
    """A capped SQL console result; `truncated` says more rows existed."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    truncated: bool
