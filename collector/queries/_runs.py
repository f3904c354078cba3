"""The runs list: filter, sort, page, and the newest ingest time (live updates)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from collector.queries._read import DB, Reader, _connect
from collector.queries._types import (
    RunFilter,
    RunRow,
    RunSort,
)

# Sort key shown to the user -> SQL expression over `runs`. A whitelist: the sort
# column is the one piece of SQL that cannot be a bound parameter.
RUN_SORT_KEYS: dict[str, str] = {
    "start": "start_ns",
    "name": "name",
    # a rank, not the word: descending (the default) puts failures first
    "status": "(CASE status WHEN 'ERROR' THEN 3 WHEN 'RUNNING' THEN 2 WHEN 'OK' THEN 1 ELSE 0 END)",
    "duration": "duration_ms",
    "agents": "agent_count",
    "calls": "llm_calls",
    "tokens": "(coalesce(input_tokens, 0) + coalesce(output_tokens, 0))",
    "cost": "cost_usd",
    "cause": "root_cause_agent",
}


def _where(flt: RunFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if flt.status:
        clauses.append("status = ?")
        params.append(flt.status)
    if flt.name:
        clauses.append("strpos(lower(coalesce(name, '')), lower(?)) > 0")
        params.append(flt.name)
    if flt.text:
        # Free text looks wherever a user would recognise a run by.
        hay = (
            "lower(concat_ws(' ', name, trace_id, service_name, status,"
            " root_cause_agent, root_cause_error, root_cause_message))"
        )
        # every agent of the run, not only the one blamed (one row per agent in agents_t)
        agents = (
            "EXISTS (SELECT 1 FROM agents a WHERE a.trace_id = runs.trace_id"
            " AND strpos(lower(a.agent_name), lower(?)) > 0)"
        )
        clauses.append(f"(strpos({hay}, lower(?)) > 0 OR {agents})")
        params += [flt.text, flt.text]
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _order(sort: RunSort) -> str:
    expr = RUN_SORT_KEYS.get(sort.key, RUN_SORT_KEYS["start"])
    direction = "DESC" if sort.descending else "ASC"
    # trace_id breaks ties so pages never overlap or skip rows.
    return f" ORDER BY {expr} {direction} NULLS LAST, trace_id {direction}"


_RUN_COLUMNS = (
    "trace_id, name, start_ns, duration_ms, status, span_count, agent_count, llm_calls,"
    " input_tokens, output_tokens, cost_usd, error_count, root_cause_agent,"
    " root_cause_error, root_cause_message, root_cause_span_id, critical_path_ms,"
    " pending_spans, root_span_id,"
    # an OK run that got there by recovering an error or fixing a rejected draft
    " status = 'OK' AND EXISTS (SELECT 1 FROM errors e WHERE e.trace_id = runs.trace_id"
    " AND e.role IN ('recovered', 'rejected')) AS recovered, conversation_id"
)


def _run_row(r: Sequence[Any]) -> RunRow:
    return RunRow(
        trace_id=r[0],
        name=r[1],
        start_ns=int(r[2] or 0),
        duration_ms=r[3],
        status=r[4] or "UNSET",
        span_count=int(r[5] or 0),
        agent_count=int(r[6] or 0),
        llm_calls=int(r[7] or 0),
        input_tokens=r[8],
        output_tokens=r[9],
        cost_usd=r[10],
        error_count=int(r[11] or 0),
        root_cause_agent=r[12],
        root_cause_error=r[13],
        root_cause_message=r[14],
        root_cause_span_id=r[15],
        critical_path_ms=r[16],
        pending_spans=int(r[17] or 0),
        root_span_id=r[18],
        recovered=bool(r[19]),
        conversation_id=r[20],
    )


def max_ingested_ns(db: DB | Reader, trace_id: str | None = None) -> int | None:
    """The newest ingest time in the store (or in one run): the live-refresh signal.

    The `spans` view reads one table (derived columns are stored with the span),
    so this twice-a-second poll answers from zone maps: ~1.5 ms over 1M spans.
    """
    with _connect(db) as conn:
        if trace_id is None:
            row = conn.execute("SELECT max(ingested_ns) FROM spans").fetchone()
        else:
            row = conn.execute(
                "SELECT max(ingested_ns) FROM spans WHERE trace_id = ?", [trace_id]
            ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def runs_count(db: DB | Reader, flt: RunFilter) -> int:
    """How many runs match the filter."""
    where, params = _where(flt)
    with _connect(db) as conn:
        row = conn.execute(f"SELECT count(*) FROM runs{where}", params).fetchone()
    return int(row[0]) if row else 0


def runs_page(
    db: DB | Reader, flt: RunFilter, sort: RunSort, offset: int, limit: int
) -> list[RunRow]:
    """Rows `offset .. offset+limit` of the filtered, sorted runs list."""
    where, params = _where(flt)
    sql = f"SELECT {_RUN_COLUMNS} FROM runs{where}{_order(sort)} LIMIT ? OFFSET ?"
    with _connect(db) as conn:
        rows = conn.execute(sql, [*params, limit, offset]).fetchall()
    return [_run_row(r) for r in rows]


def run_index(db: DB | Reader, flt: RunFilter, sort: RunSort, trace_id: str) -> int | None:
    """Position of a run in the filtered, sorted list (None if filtered out)."""
    where, params = _where(flt)
    sql = (
        f"SELECT n FROM (SELECT trace_id, row_number() OVER ({_order(sort)}) - 1 AS n"
        f" FROM runs{where}) WHERE trace_id = ?"
    )
    with _connect(db) as conn:
        row = conn.execute(sql, [*params, trace_id]).fetchone()
    return None if row is None else int(row[0])


class RunNotFoundError(LookupError):
    """No run (or more than one) matches the id or prefix given."""


def resolve_run_id(db: DB | Reader, prefix: str) -> str:
    """The full trace id of the one run whose id starts with `prefix`."""
    wanted = prefix.strip().lower()
    if not wanted:
        raise RunNotFoundError("empty run id")
    with _connect(db) as conn:
        rows = conn.execute(
            "SELECT trace_id FROM runs WHERE starts_with(trace_id, ?) ORDER BY trace_id LIMIT 3",
            [wanted],
        ).fetchall()
    if not rows:
        raise RunNotFoundError(f"no run with id {prefix!r}")
    if len(rows) > 1 and rows[0][0] != wanted:
        ids = ", ".join(r[0] for r in rows[:2])
        raise RunNotFoundError(f"run id {prefix!r} is ambiguous ({ids}, ...)")
    return str(rows[0][0])
