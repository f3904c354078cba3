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

from collector._batch import SpanBatch
from tracer._env import default_db_path

if TYPE_CHECKING:
    from collector._connect import (
        SchemaVersionError,
        StoreBusyError,
        StoreError,
        StoreNotFoundError,
        query,
        read_connection,
    )
    from collector._exporter import DuckDBSpanExporter, spans_to_batch
    from collector._schema import SCHEMA_VERSION, VIEW_NAMES
    from collector._store import SpanStore

_LAZY: dict[str, str] = {
    "DuckDBSpanExporter": "collector._exporter",
    "spans_to_batch": "collector._exporter",
    "SpanStore": "collector._store",
    "query": "collector._connect",
    "read_connection": "collector._connect",
    "StoreError": "collector._connect",
    "StoreBusyError": "collector._connect",
    "StoreNotFoundError": "collector._connect",
    "SchemaVersionError": "collector._connect",
    "SCHEMA_VERSION": "collector._schema",
    "VIEW_NAMES": "collector._schema",
}

__all__ = [
    "SCHEMA_VERSION",
    "VIEW_NAMES",
    "DuckDBSpanExporter",
    "SchemaVersionError",
    "SpanBatch",
    "SpanStore",
    "StoreBusyError",
    "StoreError",
    "StoreNotFoundError",
    "default_db_path",
    "query",
    "read_connection",
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
