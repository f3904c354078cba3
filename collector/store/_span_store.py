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
details live in collector.store._connect; the README ("One writer, many readers") explains it to users.

Every `write()` attaches the file read-write and runs ONE transaction, almost all
of it vectorised SQL inside DuckDB (the Python side only encodes JSON):

1. the batch is staged as one Arrow table (collector.ingest._staging), promoted by one
   SELECT (collector.ingest._dialects.promotion_sql) and de-duplicated; missing costs are
   computed from litellm's bundled prices (collector.store._prices);
2. the stored spans of the touched traces are merged with it (a finished span
   replaces any stored copy, a pending copy only a pending one, so a late pending
   copy never overwrites a finished span) and every touched trace is derived again
   (collector.derive._trace): effective agents, error roles and root cause, critical
   path, rollups, handoff edges;
3. the batch's rows are inserted with their facts filled in, stored spans whose
   facts changed are updated, the rollup rows of the touched traces replaced;
4. COMMIT. Any failure rolls the whole batch back: nothing is half-written.

Schema versions: a new file gets the current schema; an older hoptrace file is
migrated by rebuilding every derived column from the raw OTel columns (which every
version keeps); a newer file is refused with a clear `SchemaVersionError`.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import duckdb
import pyarrow as pa

from collector._paths import resolve_db
from collector.derive import DERIVE_COLUMNS, derive, drop_temp
from collector.ingest import (
    SpanBatch,
    Staged,
    arrow_schema,
    batch_from_raw,
    batch_to_arrow,
    promotion_sql,
    stage,
)
from collector.schema import (
    DERIVED_SPAN_COLUMNS,
    DERIVED_TABLES,
    PRICE_COLUMNS,
    RAW_COLUMN_NAMES,
    SCHEMA_VERSION,
    SPAN_COLUMN_NAMES,
    ddl,
)
from collector.store._connect import (
    WRITE_TIMEOUT_S,
    NotAHoptraceStoreError,
    check_version,
    foreign_objects,
    write_connection,
)
from collector.store._prices import cost_sql, price_file, price_map

_MIGRATE_CHUNK = 50_000
_FACT_COLUMNS = ", ".join(DERIVED_SPAN_COLUMNS)
_DERIVE_READ = ", ".join(c for c, _ in DERIVE_COLUMNS if c != "attributes")
_PROMOTED_TEMP = ("_b", "_all", "_touched")
_BATCH_COLUMNS = tuple(c for c in SPAN_COLUMN_NAMES if c not in DERIVED_SPAN_COLUMNS)


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
        self.write_staged(stage(batch))

    def write_staged(self, staged: Staged) -> None:
        """`write` for a batch already staged by `collector.ingest._staging.stage`.

        The exporter stages on the span processor's thread, and the writer child
        (collector.store._writer_proc) receives batches staged in its parent, so the
        DuckDB side of a write runs without the Python side in its way.
        """
        if not staged.table.num_rows:
            return
        with self._lock, write_connection(self.path, self.timeout) as conn:
            try:
                _transaction(conn, staged)
            except duckdb.CatalogException:
                # the file was deleted or replaced since this store created it: start over
                _ensure_schema(conn, self.path)
                _transaction(conn, staged)

    def close(self) -> None:
        """Nothing stays open between writes; kept for symmetry with other stores."""


def _transaction(conn: duckdb.DuckDBPyConnection, staged: Staged) -> None:
    conn.execute("BEGIN TRANSACTION")
    try:
        _write(conn, staged)
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            conn.execute("ROLLBACK")
        raise
    finally:
        with contextlib.suppress(duckdb.Error):
            drop_temp(conn)
            for t in _PROMOTED_TEMP:
                conn.execute(f"DROP TABLE IF EXISTS {t}")


def _unregister(conn: duckdb.DuckDBPyConnection, name: str) -> None:
    # in an aborted transaction unregister fails too; the original error matters
    with contextlib.suppress(duckdb.Error):
        conn.unregister(name)


def _write(conn: duckdb.DuckDBPyConnection, staged: Staged) -> None:
    """Promote, merge with the stored spans of the touched traces, derive, upsert."""
    conn.register("_raw", staged.table)
    try:
        source = "_raw"
        if staged.table.num_rows > 1 and _has_duplicates(conn):
            # one row per (trace_id, span_id): finished beats pending, later beats earlier
            source = ("(SELECT * FROM _raw QUALIFY row_number() OVER "
                      "(PARTITION BY trace_id, span_id ORDER BY pending, ord DESC) = 1)")  # fmt: skip
        conn.execute(
            f"CREATE OR REPLACE TEMP TABLE _b AS {promotion_sql(source, _BATCH_COLUMNS, staged.names)}"
        )
    finally:
        _unregister(conn, "_raw")
    _fill_costs(conn)
    conn.execute("CREATE OR REPLACE TEMP TABLE _touched AS SELECT DISTINCT trace_id FROM _b")
    lo = conn.execute("SELECT min(start_ns) FROM _b").fetchall()[0][0]
    # Every stored span of a touched trace starts at or after the trace's first start
    # (runs_t), and rows arrive roughly in time order: this lower bound lets DuckDB's
    # zonemaps skip all but the recent row groups. It must cover the whole trace, not
    # just the batch's times: a span sent again with another start is still the same span.
    window = _window(conn, lo)
    same = f"{window} AND s.trace_id = b.trace_id AND s.span_id = b.span_id"
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE _all AS
SELECT {_DERIVE_READ}, CASE WHEN parent_span_id IS NULL THEN attributes END AS attributes,
       false AS from_batch, NULL::BIGINT AS brid,
       {", ".join(f"{c} AS old_{c}" for c in DERIVED_SPAN_COLUMNS)}
FROM span_t s
WHERE {window} AND s.trace_id IN (SELECT trace_id FROM _touched)
  AND NOT EXISTS (SELECT 1 FROM _b b WHERE {same} AND (NOT b.pending OR s.pending))
UNION ALL
SELECT {_DERIVE_READ}, CASE WHEN parent_span_id IS NULL THEN attributes END, true, b.rowid,
       {", ".join("NULL" for _ in DERIVED_SPAN_COLUMNS)}
FROM _b b
WHERE NOT EXISTS (SELECT 1 FROM span_t s WHERE {same} AND b.pending AND NOT s.pending)"""
    )
    # content lineage reads the messages of a handoff's two model calls only, not `_all`'s
    messages = f"""
SELECT a.rowid AS rid, b.messages FROM _all a JOIN _b b ON b.rowid = a.brid
WHERE a.from_batch AND a.rowid IN (SELECT rid FROM _lneed)
UNION ALL
SELECT a.rowid, s.messages FROM _all a
JOIN span_t s ON {window} AND s.trace_id = a.trace_id AND s.span_id = a.span_id
WHERE NOT a.from_batch AND a.rowid IN (SELECT rid FROM _lneed)"""
    derive(conn, messages)
    conn.execute(
        f"DELETE FROM span_t AS s USING _b AS b WHERE {same} AND (NOT b.pending OR s.pending)"
    )
    raw = ", ".join(f"b.{c}" for c in SPAN_COLUMN_NAMES if c not in DERIVED_SPAN_COLUMNS)
    conn.execute(
        f"INSERT INTO span_t ({', '.join(SPAN_COLUMN_NAMES)}) SELECT {raw}, "
        f"{', '.join('f.' + c for c in DERIVED_SPAN_COLUMNS)} FROM _facts f "
        "JOIN _all a ON a.rowid = f.rid JOIN _b b ON b.rowid = a.brid"
    )
    # of the spans stored before, only those whose facts changed (an UPDATE of every
    # row of the touched traces would cost more than the rest of the write)
    changed = " OR ".join(f"f.{c} IS DISTINCT FROM a.old_{c}" for c in DERIVED_SPAN_COLUMNS)
    sets = ", ".join(f"{c} = d.{c}" for c in DERIVED_SPAN_COLUMNS)
    conn.execute(
        f"UPDATE span_t AS s SET {sets} FROM (SELECT f.* FROM _facts f JOIN _all a "
        f"ON a.rowid = f.rid WHERE NOT a.from_batch AND ({changed})) AS d "
        f"WHERE {window} AND s.trace_id = d.trace_id AND s.span_id = d.span_id"
    )
    for table in DERIVED_TABLES:
        conn.execute(f"DELETE FROM {table} WHERE trace_id IN (SELECT trace_id FROM _touched)")
        conn.execute(f"INSERT INTO {table} SELECT * FROM _{table.removesuffix('_t')}")


def _has_duplicates(conn: duckdb.DuckDBPyConnection) -> bool:
    return bool(conn.execute(
        "SELECT count(*) <> count(DISTINCT (trace_id, span_id)) FROM _raw"
    ).fetchall()[0][0])  # fmt: skip


def _window(conn: duckdb.DuckDBPyConnection, since_ns: int | None) -> str:
    """A start_ns predicate covering every stored span of the `_touched` traces."""
    if since_ns is None:
        return "TRUE"
    known = conn.execute(
        "SELECT min(start_ns) FROM runs_t WHERE trace_id IN (SELECT trace_id FROM _touched)"
    ).fetchall()[0][0]
    lo = since_ns if known is None else min(since_ns, int(known))
    return f"s.start_ns >= {lo}"


_PRICE_FIELDS = ("model", "input", "output", "cache_read")
_PX_SCHEMA = pa.schema(
    [("model", pa.string()), ("response_model", pa.string()), ("provider", pa.string())]
    + [(f"{p}_{f}", pa.float64() if f != "model" else pa.string())
       for p in ("p1", "p2") for f in _PRICE_FIELDS]
)  # fmt: skip


def _fill_costs(conn: duckdb.DuckDBPyConnection) -> None:
    """Cost of model calls that report none, from litellm's prices (unknown model: NULL).

    Model names are resolved in Python once per distinct (model, provider) of the
    batch (a handful); the arithmetic runs in SQL over every call.
    """
    needed = conn.execute(
        "SELECT DISTINCT model, response_model, provider FROM _b WHERE cost_usd IS NULL "
        "AND span_class = 'llm' AND (input_tokens IS NOT NULL OR output_tokens IS NOT NULL)"
    ).fetchall()
    if not needed:
        return
    pm = price_map()
    rows = []
    for model, response_model, provider in needed:
        p1 = pm.resolve(model, provider)
        p2 = pm.resolve(response_model, provider) if response_model != model else None
        fields = [
            (p.model, p.input, p.output, p.cache_read) if p else (None,) * 4 for p in (p1, p2)
        ]
        rows.append((model, response_model, provider, *fields[0], *fields[1]))
    conn.register("_px", pa.Table.from_pylist(
        [dict(zip(_PX_SCHEMA.names, r, strict=True)) for r in rows], schema=_PX_SCHEMA))  # fmt: skip
    try:
        cost = f"coalesce({cost_sql('x.p1', 'b.')}, {cost_sql('x.p2', 'b.')})"
        conn.execute(
            f"UPDATE _b AS b SET cost_usd = {cost} FROM _px AS x WHERE b.cost_usd IS NULL "
            "AND b.span_class = 'llm' AND b.model IS NOT DISTINCT FROM x.model "
            "AND b.response_model IS NOT DISTINCT FROM x.response_model "
            "AND b.provider IS NOT DISTINCT FROM x.provider"
        )
        # a reported cost already says 'reported'; what is left without a source was computed
        conn.execute(
            "UPDATE _b SET cost_source = 'computed' WHERE cost_source IS NULL AND cost_usd IS NOT NULL"
        )
    finally:
        _unregister(conn, "_px")


# --- schema, prices, migration -----------------------------------------------------


def _ensure_schema(conn: duckdb.DuckDBPyConnection, path: Path) -> None:
    version = check_version(conn, path, writable=True)
    if version == SCHEMA_VERSION:
        _refresh_prices(conn, force=False)
        return
    if version is None:
        # never add hoptrace's tables to another application's database
        others = foreign_objects(conn)
        if others:
            shown = ", ".join(others[:5]) + (
                f" and {len(others) - 5} more" if len(others) > 5 else ""
            )
            raise NotAHoptraceStoreError(
                f"{path} is not a hoptrace store: it is a DuckDB database with other "
                f"tables or views ({shown}) and no hoptrace_meta table; hoptrace will not "
                "write into it, pass a new file's path instead"
            )
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
        batch = batch_from_raw(rows)
        # chunks hold whole traces except at their edges, which the next chunk merges with
        _write(conn, batch_to_arrow(batch))
        drop_temp(conn)
        offset += len(rows)
    conn.execute(f"DROP TABLE {old}")


def price_tables() -> tuple[pa.Table, pa.Table]:
    """litellm's bundled price map as the rows of `model_prices` and `model_price_aliases`
    (a ClickHouse store loads the same rows)."""
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
    return prices, aliases


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
    prices, aliases = price_tables()
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
