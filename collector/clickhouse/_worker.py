"""`hoptrace derive`: the stateless worker that derives ClickHouse traces with hoptrace's own code.

A pass: read this worker's watermark, list the traces whose rows arrived since then
(`hoptrace_changes`, filled by a materialized view on `otel_traces`; this worker's share
is `cityHash64(trace_id) % N = I`), read each chunk of traces whole from `otel_traces`,
run the DuckDB store's ingest + derive on it in a temporary DuckDB file (the one
derivation implementation), write the derived rows to the `hoptrace_*` tables with a
new version, then the versions (the commit marker the views read), then the watermark.

A pass that dies part-way leaves its watermark where it was: the next pass derives the
same traces again, under a newer version, which replaces whatever half was written.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from collector.clickhouse._conn import Conn
from collector.clickhouse._otel import READ_COLUMNS, otel_to_batch
from collector.clickhouse._schema import (
    CHANGES,
    DERIVED,
    NOT_NULL,
    OTEL_TRACES,
    VERSIONS,
    WATERMARKS,
)
from collector.ingest import SpanBatch
from collector.store import SpanStore

# ClickHouse's default max_query_size is 256 KiB; 2000 quoted trace ids stay far below it
DEFAULT_CHUNK = 2000


@dataclass
class PassStats:
    """What one pass did."""

    traces: int = 0
    spans: int = 0
    seconds: float = 0.0
    watermark_ns: int = 0


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _id_list(ids: list[str]) -> str:
    return "(" + ", ".join(_quote(i) for i in ids) + ")"


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def watermark(conn: Conn, key: str) -> int:
    """A worker's position in the change log (0 before its first pass)."""
    rows = conn.rows(
        f"SELECT argMax(watermark_ns, _version) FROM {WATERMARKS} WHERE worker = {_quote(key)}"
    )
    return int(rows[0][0] or 0) if rows else 0


def changed_traces(
    conn: Conn, since_ns: int, until_ns: int, worker: int, workers: int
) -> list[str]:
    """Trace ids of this worker's share with rows that arrived in (since_ns, until_ns]."""
    rows = conn.rows(
        f"SELECT DISTINCT trace_id FROM {CHANGES} WHERE ingested_ns > {since_ns} "
        f"AND ingested_ns <= {until_ns} AND cityHash64(trace_id) % {workers} = {worker} "
        "ORDER BY trace_id"
    )
    return [r[0] for r in rows]


def read_traces(conn: Conn, ids: list[str]) -> SpanBatch:
    """Every stored row of the traces `ids`, as one SpanBatch."""
    listed = _id_list(ids)
    lo = conn.rows(f"SELECT min(min_ns) FROM {CHANGES} WHERE trace_id IN {listed}")[0][0]
    # the change log's earliest start bounds the partitions (days) the traces can be in
    bound = f"Timestamp >= fromUnixTimestamp64Nano(toInt64({int(lo)})) AND " if lo else ""
    table = conn.arrow(f"SELECT {READ_COLUMNS} FROM {OTEL_TRACES} WHERE {bound}TraceId IN {listed}")
    return otel_to_batch(table)


def derive_locally(batch: SpanBatch, path: Path) -> dict[str, pa.Table]:
    """Run the DuckDB store's write (ingest + derive) on `batch`; its tables, per ClickHouse table.

    Each table carries `_day` (the day its trace started) and, for rollups without a
    natural key, `_n` (the row's number within its trace).
    """
    SpanStore(path).write(batch)
    out: dict[str, pa.Table] = {}
    with duckdb.connect(str(path), read_only=True) as conn:
        for table, duck, cols, key in DERIVED:
            select = ", ".join(f"t.{c}" for c, _ in cols)
            n = (
                ", (row_number() OVER (PARTITION BY t.trace_id) - 1)::UINTEGER AS _n"
                if key == "_n"
                else ""
            )
            out[table] = conn.sql(
                f"SELECT {select}{n}, make_timestamp(r.start_ns // 1000)::DATE AS _day "
                f"FROM {duck} t JOIN runs_t r ON r.trace_id = t.trace_id"
            ).to_arrow_table()
    return out


def _prepare(table: str, data: pa.Table, version: int) -> pa.Table:
    for c in NOT_NULL.get(table, ("trace_id",)):
        i = data.column_names.index(c)
        col = data.column(i)
        if col.null_count:
            fill = pa.scalar("" if pa.types.is_string(col.type) else 0, type=col.type)
            data = data.set_column(i, c, pc.fill_null(col, fill))
    return data.append_column("_version", pa.array([version] * data.num_rows, pa.uint64()))


def write_derived(conn: Conn, tables: dict[str, pa.Table], version: int) -> None:
    """Insert derived rows under `version`, then the versions themselves (the commit marker)."""
    for table, data in tables.items():
        conn.insert(table, _prepare(table, data, version))
    runs = tables["hoptrace_runs_t"]
    conn.insert(
        VERSIONS,
        pa.table(
            {
                "trace_id": runs.column("trace_id"),
                "_version": pa.array([version] * runs.num_rows, pa.uint64()),
                "_day": runs.column("_day"),
            }
        ),
    )


def derive_traces(conn: Conn, ids: list[str], workdir: Path, chunk: int = DEFAULT_CHUNK) -> int:
    """Derive the traces `ids` again (whole); returns how many spans were read."""
    spans = 0
    for n, part in enumerate(_chunks(ids, chunk)):
        batch = read_traces(conn, part)
        if not len(batch):
            continue
        spans += len(batch)
        path = workdir / f"derive-{n}.duckdb"
        try:
            tables = derive_locally(batch, path)
        finally:
            path.unlink(missing_ok=True)
            Path(f"{path}.wal").unlink(missing_ok=True)
        write_derived(conn, tables, time.time_ns())
    return spans


def derive_pass(
    conn: Conn, *, worker: int = 0, workers: int = 1, lag_s: float = 5.0, chunk: int = DEFAULT_CHUNK
) -> PassStats:
    """One pass of worker `worker` of `workers` (see the module doc)."""
    if not 0 <= worker < workers:
        raise ValueError(f"worker {worker} is not in 0..{workers - 1}")
    started = time.perf_counter()
    key = f"{worker}/{workers}"
    since = watermark(conn, key)
    now = int(conn.rows("SELECT toUnixTimestamp64Nano(now64(9))")[0][0])
    # inserts still in flight at the pass's start become visible within the lag
    until = now - int(lag_s * 1e9)
    stats = PassStats(watermark_ns=since)
    if until <= since:
        return stats
    ids = changed_traces(conn, since, until, worker, workers)
    with tempfile.TemporaryDirectory(prefix="hoptrace-derive-") as tmp:
        stats.spans = derive_traces(conn, ids, Path(tmp), chunk)
    stats.traces = len(ids)
    conn.insert(
        WATERMARKS,
        pa.table(
            {
                "worker": [key],
                "watermark_ns": pa.array([until], pa.int64()),
                "_version": pa.array([time.time_ns()], pa.uint64()),
            }
        ),
    )
    stats.watermark_ns = until
    stats.seconds = time.perf_counter() - started
    return stats
