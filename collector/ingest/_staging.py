"""SpanBatch -> the Arrow table staged for one insert (the Python half of ingest).

Python does only what needs Python objects: hex ids are already strings, so this
encodes attributes / events / links / resource as JSON text (orjson), reads the
service name once per distinct Resource, and computes `collector.ingest._dialects.staged_facts`
for the few spans with events, links or a recovery marker. Everything else (the
dialect promotion, classification, costs) runs vectorised inside DuckDB over this
table (`collector.ingest._dialects.promotion_sql`).
"""

from __future__ import annotations

import json
import math
from typing import Any, NamedTuple

import orjson
import pyarrow as pa

from collector.ingest._batch import SpanBatch
from collector.ingest._dialects import ATTR_NAMES, STAGED_FACTS, staged_facts
from collector.ingest._messages import normalise, wants
from collector.schema import SPAN_COLUMN_NAMES, SPAN_COLUMNS
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


MESSAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("messages", "VARCHAR"),
    ("input_message_count", "BIGINT"),
    ("output_message_count", "BIGINT"),
    ("first_user_message", "VARCHAR"),
)
STAGED_COLUMNS: tuple[tuple[str, str], ...] = (
    # span_t's raw columns, pending and service_name, as Python fills them
    # (ingested_ns is the write's time, set in SQL: collector.ingest._dialects.promotion_sql)
    *(
        c
        for c in SPAN_COLUMNS[: SPAN_COLUMN_NAMES.index("service_name") + 1]
        if c[0] != "ingested_ns"
    ),
    *((c, "VARCHAR") for c in STAGED_FACTS),
    # the normalised messages (collector.ingest._messages), passed through to span_t
    *MESSAGE_COLUMNS,
    ("ord", "BIGINT"),  # batch order: of two copies of a span the later one wins
)
STAGED_SCHEMA = arrow_schema(STAGED_COLUMNS)

_slow_dumps = json.JSONEncoder(ensure_ascii=False, default=str, separators=(",", ":")).encode


def _dumps(value: Any) -> str | bytes:
    try:
        return orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        # non-string keys, huge ints, odd objects: the stdlib encoder stringifies them;
        # a lone surrogate (not encodable as UTF-8) becomes "?" rather than losing the span
        return _slow_dumps(_finite(value)).encode("utf-8", "replace")


def _finite(value: Any) -> Any:
    # the stdlib encoder writes NaN / Infinity, which are not JSON (DuckDB refuses them);
    # orjson writes null for them, and so does this slow path
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _column(values: Any, type_: pa.DataType) -> pa.Array:
    try:
        return pa.array(values, type=type_)
    except UnicodeEncodeError:
        # a name or message with a lone surrogate: store it with "?" instead
        return pa.array(
            [v.encode("utf-8", "replace").decode() if isinstance(v, str) else v for v in values],
            type=type_,
        )


def _truthy(v: Any) -> bool:
    return v is True or (isinstance(v, str) and v.lower() == "true") or v == 1


class Staged(NamedTuple):
    """A batch ready for `promotion_sql`: its table and the dialect names it uses."""

    table: pa.Table
    names: frozenset[str]
    """The attribute names of the dialect tables that occur in the batch."""


_READ = frozenset(ATTR_NAMES)


def stage(batch: SpanBatch) -> Staged:
    """Check `batch` and stage it: the Python half of a write, on the caller's thread.

    Raises ValueError for a malformed batch (columns of different lengths, an empty
    trace or span id), before anything is written.
    """
    n = len(batch.span_id)
    bad = [f for f in batch.__dataclass_fields__ if len(getattr(batch, f)) != n]
    if bad:
        raise ValueError(f"SpanBatch columns differ in length ({n} span ids; bad: {bad})")
    if not all(batch.trace_id) or not all(batch.span_id):
        i = next(i for i in range(n) if not batch.trace_id[i] or not batch.span_id[i])
        raise ValueError(f"SpanBatch row {i} has an empty trace_id or span_id")
    return batch_to_arrow(batch)


def merge(parts: list[Staged]) -> Staged:
    """One staged batch of `parts`, in order (later copies of a span still win)."""
    if len(parts) == 1:
        return parts[0]
    table = pa.concat_tables([p.table for p in parts])
    at = table.schema.get_field_index("ord")
    table = table.set_column(at, "ord", pa.array(range(table.num_rows), pa.int64()))
    return Staged(table, frozenset().union(*(p.names for p in parts)))


def batch_to_arrow(batch: SpanBatch) -> Staged:
    """The staged Arrow table of `batch` (STAGED_COLUMNS), ready for `promotion_sql`."""
    n = len(batch)
    if n == 0:
        return Staged(STAGED_SCHEMA.empty_table(), frozenset())
    names: set[str] = set()
    pending = [False] * n
    end_ns: list[int | None] = list(batch.end_ns)
    attrs_json: list[str | bytes] = [b"{}"] * n
    events_json: list[str | bytes] = [b"[]"] * n
    links_json: list[str | bytes] = [b"[]"] * n
    facts: list[tuple[int, tuple[Any, ...]]] = []
    messages: list[tuple[int, tuple[Any, ...]]] = []
    get_pending, role, recovered = sc.PENDING, sc.ERROR_ROLE, sc.ROLE_RECOVERED
    for i, (attrs, events, links) in enumerate(
        zip(batch.attributes, batch.events, batch.links, strict=True)
    ):
        if attrs:
            attrs_json[i] = _dumps(attrs)
            names.update(attrs)
            p = attrs.get(get_pending)
            if p is not None and _truthy(p):
                pending[i] = True
                end_ns[i] = None
        if end_ns[i] is None:
            pending[i] = True
        if events:
            events_json[i] = _dumps(events)
        if links:
            links_json[i] = _dumps(links)
        if events or links or (attrs and attrs.get(role) == recovered):
            f = staged_facts(attrs or {}, events or [], links or [])
            if f is not None:
                facts.append((i, f))
        if attrs and wants(attrs, events):
            normalised = normalise(attrs, events)
            if normalised is not None:
                messages.append((i, normalised))
    resources, services = _resources(batch.resource)
    columns: dict[str, Any] = {
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
        "events": events_json,
        "links": links_json,
        "resource": resources,
        "scope_name": batch.scope_name,
        "scope_version": batch.scope_version,
        "pending": pending,
        "service_name": services,
    }
    columns["ord"] = range(n)
    for j, (c, _) in enumerate(MESSAGE_COLUMNS):
        values: list[Any] = [None] * n
        for i, row in messages:
            values[i] = row[j]
        columns[c] = values
    for j, c in enumerate(STAGED_FACTS):
        col: list[Any] = [None] * n
        for i, f in facts:
            col[i] = f[j]
        columns[c] = col
    table = pa.table(
        {c: _column(v, STAGED_SCHEMA.field(c).type) for c, v in columns.items()},
        schema=STAGED_SCHEMA,
    )
    return Staged(table, frozenset(names) & _READ)


def _resources(resources: list[dict[str, Any]]) -> tuple[list[Any], list[str | None]]:
    # a batch usually holds a handful of distinct Resource dicts: encode each once
    texts: list[Any] = []
    services: list[str | None] = []
    last: Any = None
    text: Any = b"{}"
    service: str | None = None
    for r in resources:
        if r is not last:
            last = r
            text = _dumps(r) if r else b"{}"
            s = r.get("service.name") if r else None
            service = None if s is None else str(s)
        texts.append(text)
        services.append(service)
    return texts, services
