"""The store: connections to the one file, the span store's transaction, migrations, prices,
the writer child, and the one write queue (with its spool) that every ingest path feeds."""

from __future__ import annotations

from collector.store._connect import (
    READ_TIMEOUT_S,
    WRITE_TIMEOUT_S,
    NotAHoptraceStoreError,
    SchemaVersionError,
    StoreBusyError,
    StoreError,
    StoreNotFoundError,
    attach,
    check_version,
    is_lock_conflict,
    path_lock,
    read_connection,
    write_connection,
)
from collector.store._queue import DEFAULT_MAX_QUEUE_SPANS, WriteQueue, is_transient
from collector.store._span_store import SpanStore, price_tables
from collector.store._spool import Spool
from collector.store._writer_proc import ProcessStore, child_supported, open_writer

__all__ = [
    "DEFAULT_MAX_QUEUE_SPANS",
    "READ_TIMEOUT_S",
    "WRITE_TIMEOUT_S",
    "NotAHoptraceStoreError",
    "ProcessStore",
    "SchemaVersionError",
    "SpanStore",
    "Spool",
    "StoreBusyError",
    "StoreError",
    "StoreNotFoundError",
    "WriteQueue",
    "attach",
    "check_version",
    "child_supported",
    "is_lock_conflict",
    "is_transient",
    "open_writer",
    "path_lock",
    "price_tables",
    "read_connection",
    "write_connection",
]
