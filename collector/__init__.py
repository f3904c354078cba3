"""hoptrace's collector: the DuckDB span store, its SQL views and the ingest paths.

Public API (see the README, "The trace store"):

- `DuckDBSpanExporter(db=None)`: OTel SpanExporter, the zero-config sink.
- `SpanStore(db=None).write(SpanBatch)`: the one write path (exporter, OTLP receiver).
- `read_connection(db=None)`: context manager, read-only DuckDB connection.
- `query(sql, db=None, params=None) -> polars.DataFrame`.
- Views: spans, runs, agents, handoffs, llm_calls, errors; table model_prices.

`import collector` stays light: DuckDB, pyarrow, polars and the OTel SDK load on
first use of the name that needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from collector._paths import DB_ENV, DEFAULT_DB_NAME, is_store_url, resolve_db, resolve_store

if TYPE_CHECKING:
    from collector._exporter import DuckDBSpanExporter
    from collector.ingest import SpanBatch, spans_to_batch
    from collector.schema import SCHEMA_VERSION, VIEW_NAMES
    from collector.sql import query
    from collector.store import (
        NotAHoptraceStoreError,
        SchemaVersionError,
        SpanStore,
        StoreBusyError,
        StoreError,
        StoreNotFoundError,
        read_connection,
    )

_LAZY: dict[str, str] = {
    "DuckDBSpanExporter": "collector._exporter",
    "SpanBatch": "collector.ingest",
    "spans_to_batch": "collector.ingest",
    "SpanStore": "collector.store",
    "read_connection": "collector.store",
    "StoreError": "collector.store",
    "StoreBusyError": "collector.store",
    "StoreNotFoundError": "collector.store",
    "NotAHoptraceStoreError": "collector.store",
    "SchemaVersionError": "collector.store",
    "SCHEMA_VERSION": "collector.schema",
    "VIEW_NAMES": "collector.schema",
    "query": "collector.sql",
}

__all__ = [
    "DB_ENV",
    "DEFAULT_DB_NAME",
    "SCHEMA_VERSION",
    "VIEW_NAMES",
    "DuckDBSpanExporter",
    "NotAHoptraceStoreError",
    "SchemaVersionError",
    "SpanBatch",
    "SpanStore",
    "StoreBusyError",
    "StoreError",
    "StoreNotFoundError",
    "is_store_url",
    "query",
    "read_connection",
    "resolve_db",
    "resolve_store",
    "spans_to_batch",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'collector' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
