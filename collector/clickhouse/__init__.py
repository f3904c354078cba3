"""ClickHouse scale-out: the OTel Collector's `otel_traces` as the raw store, hoptrace's
derivation run over it by stateless workers, the same views in ClickHouse.

Beside `collector.store` in the layers: it uses ingest, derive (through the DuckDB
store's write, the one derivation implementation), schema and the store's public API.
Needs the optional extra `hoptrace[clickhouse]` (chdb, clickhouse-connect) at run time.
"""

from __future__ import annotations

from collector.clickhouse._conn import (
    SCHEMES,
    ClickHouseError,
    Conn,
    Target,
    connect,
    is_clickhouse_url,
    parse_url,
)
from collector.clickhouse._otel import as_string, batch_to_otel, otel_to_batch, typed
from collector.clickhouse._read import ReadConnection, read_connection, to_clickhouse
from collector.clickhouse._readonly import ReadOnlyRefused, check_readonly, run_readonly
from collector.clickhouse._schema import OTEL_TRACES, ddl, views
from collector.clickhouse._store import ClickHouseStore, copy_from_duckdb
from collector.clickhouse._worker import PassStats, derive_pass, derive_traces, watermark

__all__ = [
    "OTEL_TRACES",
    "SCHEMES",
    "ClickHouseError",
    "ClickHouseStore",
    "Conn",
    "PassStats",
    "ReadConnection",
    "ReadOnlyRefused",
    "Target",
    "as_string",
    "batch_to_otel",
    "check_readonly",
    "connect",
    "copy_from_duckdb",
    "ddl",
    "derive_pass",
    "derive_traces",
    "is_clickhouse_url",
    "otel_to_batch",
    "parse_url",
    "read_connection",
    "run_readonly",
    "to_clickhouse",
    "typed",
    "views",
    "watermark",
]
