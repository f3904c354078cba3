"""ClickHouseStore: the ClickHouse store behind a `chdb://` or `clickhouse://` URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from collector.clickhouse._conn import ClickHouseError, Conn, connect
from collector.clickhouse._otel import batch_to_otel
from collector.clickhouse._schema import CHANGES, OTEL_TRACES, ddl, view_ddl
from collector.ingest import SpanBatch, batch_from_raw
from collector.schema import RAW_COLUMN_NAMES
from collector.store import price_tables

_COPY_CHUNK = 50_000


class ClickHouseStore:
    """Creates hoptrace's tables and views beside `otel_traces` (and it, if missing).

    Args:
        url: `chdb://PATH`, `clickhouse://host:8123/db` or `clickhouses://...`.
        ttl_days: retention for tables this call creates (existing tables keep theirs).
    """

    def __init__(self, url: str, *, ttl_days: int | None = None) -> None:
        self.url = url
        self.conn: Conn = connect(url)
        had_log = self._exists(CHANGES)
        for stmt in ddl(ttl_days):
            self.conn.execute(stmt)
        self.skipped_views: dict[str, str] = {}
        """Views whose DuckDB SQL has no ClickHouse translation yet, with the error."""
        for name, stmt in view_ddl().items():
            try:
                self.conn.execute(stmt)
            except ClickHouseError as exc:
                self.skipped_views[name] = str(exc).splitlines()[0]
        self._load_prices()
        if not had_log:
            # rows a collector fleet wrote before the change log existed: log them once
            self.conn.execute(
                f"INSERT INTO {CHANGES} SELECT TraceId, min(toUnixTimestamp64Nano(Timestamp)), "
                f"toUnixTimestamp64Nano(now64(9)) FROM {OTEL_TRACES} GROUP BY TraceId"
            )

    def _exists(self, table: str) -> bool:
        rows = self.conn.rows(
            f"SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = '{table}'"
        )
        return bool(rows[0][0])

    def _load_prices(self) -> None:
        """The same price rows as the DuckDB store's, reloaded when litellm's map changed."""
        prices, aliases = price_tables()
        have = self.conn.rows("SELECT count() FROM model_prices")[0][0]
        if have == prices.num_rows:
            return
        for table, rows in (("model_prices", prices), ("model_price_aliases", aliases)):
            self.conn.execute(f"TRUNCATE TABLE {table}")
            self.conn.insert(table, rows)

    def write(self, batch: SpanBatch) -> None:
        """Insert a batch into `otel_traces` as the OTel Collector's exporter would."""
        if len(batch):
            self.conn.insert(OTEL_TRACES, batch_to_otel(batch))

    def write_staged(self, staged: Any) -> None:  # pragma: no cover - WriteQueue protocol
        raise ClickHouseError("a ClickHouse store takes SpanBatches (write), not staged tables")

    def query(self, sql: str) -> pa.Table:
        """Run trusted SQL (hoptrace's own); user SQL goes through `run_readonly`."""
        return self.conn.arrow(sql)

    def close(self) -> None:
        """Release the connection."""
        self.conn.close()


def copy_from_duckdb(db: str | Path, store: ClickHouseStore) -> int:
    """Write every span of a hoptrace DuckDB file into `otel_traces`; returns the span count.

    The raw OTel columns are the same ones the DuckDB store keeps for migrations, so the
    ClickHouse side sees the spans as an OTel Collector would have delivered them.
    """

    from collector.store import read_connection

    total = 0
    offset = 0
    cols = ", ".join(RAW_COLUMN_NAMES)
    while True:
        with read_connection(db) as conn:
            rows = conn.execute(
                f"SELECT {cols} FROM span_t ORDER BY trace_id, span_id "
                f"LIMIT {_COPY_CHUNK} OFFSET {offset}"
            ).fetchall()
        if not rows:
            return total
        batch = batch_from_raw(rows)
        store.write(batch)
        total += len(rows)
        offset += len(rows)
