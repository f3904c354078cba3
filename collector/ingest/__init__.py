"""Ingest: a batch of spans (`SpanBatch`), its staging as Arrow, and the attribute dialects
promoted into hoptrace's columns. The lowest layer above the schema: it knows no DuckDB file."""

from __future__ import annotations

from collector.ingest._batch import (
    SPAN_KINDS,
    STATUS_CODES,
    SpanBatch,
    batch_from_raw,
    coalesce,
    drop_superseded_pending,
)
from collector.ingest._dialects import promotion_sql
from collector.ingest._sdk import spans_to_batch
from collector.ingest._staging import Staged, arrow_schema, batch_to_arrow, merge, stage

__all__ = [
    "SPAN_KINDS",
    "STATUS_CODES",
    "SpanBatch",
    "Staged",
    "arrow_schema",
    "batch_from_raw",
    "batch_to_arrow",
    "coalesce",
    "drop_superseded_pending",
    "merge",
    "promotion_sql",
    "spans_to_batch",
    "stage",
]
