"""The read side the TUI uses: small typed functions over the public views.

Every query the terminal UI runs lives here, so the SQL sits next to the views it
reads and widgets never build SQL strings. Each function opens its own short
read-only connection through `collector.read_connection`, which is what lets a
pipeline in another process keep writing while the UI reads (the store retries
lock conflicts for us). Functions return plain frozen dataclasses so the layout
maths in `tui.layout` stay testable without DuckDB or Textual.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from collector._query_types import (
    AgentRow,
    ErrorRow,
    HandoffRow,
    RecoveryMark,
    RejectMark,
    RunBundle,
    RunFilter,
    RunRow,
    RunSort,
    SpanDetail,
    SpanRow,
    SqlResult,
)

__all__ = [
    "RUN_SORT_KEYS",
    "AgentRow",
    "ErrorRow",
    "HandoffRow",
    "Reader",
    "RecoveryMark",
    "RejectMark",
    "RunBundle",
    "RunFilter",
    "RunRow",
    "RunSort",
    "SpanDetail",
    "SpanRow",
    "SqlResult",
    "load_run",
    "max_ingested_ns",
    "reader",
    "run_index",
    "runs_count",
    "runs_page",
    "span_detail",
    "sql_console",
]

DB = str | Path | None

# Sort key shown to the user -> SQL expression over `runs`. A whitelist: the sort
# column is the one piece of SQL that cannot be a bound parameter.
RUN_SORT_KEYS: dict[str, str] = {
    "start": "start_ns",
    "name": "name",
    "status": "status",
    "duration": "duration_ms",
    "agents": "agent_count",
    "calls": "llm_calls",
    "tokens": "(coalesce(input_tokens, 0) + coalesce(output_tokens, 0))",
    "cost": "cost_usd",
    "cause": "root_cause_agent",
}


class Reader:
    """An open read connection several queries share (one ATTACH instead of many).

    Pass it wherever a function takes `db`; make one with `reader(db)`.
    """

    def __init__(self, conn: Any) -> None:
        self.conn = conn


@contextmanager
def reader(db: DB) -> Iterator[Reader]:
    """One short read-only connection for a group of queries."""
    with _connect(db) as conn:
        yield Reader(conn)


@contextmanager
def _connect(db: DB | Reader) -> Iterator[Any]:
    if isinstance(db, Reader):
        yield db.conn
        return
    # Imported here so `collector.queries` stays importable (types only) before
    # the store module is needed, e.g. by pure layout tests.
    from collector.store import read_connection

    with read_connection(db) as conn:
        yield conn


def _json(value: Any) -> Any:
    """Decode a JSON column whichever way the store typed it (JSON text or nested)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


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
        clauses.append(f"strpos({hay}, lower(?)) > 0")
        params.append(flt.text)
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
    " pending_spans, root_span_id"
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


# Normalised in SQL so rows map straight onto SpanRow (no per-field Python work).
_SPAN_COLUMNS = (
    "span_id, nullif(parent_span_id, ''), coalesce(name, ''), operation, kind, agent_name,"
    " coalesce(start_ns, 0), CASE WHEN coalesce(pending, false) THEN NULL ELSE end_ns END,"
    " coalesce(status, 'UNSET'), coalesce(pending, false), error_type, error_role,"
    " cause_span_id, coalesce(on_critical_path, false), critical_path_ms, model, cost_usd,"
    " agent_span_id"
)


def _models(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(m.strip() for m in value.split(",") if m.strip())
    return tuple(str(m) for m in value if m)


def _str_list(value: Any) -> tuple[str, ...]:
    value = _json(value)
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _rejections(rows: Sequence[Sequence[Any]]) -> list[RejectMark]:
    marks: list[RejectMark] = []
    for span_id, agent, events in rows:
        for event in _json(events) or []:
            if not isinstance(event, dict) or event.get("name") != "hoptrace.reject":
                continue
            attrs = _json(event.get("attributes")) or {}
            rejected = attrs.get("hoptrace.reject.span_id")
            if rejected:
                marks.append(
                    RejectMark(span_id, agent, str(rejected), attrs.get("hoptrace.reject.reason"))
                )
    return marks


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
        # Only spans that carry a reject event or recovered something: a handful.
        rejects = conn.execute(
            "SELECT span_id, agent_name, events FROM spans WHERE trace_id = ?"
            " AND strpos(CAST(events AS VARCHAR), 'hoptrace.reject') > 0",
            p,
        ).fetchall()
        recovered = conn.execute(
            "SELECT span_id, agent_name, attributes FROM spans WHERE trace_id = ?"
            " AND error_role = 'recovered'",
            p,
        ).fetchall()
        ingested = conn.execute(
            "SELECT max(ingested_ns) FROM spans WHERE trace_id = ?", p
        ).fetchone()
        traces = conn.execute(
            "SELECT span_id, exception_stacktrace FROM spans WHERE trace_id = ?"
            " AND exception_stacktrace IS NOT NULL"
            " AND coalesce(error_role, 'origin') NOT IN ('propagated', 'recovered')",
            p,
        ).fetchall()
    recoveries = [
        RecoveryMark(
            span_id,
            agent,
            _str_list((_json(attrs) or {}).get("hoptrace.recovered.span_ids")),
        )
        for span_id, agent, attrs in recovered
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


def sql_console(db: DB, sql: str, max_rows: int = 1000) -> SqlResult:
    """Run a read-only statement, keeping at most `max_rows` rows.

    One extra row is fetched: it is what tells the console to say "more than N"
    instead of claiming the capped rows were all of them.
    The text goes through the same guard and sandbox as `hoptrace sql` (a refusal
    raises `collector.sql.Refused` with the CLI's one-line message), so the console
    cannot write, read files or change settings either. A path, not a `Reader`: a
    shared connection has external access on, which is why the sandbox is its own.
    """
    from collector.sql import run_guarded

    table = run_guarded(sql, db, max_rows=max_rows)
    rows = list(zip(*(c.to_pylist() for c in table.columns), strict=True))
    return SqlResult(tuple(table.column_names), tuple(rows[:max_rows]), len(rows) > max_rows)


def check_store(db: DB, timeout: float = 3.0) -> None:
    """Raise a `collector.StoreError` whose message is why `db` cannot be read, if it cannot.

    One read-only attach (nothing is created or modified, not even for an empty
    file) that checks the schema and reads the newest ingest time. The message is
    a reason to put after the path ("it is not a DuckDB database file", ...).
    `timeout` bounds the wait for a file another process holds read-write.
    """
    import duckdb

    from collector.store import (
        NotAHoptraceStoreError,
        StoreBusyError,
        StoreError,
        StoreNotFoundError,
        read_connection,
    )

    path = Path(db) if db is not None else None
    try:
        if path is not None and path.is_file() and path.stat().st_size == 0:
            raise NotAHoptraceStoreError("it is an empty file, not a hoptrace store")
        with read_connection(db, timeout=timeout) as conn:
            conn.execute("SELECT max(ingested_ns) FROM spans").fetchone()
    except StoreNotFoundError:
        raise StoreNotFoundError("no such file") from None
    except StoreBusyError:
        raise StoreBusyError(
            f"another process has held it read-write for {timeout:g} s (a hoptrace writer "
            "busy for that long, or another DuckDB client); try again, or stop that process"
        ) from None
    except StoreError as exc:
        text = str(exc)
        if path is not None:
            for prefix in (f"{path} ", f"{path.resolve()} "):
                if text.startswith(prefix):
                    text = "it " + text[len(prefix) :]
                    break
        raise type(exc)(text) from None
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "not a valid DuckDB database file" in first:
            raise NotAHoptraceStoreError(
                "it is not a DuckDB database file, so not a hoptrace store"
            ) from None
        if isinstance(exc, duckdb.CatalogException):
            raise NotAHoptraceStoreError(f"it is not a complete hoptrace store ({first})") from None
        raise StoreError(f"DuckDB cannot read it; is it damaged or truncated? ({first})") from None
    except OSError as exc:
        raise StoreError(exc.strerror or str(exc)) from None
