"""One run: its spans, agents, errors, handoffs, rejections and recoveries; one span's detail."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from collector.queries._read import DB, Reader, _connect, _json, _models, _str_list
from collector.queries._runs import _RUN_COLUMNS, _run_row
from collector.queries._types import (
    AgentRow,
    ErrorRow,
    HandoffRow,
    RecoveryMark,
    RejectMark,
    RunBundle,
    SpanDetail,
    SpanRow,
)
from tracer import semconv as sc

_SPAN_COLUMNS = (
    "span_id, nullif(parent_span_id, ''), coalesce(name, ''), operation, kind, agent_name,"
    " coalesce(start_ns, 0), CASE WHEN coalesce(pending, false) THEN NULL ELSE end_ns END,"
    " coalesce(status, 'UNSET'), coalesce(pending, false), error_type, error_role,"
    " cause_span_id, coalesce(on_critical_path, false), critical_path_ms, model, cost_usd,"
    " agent_span_id, hoptrace_kind"
)


def _rejections(rows: Sequence[Sequence[Any]]) -> list[RejectMark]:
    # `rejects` is the collector's own reading of the span's reject events (at ingest)
    return [
        RejectMark(span_id, agent or rej.get("agent"), str(rej["span_id"]), rej.get("reason"))
        for span_id, agent, rejects in rows
        for rej in _json(rejects) or []
        if isinstance(rej, dict) and rej.get("span_id")
    ]


def load_run(db: DB | Reader, trace_id: str) -> RunBundle:
    """The run row, its spans (tree order is the layout's job), agents, errors, edges."""
    p = [trace_id]
    with _connect(db) as conn:
        run = conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE trace_id = ?", p).fetchone()
        spans = conn.execute(
            f"SELECT {_SPAN_COLUMNS} FROM spans WHERE trace_id = ? ORDER BY start_ns, span_id", p
        ).fetchall()
        agents = conn.execute(
            "SELECT agent_name, invocations, duration_ms, critical_path_ms, critical_path_share,"
            " llm_calls, input_tokens, output_tokens, cost_usd, inclusive_cost_usd,"
            " error_count, models FROM agents WHERE trace_id = ?"
            " ORDER BY inclusive_cost_usd DESC NULLS LAST, agent_name",
            p,
        ).fetchall()
        errors = conn.execute(
            "SELECT span_id, agent_name, span_name, error_type, error_message, role,"
            " cause_span_id, start_ns FROM errors WHERE trace_id = ? ORDER BY start_ns, span_id",
            p,
        ).fetchall()
        handoffs = conn.execute(
            "SELECT from_agent, to_agent, kind, from_span_id, to_span_id, payload_preview"
            " FROM handoffs WHERE trace_id = ? ORDER BY start_ns, to_span_id, from_span_id",
            p,
        ).fetchall()
        rejects = conn.execute(
            "SELECT span_id, agent_name, rejects FROM span_t WHERE trace_id = ?"
            " AND rejects IS NOT NULL",
            p,
        ).fetchall()
        recovered = conn.execute(
            "SELECT span_id, agent_name, cause_span_id, attributes FROM spans"
            " WHERE trace_id = ? AND error_role = 'recovered'",
            p,
        ).fetchall()
        ingested = conn.execute(
            "SELECT max(ingested_ns) FROM spans WHERE trace_id = ?", p
        ).fetchone()
        traces = conn.execute(
            "SELECT span_id, exception_stacktrace FROM spans WHERE trace_id = ?"
            " AND exception_stacktrace IS NOT NULL"
            " AND coalesce(error_role, 'origin') NOT IN ('propagated', 'recovered')"
            " ORDER BY start_ns, span_id",
            p,
        ).fetchall()
    # the collector's diagnosis (cause_span_id: the origin it recovered), widened by every
    # origin the tracer's recovery marker names
    recoveries = [
        RecoveryMark(
            span_id,
            agent,
            _str_list((_json(attrs) or {}).get(sc.RECOVERED_SPAN_IDS))
            or ((cause,) if cause else ()),
        )
        for span_id, agent, cause, attrs in recovered
    ]
    return RunBundle(
        run=_run_row(run) if run else None,
        spans=tuple(map(SpanRow._make, spans)),
        agents=tuple(
            AgentRow(
                agent_name=a[0] or "?",
                invocations=int(a[1] or 0),
                duration_ms=a[2],
                critical_path_ms=a[3],
                critical_path_share=a[4],
                llm_calls=int(a[5] or 0),
                input_tokens=a[6],
                output_tokens=a[7],
                cost_usd=a[8],
                inclusive_cost_usd=a[9],
                error_count=int(a[10] or 0),
                models=_models(a[11]),
            )
            for a in agents
        ),
        errors=tuple(
            ErrorRow(e[0], e[1], e[2], e[3], e[4], e[5] or "origin", e[6], int(e[7] or 0))
            for e in errors
        ),
        handoffs=tuple(HandoffRow(*h) for h in handoffs),
        rejections=tuple(_rejections(rejects)),
        recoveries=tuple(recoveries),
        ingested_ns=None if not ingested or ingested[0] is None else int(ingested[0]),
        stacktraces=tuple((sid, str(text)) for sid, text in traces if text),
    )


def span_detail(db: DB | Reader, trace_id: str, span_id: str) -> SpanDetail | None:
    """One span with its attributes, events, links and the handoffs into it."""
    p = [trace_id, span_id]
    with _connect(db) as conn:
        r = conn.execute(
            "SELECT trace_id, span_id, parent_span_id, name, operation, agent_name, start_ns,"
            " end_ns, duration_ms, status, status_message, error_type, error_message,"
            " error_role, cause_span_id, model, input_tokens, output_tokens, cost_usd, pending,"
            " input_preview, output_preview, exception_stacktrace, attributes, events, links"
            " FROM spans WHERE trace_id = ? AND span_id = ?",
            p,
        ).fetchone()
        handoffs = conn.execute(
            "SELECT from_agent, to_agent, kind, from_span_id, to_span_id, payload_preview"
            " FROM handoffs WHERE trace_id = ? AND to_span_id = ? ORDER BY start_ns, from_span_id",
            p,
        ).fetchall()
    if r is None:
        return None
    attributes = _json(r[23]) or {}
    return SpanDetail(
        trace_id=r[0],
        span_id=r[1],
        parent_span_id=r[2],
        name=r[3],
        operation=r[4],
        agent_name=r[5],
        start_ns=r[6],
        end_ns=r[7],
        duration_ms=r[8],
        status=r[9],
        status_message=r[10],
        error_type=r[11],
        error_message=r[12],
        error_role=r[13],
        cause_span_id=r[14],
        model=r[15],
        input_tokens=r[16],
        output_tokens=r[17],
        cost_usd=r[18],
        pending=bool(r[19]),
        input_preview=r[20],
        output_preview=r[21],
        exception_stacktrace=r[22],
        attributes=attributes if isinstance(attributes, dict) else {"value": attributes},
        events=list(_json(r[24]) or []),
        links=list(_json(r[25]) or []),
        handoffs_in=tuple(HandoffRow(*h) for h in handoffs),
    )
