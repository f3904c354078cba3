"""Reading what a comparison needs: a run's hops, its conversation's previous turn, run ids.

Every read is bounded (MAX_HOPS hops per run, MAX_MESSAGES model calls per divergence
hop, previews cut to PREVIEW_CHARS); the maths live in `_compare` and `_compare_groups`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from collector.queries._compare import Hop, RunDiff, RunSide, canonical_order, diff_runs
from collector.queries._read import DB, Reader, _connect, _models
from collector.queries._runs import RunNotFoundError

__all__ = [
    "MAX_HOPS",
    "compare_runs",
    "previous_turn",
    "read_run_side",
]

MAX_HOPS = 1000
"""Agent invocations read per run: the alignment is quadratic in the differing middle."""
MAX_MESSAGES = 20
PREVIEW_CHARS = 2000


def previous_turn(db: DB | Reader, trace_id: str) -> str | None:
    """The run of the same conversation that started last before this one."""
    with _connect(db) as conn:
        row = conn.execute(
            "SELECT p.trace_id FROM runs r JOIN runs p ON p.conversation_id = r.conversation_id"
            " AND p.start_ns < r.start_ns WHERE r.trace_id = ?"
            " ORDER BY p.start_ns DESC, p.trace_id LIMIT 1",
            [trace_id],
        ).fetchone()
    return None if row is None else str(row[0])


_HOPS_SQL = """
WITH hops AS (
    SELECT span_id, agent_name, parent_span_id, start_ns, duration_ms, status, error_role,
           error_type, coalesce(pending, false) AS pending,
           coalesce(on_critical_path, false) AS on_cp,
           left(input_preview, $chars) AS input_preview,
           left(output_preview, $chars) AS output_preview
    FROM spans WHERE trace_id = $t AND hoptrace_kind = 'agent'
    ORDER BY start_ns, span_id LIMIT $limit
), own AS (
    SELECT agent_span_id,
           sum(coalesce(critical_path_ms, 0)) AS cp_ms,
           count(*) FILTER (WHERE is_llm_call) AS calls,
           sum(coalesce(input_tokens, 0) + coalesce(output_tokens, 0))
               FILTER (WHERE is_llm_call) AS tokens,
           sum(cost_usd) FILTER (WHERE is_llm_call) AS cost,
           count(*) FILTER (WHERE status = 'ERROR') AS errors,
           bool_or(error_role = 'origin') AS origin,
           bool_or(error_role = 'recovered') AS recovered,
           arg_min(error_type, start_ns) FILTER (WHERE error_role = 'origin') AS origin_type,
           string_agg(DISTINCT model, ',' ORDER BY model) FILTER (WHERE is_llm_call) AS models
    FROM spans WHERE trace_id = $t AND agent_span_id IN (SELECT span_id FROM hops)
    GROUP BY agent_span_id
), handed AS (
    SELECT to_span_id,
           arg_min(from_agent, start_ns) FILTER (WHERE kind <> 'data') AS caller,
           list_sort(list_distinct(list(from_agent) FILTER (WHERE kind = 'data'))) AS sources
    FROM handoffs WHERE trace_id = $t AND to_span_id IN (SELECT span_id FROM hops)
    GROUP BY to_span_id
)
SELECT h.span_id, coalesce(h.agent_name, '?'), coalesce(d.caller, p.agent_name), d.sources,
       h.start_ns, h.duration_ms, h.status, h.error_role, h.error_type, h.pending, h.on_cp,
       o.cp_ms, o.calls, o.tokens, o.cost, o.errors, o.origin, o.recovered, o.origin_type,
       o.models, h.input_preview, h.output_preview, p.agent_span_id
FROM hops h
LEFT JOIN own o ON o.agent_span_id = h.span_id
LEFT JOIN handed d ON d.to_span_id = h.span_id
LEFT JOIN spans p ON p.trace_id = $t AND p.span_id = h.parent_span_id
ORDER BY h.start_ns, h.span_id
"""


def _outcome(status: str | None, role: str | None, pending: bool, origin: Any, rec: Any) -> str:
    if pending:
        return "running"
    if role == "rejected":
        return "rejected"
    if role == "recovered" or rec:
        return "recovered"
    if origin:
        return "error"
    if status == "ERROR":
        return "failed"
    return "ok"


def _hop(r: tuple[Any, ...], run_start_ns: int) -> Hop:
    outcome = _outcome(r[6], r[7], bool(r[9]), r[16], r[17])
    caller = r[2] if r[2] != r[1] else None  # an agent recursing into itself is no handoff
    return Hop(
        span_id=r[0],
        agent=r[1],
        caller=caller,
        sources=tuple(sorted(str(s) for s in (r[3] or ()) if s)),
        outcome=outcome,
        start_ms=(int(r[4] or 0) - run_start_ns) / 1e6,
        duration_ms=r[5],
        critical_path_ms=float(r[11] or 0.0),
        on_critical_path=bool(r[10]),
        llm_calls=int(r[12] or 0),
        tokens=int(r[13] or 0),
        # no model call costs nothing; a call with no known price stays unknown
        cost_usd=0.0 if not r[12] else None if r[14] is None else float(r[14]),
        errors=int(r[15] or 0),
        error_type=r[18] if outcome == "error" else r[8],
        models=_models(r[19]),
        input_preview=r[20],
        output_preview=r[21],
        parent_hop=r[22],
    )


def read_run_side(db: DB | Reader, trace_id: str, *, max_hops: int = MAX_HOPS) -> RunSide:
    """One run's summary and its first `max_hops` hops (RunNotFoundError if absent)."""
    with _connect(db) as conn:
        run = conn.execute(
            "SELECT trace_id, name, status, duration_ms, critical_path_ms, cost_usd, llm_calls,"
            " coalesce(input_tokens, 0) + coalesce(output_tokens, 0), error_count,"
            " root_cause_agent, root_cause_error, start_ns FROM runs WHERE trace_id = ?",
            [trace_id],
        ).fetchone()
        if run is None:
            raise RunNotFoundError(f"no run with id {trace_id!r}")
        params = {"t": trace_id, "limit": max_hops + 1, "chars": PREVIEW_CHARS}
        rows = conn.execute(_HOPS_SQL, params).fetchall()
    start = int(run[11] or 0)
    hops = tuple(canonical_order([_hop(r, start) for r in rows[:max_hops]]))
    return RunSide(
        trace_id=run[0],
        name=run[1],
        status=run[2] or "UNSET",
        duration_ms=run[3],
        critical_path_ms=run[4],
        cost_usd=run[5],
        llm_calls=int(run[6] or 0),
        tokens=int(run[7] or 0),
        error_count=int(run[8] or 0),
        root_cause_agent=run[9],
        root_cause_error=run[10],
        hops=hops,
        truncated=len(rows) > max_hops,
    )


def _with_messages(conn: Any, trace_id: str, hop: Hop | None) -> Hop | None:
    if hop is None:
        return None
    rows = conn.execute(
        "SELECT coalesce(model, name, ''), left(input_preview, ?), left(output_preview, ?)"
        " FROM spans WHERE trace_id = ? AND agent_span_id = ? AND is_llm_call"
        " AND (input_preview IS NOT NULL OR output_preview IS NOT NULL)"
        " ORDER BY start_ns, span_id LIMIT ?",
        [PREVIEW_CHARS, PREVIEW_CHARS, trace_id, hop.span_id, MAX_MESSAGES],
    ).fetchall()
    return dataclasses.replace(hop, messages=tuple((str(m), i, o) for m, i, o in rows))


def compare_runs(db: DB | Reader, trace_a: str, trace_b: str) -> RunDiff:
    """Read two runs and diff them; the divergence hops come with their model messages."""
    with _connect(db) as conn:
        r = Reader(conn)
        diff = diff_runs(read_run_side(r, trace_a), read_run_side(r, trace_b))
        div = diff.divergence
        if div is None:
            return diff
        div = dataclasses.replace(
            div,
            a=_with_messages(conn, trace_a, div.a),
            b=_with_messages(conn, trace_b, div.b),
        )
    return dataclasses.replace(diff, divergence=div)
