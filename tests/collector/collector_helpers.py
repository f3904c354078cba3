"""Hand-built spans for collector tests: readable ids, times in ms from a fixed epoch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from collector import SpanBatch, SpanStore

TRACE = "0af7651916cd43dd8448eb211c80319c"
MS = 1_000_000  # ns
T0 = 1_700_000_000_000 * MS


def add(
    batch: SpanBatch,
    span_id: str,
    parent: str | None,
    name: str,
    start_ms: float,
    end_ms: float | None,
    *,
    trace_id: str = TRACE,
    status: str = "UNSET",
    message: str | None = None,
    attrs: dict[str, Any] | None = None,
    events: list[dict[str, Any]] | None = None,
    links: list[dict[str, Any]] | None = None,
    kind: str = "INTERNAL",
    service: str = "svc",
    scope: str | None = "hoptrace",
) -> SpanBatch:
    """Append one span; ids are short names padded to 16 hex-ish chars for readability."""
    batch.add(
        trace_id=trace_id,
        span_id=sid(span_id),
        parent_span_id=sid(parent) if parent else None,
        name=name,
        kind=kind,
        start_ns=int(T0 + start_ms * MS),
        end_ns=None if end_ms is None else int(T0 + end_ms * MS),
        status_code=status,
        status_message=message,
        attributes=dict(attrs or {}),
        events=list(events or []),
        links=list(links or []),
        resource={"service.name": service},
        scope_name=scope,
        scope_version=None,
    )
    return batch


def sid(name: str) -> str:
    """A deterministic 16-char span id for a readable name."""
    return name.encode().hex()[:16].ljust(16, "0")


def newer_schema_file(db: Path, version: int = 99) -> bytes:
    """Make `db` a store written by a newer hoptrace; returns its bytes, to check later."""
    SpanStore(db)
    con = duckdb.connect(str(db))
    con.execute("UPDATE hoptrace_meta SET value = ? WHERE key = 'schema_version'", [str(version)])
    con.close()
    return db.read_bytes()
