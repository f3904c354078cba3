"""SpanStore: the one write path into the DuckDB file.

One writer, many readers, across processes (issue 4.4). DuckDB lets one process
hold a file read-write and then no other process can open it, so no hoptrace
process keeps the file open: each keeps an in-memory DuckDB connection and
ATTACHes the file for one unit of work (measured here: ~1.5 ms per attach/detach,
against ~25 ms to start a DuckDB instance per open), retries lock conflicts with
bounded, jittered backoff, and detaches. Readers (`read_connection`, `query`,
`hoptrace sql`, the TUI) attach READ_ONLY per query; writers yield to nobody but
raise a "writer waiting" flag that polling readers respect. The exporter buffers
and writes every 0.2 s, keeping (and retrying) a batch it could not write. The
details live in collector._connect; the README ("One writer, many readers") explains it to users.

Every `write()` attaches the file read-write and runs ONE transaction:

1. the SpanBatch becomes one Arrow table (attributes promoted by
   collector._dialects, missing costs computed from litellm's bundled prices);
2. the stored spans of the touched traces are read and merged with the batch
   (a finished span replaces any stored copy, a pending copy only a pending one,
   so a late pending copy never overwrites a finished span), and each touched
   trace is derived again (collector._derive): effective agents, error roles and
   root cause, critical path, rollups, handoff edges;
3. upsert on (trace_id, span_id) with the facts already filled in; stored spans
   whose facts changed are updated; the rollup rows of those traces are replaced;
4. COMMIT. Any failure rolls the whole batch back: nothing is half-written.

Schema versions: a new file gets the current schema; an older hoptrace file is
migrated by rebuilding every derived column from the raw OTel columns (which every
version keeps); a newer file is refused with a clear `SchemaVersionError`.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from collector._batch import SpanBatch
from collector._connect import (
    WRITE_TIMEOUT_S,
    check_version,
    resolve_db,
    write_connection,
)
from collector._derive import derive_trace
from collector._ingest import arrow_schema, batch_to_arrow
from collector._prices import price_file, price_map
from collector._schema import (
    AGENT_COLUMNS,
    DERIVED_COLUMNS,
    DERIVED_SPAN_COLUMNS,
    DERIVED_TABLES,
    ERROR_COLUMNS,
    HANDOFF_COLUMNS,
    PRICE_COLUMNS,
    RAW_COLUMN_NAMES,
    RUN_COLUMNS,
    SCHEMA_VERSION,
    SPAN_COLUMN_NAMES,
    ddl,
)

# span_t columns the derivation reads (attributes only for parentless spans: runs.attributes)
_DERIVE_COLUMNS = [
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "start_ns",
    "end_ns",
    "status",
    "pending",
    "span_class",
    "native",
    "agent_attr",
    "agent_span_attr",
    "error_type",
    "error_message",
    "marker_role",
    "marker_cause",
    "rejects",
    "handoff_links",
    "handoff_events",
    "handoff_from_agent",
    "handoff_from_span_id",
    "handoff_to_agent",
    "handoff_payload",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "model",
    "service_name",
    "conversation_id",
    "input_preview",
]
_DERIVE_SELECT = ", ".join(f"s.{c}" for c in _DERIVE_COLUMNS) + (
    ", CASE WHEN s.parent_span_id IS NULL THEN s.attributes END AS attributes"
)
_SCHEMAS = {
    "runs_t": arrow_schema(RUN_COLUMNS),
    "agents_t": arrow_schema(AGENT_COLUMNS),
    "handoffs_t": arrow_schema(HANDOFF_COLUMNS),
    "errors_t": arrow_schema(ERROR_COLUMNS),
}
_DERIVED_SCHEMA = arrow_schema(DERIVED_COLUMNS)
_MIGRATE_CHUNK = 50_000


class SpanStore:
    """Writes SpanBatches into a hoptrace DuckDB file (created on first use).

    Args:
        db: database path; default `$HOPTRACE_DB` or ./hoptrace.duckdb.
        timeout: seconds to wait for another process to release the file before
            `write()` raises `StoreBusyError` (the batch is then not written at all).
    """

    def __init__(self, db: str | Path | None = None, *, timeout: float = WRITE_TIMEOUT_S) -> None:
        self.path = resolve_db(db)
        self.timeout = timeout
        self._lock = threading.Lock()
        with write_connection(self.path, timeout) as conn:
            _ensure_schema(conn, self.path)

    def write(self, batch: SpanBatch) -> None:
        """Upsert a batch and re-derive the traces it touches, in one transaction."""
        _validate(batch)
        if not len(batch):
            return
        table = _dedupe(batch_to_arrow(batch))
        with self._lock, write_connection(self.path, self.timeout) as conn:
            try:
                conn.execute("BEGIN TRANSACTION")
                _write(conn, table)
                conn.execute("COMMIT")
            except duckdb.CatalogException:
                # the file was deleted or replaced since this store created it: start over
                conn.execute("ROLLBACK")
                _ensure_schema(conn, self.path)
                conn.execute("BEGIN TRANSACTION")
                _write(conn, table)
                conn.execute("COMMIT")

    def close(self) -> None:
        """Nothing stays open between writes; kept for symmetry with other stores."""


def _unregister(conn: duckdb.DuckDBPyConnection, name: str) -> None:
    # in an aborted transaction unregister fails too; the original error matters
    with contextlib.suppress(duckdb.Error):
        conn.unregister(name)


def _validate(batch: SpanBatch) -> None:
    n = len(batch.span_id)
    bad = [f for f in batch.__dataclass_fields__ if len(getattr(batch, f)) != n]
    if bad:
        raise ValueError(f"SpanBatch columns differ in length ({n} span ids; bad: {bad})")
    for i in range(n):
        if not batch.trace_id[i] or not batch.span_id[i]:
            raise ValueError(f"SpanBatch row {i} has an empty trace_id or span_id")


def _dedupe(table: pa.Table) -> pa.Table:
    """One row per (trace_id, span_id): finished beats pending, later beats earlier."""
    keys = list(
        zip(table.column("trace_id").to_pylist(), table.column("span_id").to_pylist(), strict=True)
    )
    if len(set(keys)) == len(keys):
        return table
    pending = table.column("pending").to_pylist()
    best: dict[tuple[str, str], int] = {}
    for i, k in enumerate(keys):
        j = best.get(k)
        if j is None or not (pending[i] and not pending[j]):
            best[k] = i
    return table.take(sorted(best.values()))


def _upsert(conn: duckdb.DuckDBPyConnection, table: pa.Table) -> None:
    # A stored copy of a span has the same start time as the incoming one, and rows
    # arrive roughly in time order: the start_ns range lets DuckDB's zonemaps skip
    # every row group but the recent ones instead of scanning the whole table.
    lo, hi = _bounds(table)
    window = f"s.start_ns BETWEEN {lo} AND {hi}"
    conn.register("_batch", table)
    try:
        conn.execute(
            "DELETE FROM span_t AS s USING _batch AS b "
            f"WHERE {window} AND s.trace_id = b.trace_id AND s.span_id = b.span_id "
            "AND (NOT b.pending OR s.pending)"
        )
        cols = ", ".join(SPAN_COLUMN_NAMES)
        conn.execute(
            f"INSERT INTO span_t ({cols}) SELECT {cols} FROM _batch AS b WHERE NOT EXISTS "
            f"(SELECT 1 FROM span_t AS s WHERE {window} "
            "AND s.trace_id = b.trace_id AND s.span_id = b.span_id)"
        )
    finally:
        _unregister(conn, "_batch")


def _bounds(table: pa.Table) -> tuple[int, int]:
    import pyarrow.compute as pc

    mm = pc.min_max(table.column("start_ns")).as_py()
    return int(mm["min"] or 0), int(mm["max"] or 0)


def _write(conn: duckdb.DuckDBPyConnection, table: pa.Table) -> None:
    """Derive the touched traces (stored spans + this batch), then upsert with facts.

    The batch's rows are inserted with their derived columns already filled; of the
    spans stored before, only those whose facts changed are UPDATEd (an UPDATE of
    every row of the touched traces cost more than the rest of the write).
    """
    traces = sorted(set(table.column("trace_id").to_pylist()))
    conn.register("_touched", pa.table({"trace_id": traces}))
    try:
        window = _window(conn, _bounds(table)[0])
        stored = _read_spans(conn, window)
        incoming = table.select([*_DERIVE_COLUMNS, "parent_span_id", "attributes"]).to_pylist()
        merged: dict[tuple[str, str], dict[str, Any]] = {
            (r["trace_id"], r["span_id"]): r for r in stored
        }
        replaced: set[tuple[str, str]] = set()
        for r in incoming:
            key = (r["trace_id"], r["span_id"])
            old = merged.get(key)
            if old is None or not r["pending"] or old["pending"]:
                if r["parent_span_id"] is not None:
                    r["attributes"] = None
                merged[key] = r
                replaced.add(key)
        facts = _derive_and_store(conn, merged.values())
        columns = {c: table.column(c).to_pylist() for c in ("trace_id", "span_id")}
        keys = list(zip(columns["trace_id"], columns["span_id"], strict=True))
        for i, col in enumerate(DERIVED_SPAN_COLUMNS):
            values = [facts[k][2 + i] if k in facts else None for k in keys]
            idx = table.schema.get_field_index(col)
            table = table.set_column(
                idx, table.schema.field(idx), pa.array(values, table.schema.field(idx).type)
            )
        _upsert(conn, table)
        changed = [
            f
            for k, f in facts.items()
            if k not in replaced and _facts_of(merged[k]) != f[2 : 2 + len(DERIVED_SPAN_COLUMNS)]
        ]
        _update_span_facts(conn, changed, window)
    finally:
        _unregister(conn, "_touched")


def _facts_of(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row.get(c) for c in DERIVED_SPAN_COLUMNS)


def _window(conn: duckdb.DuckDBPyConnection, since_ns: int | None) -> str:
    """A start_ns predicate covering every stored span of the `_touched` traces."""
    if since_ns is None:
        return "TRUE"
    known = conn.execute(
        "SELECT min(start_ns) FROM runs_t WHERE trace_id IN (SELECT trace_id FROM _touched)"
    ).fetchall()[0][0]
    lo = since_ns if known is None else min(since_ns, int(known))
    return f"s.start_ns >= {lo}"


def _read_spans(conn: duckdb.DuckDBPyConnection, window: str) -> list[dict[str, Any]]:
    return (
        conn.sql(
            f"SELECT {_DERIVE_SELECT}, {', '.join('s.' + c for c in DERIVED_SPAN_COLUMNS)} "
            f"FROM span_t AS s WHERE {window} AND s.trace_id IN (SELECT trace_id FROM _touched)"
        )
        .to_arrow_table()
        .to_pylist()
    )


def _derive_and_store(
    conn: duckdb.DuckDBPyConnection, spans: Any
) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Derive each trace; replace its rows in the rollup tables; return span facts by key."""
    by_trace: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in spans:
        by_trace[r["trace_id"]].append(r)
    out: dict[str, list[Any]] = {t: [] for t in DERIVED_TABLES}
    facts: dict[tuple[str, str], tuple[Any, ...]] = {}
    for trace_id, rows in by_trace.items():
        f = derive_trace(trace_id, rows)
        for row in f.span_rows:
            facts[(row[0], row[1])] = row
        out["runs_t"].append(f.run_row)
        out["agents_t"].extend(f.agent_rows)
        out["handoffs_t"].extend(f.handoff_rows)
        out["errors_t"].extend(f.error_rows)
    for table in DERIVED_TABLES:
        conn.execute(f"DELETE FROM {table} WHERE trace_id IN (SELECT trace_id FROM _touched)")
        if not out[table]:
            continue
        conn.register("_derived", pa.Table.from_pylist(out[table], schema=_SCHEMAS[table]))
        try:
            conn.execute(f"INSERT INTO {table} SELECT * FROM _derived")
        finally:
            _unregister(conn, "_derived")
    return facts


def rederive(conn: duckdb.DuckDBPyConnection, traces: list[str]) -> None:
    """Recompute every derived column and table of `traces` from what is stored."""
    if not traces:
        return
    conn.register("_touched", pa.table({"trace_id": traces}))
    try:
        facts = _derive_and_store(conn, _read_spans(conn, "TRUE"))
        _update_span_facts(conn, list(facts.values()), "TRUE")
    finally:
        _unregister(conn, "_touched")


def _update_span_facts(
    conn: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]], window: str
) -> None:
    """Write the derived per-span columns of span_t in place (one UPDATE ... FROM)."""
    if not rows:
        return
    schema = _DERIVED_SCHEMA
    staged = pa.Table.from_arrays(
        [
            pa.array(col, type=f.type)
            for col, f in zip(zip(*rows, strict=True), schema, strict=True)
        ],
        schema=schema,
    )
    sets = ", ".join(f"{c} = d.{c}" for c in DERIVED_SPAN_COLUMNS)
    conn.register("_facts", staged)
    try:
        conn.execute(
            f"UPDATE span_t AS s SET {sets} FROM _facts AS d WHERE {window} "
            "AND s.trace_id = d.trace_id AND s.span_id = d.span_id"
        )
    finally:
        _unregister(conn, "_facts")


# --- schema, prices, migration -----------------------------------------------------


def _ensure_schema(conn: duckdb.DuckDBPyConnection, path: Path) -> None:
    version = check_version(conn, path, writable=True)
    if version == SCHEMA_VERSION:
        _refresh_prices(conn, force=False)
        return
    conn.execute("BEGIN TRANSACTION")
    try:
        if version is None:
            for stmt in ddl():
                conn.execute(stmt)
        else:
            _migrate(conn, version)
        conn.execute(
            "INSERT OR REPLACE INTO hoptrace_meta VALUES ('schema_version', ?)",
            [str(SCHEMA_VERSION)],
        )
        _refresh_prices(conn, force=True)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _migrate(conn: duckdb.DuckDBPyConnection, version: int) -> None:
    """Rebuild an older layout: keep the raw OTel columns, recompute everything else."""
    old = f"span_t_v{version}"
    views = conn.execute(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal AND database_name = current_database()"
    ).fetchall()
    for (v,) in views:
        conn.execute(f"DROP VIEW IF EXISTS {v}")
    conn.execute(f"ALTER TABLE span_t RENAME TO {old}")
    existing = {
        r[0]
        for r in conn.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
        ).fetchall()
    }
    for t in (*DERIVED_TABLES, "span_derived", "model_prices", "model_price_aliases"):
        if t in existing:
            conn.execute(f"DROP TABLE {t}")
    for stmt in ddl():
        conn.execute(stmt)
    raw = ", ".join(RAW_COLUMN_NAMES)
    offset = 0
    while True:
        rows = conn.execute(
            f"SELECT {raw} FROM {old} ORDER BY trace_id, span_id LIMIT {_MIGRATE_CHUNK} OFFSET {offset}"
        ).fetchall()
        if not rows:
            break
        batch = SpanBatch()
        for r in rows:
            rec = dict(zip(RAW_COLUMN_NAMES, r, strict=True))
            batch.add(
                trace_id=rec["trace_id"],
                span_id=rec["span_id"],
                parent_span_id=rec["parent_span_id"],
                name=rec["name"],
                kind=rec["kind"],
                start_ns=rec["start_ns"],
                end_ns=rec["end_ns"],
                status_code=rec["status"],
                status_message=rec["status_message"],
                attributes=_json(rec["attributes"], {}),
                events=_json(rec["events"], []),
                links=_json(rec["links"], []),
                resource=_json(rec["resource"], {}),
                scope_name=rec["scope_name"],
                scope_version=rec["scope_version"],
            )
        table = _dedupe(batch_to_arrow(batch))
        _upsert(conn, table)
        offset += len(rows)
    conn.execute(f"DROP TABLE {old}")
    traces = [r[0] for r in conn.execute("SELECT DISTINCT trace_id FROM span_t").fetchall()]
    for i in range(0, len(traces), 1000):
        rederive(conn, traces[i : i + 1000])


def _json(v: Any, default: Any) -> Any:
    if v is None:
        return default
    return json.loads(v) if isinstance(v, str) else v


def _refresh_prices(conn: duckdb.DuckDBPyConnection, force: bool) -> None:
    """(Re)load model_prices when litellm's bundled map changed (or on creation)."""
    path = price_file()
    signature = f"{path}:{path.stat().st_mtime_ns}" if path is not None else "none"
    if not force:
        rows = conn.execute(
            "SELECT value FROM hoptrace_meta WHERE key = 'prices_source'"
        ).fetchall()
        if rows and rows[0][0] == signature:
            return
    pm = price_map()
    prices = pa.Table.from_pylist(
        [
            {
                "model": p.model,
                "provider": p.provider,
                "mode": p.mode,
                "input_cost_per_token": p.input,
                "output_cost_per_token": p.output,
                "cache_read_input_token_cost": p.cache_read,
                "max_input_tokens": p.max_input_tokens,
                "max_output_tokens": p.max_output_tokens,
            }
            for p in pm.prices.values()
        ],
        schema=arrow_schema(PRICE_COLUMNS),
    )
    aliases = pa.table(
        {"alias": list(pm.aliases), "model": list(pm.aliases.values())},
        schema=pa.schema([("alias", pa.string()), ("model", pa.string())]),
    )
    conn.register("_prices", prices)
    conn.register("_aliases", aliases)
    try:
        conn.execute("DELETE FROM model_prices")
        conn.execute("INSERT INTO model_prices SELECT * FROM _prices")
        conn.execute("DELETE FROM model_price_aliases")
        conn.execute("INSERT INTO model_price_aliases SELECT * FROM _aliases")
        conn.execute(
            "INSERT OR REPLACE INTO hoptrace_meta VALUES ('prices_source', ?)", [signature]
        )
    finally:
        _unregister(conn, "_prices")
        _unregister(conn, "_aliases")
