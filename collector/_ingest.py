"""SpanBatch -> one Arrow table shaped like span_t (promotion and cost included)."""

from __future__ import annotations

import json
import time
from typing import Any

import pyarrow as pa

from collector._batch import SpanBatch
from collector._dialects import promote
from collector._prices import PriceMap, price_map
from collector._schema import SPAN_COLUMNS
from tracer import semconv as sc

_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "JSON": pa.string(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
}


def arrow_schema(cols: tuple[tuple[str, str], ...]) -> pa.Schema:
    """The Arrow schema matching a (column, DuckDB type) list."""
    return pa.schema([(c, _ARROW_TYPES[t]) for c, t in cols])


SPAN_SCHEMA = arrow_schema(SPAN_COLUMNS)
_PROMOTED = [c for c, _ in SPAN_COLUMNS[17:]]

_dumps = json.JSONEncoder(ensure_ascii=False, default=str, separators=(",", ":")).encode


def _truthy(v: Any) -> bool:
    return v is True or (isinstance(v, str) and v.lower() == "true") or v == 1


def _resources(resources: list[dict[str, Any]]) -> list[str]:
    # a batch usually holds a handful of distinct Resource dicts: encode each once
    out: list[str] = []
    last: Any = None
    text = "{}"
    for r in resources:
        if r is not last:
            last, text = r, (_dumps(r) if r else "{}")
        out.append(text)
    return out


def batch_to_arrow(batch: SpanBatch, prices: PriceMap | None = None) -> pa.Table:
    """Promote every span of `batch` and build the Arrow table for one insert."""
    prices = prices or price_map()
    n = len(batch)
    if n == 0:
        return SPAN_SCHEMA.empty_table()
    now = time.time_ns()
    rows: list[tuple[Any, ...]] = [()] * n
    pending: list[bool] = [False] * n
    end_ns: list[int | None] = list(batch.end_ns)
    attrs_json: list[str] = [""] * n
    for i in range(n):
        attrs = batch.attributes[i] or {}
        p = promote(
            batch.name[i],
            batch.status_code[i],
            batch.status_message[i],
            attrs,
            batch.events[i] or [],
            batch.links[i] or [],
            batch.resource[i] or {},
        )
        if p["cost_usd"] is None and p["span_class"] == "llm":
            cost = prices.cost(
                p["model"], p["provider"], p["input_tokens"], p["output_tokens"],
                p["cache_read_tokens"],
            )  # fmt: skip
            if cost is None and p["response_model"] and p["response_model"] != p["model"]:
                cost = prices.cost(
                    p["response_model"], p["provider"], p["input_tokens"], p["output_tokens"],
                    p["cache_read_tokens"],
                )  # fmt: skip
            if cost is not None:
                p["cost_usd"], p["cost_source"] = cost, "computed"
        rows[i] = tuple(map(p.get, _PROMOTED))
        if _truthy(attrs.get(sc.PENDING)) or end_ns[i] is None:
            pending[i] = True
            end_ns[i] = None
        attrs_json[i] = _dumps(attrs)
    columns: dict[str, list[Any]] = {
        "trace_id": batch.trace_id,
        "span_id": batch.span_id,
        "parent_span_id": [p or None for p in batch.parent_span_id],
        "name": batch.name,
        "kind": batch.kind,
        "start_ns": batch.start_ns,
        "end_ns": end_ns,
        "status": batch.status_code,
        "status_message": batch.status_message,
        "attributes": attrs_json,
        "events": [_dumps(e) if e else "[]" for e in batch.events],
        "links": [_dumps(ln) if ln else "[]" for ln in batch.links],
        "resource": _resources(batch.resource),
        "scope_name": batch.scope_name,
        "scope_version": batch.scope_version,
        "pending": pending,
        "ingested_ns": [now] * n,
        **dict(zip(_PROMOTED, map(list, zip(*rows, strict=True)), strict=True)),
    }
    return pa.table(columns, schema=SPAN_SCHEMA)
