"""SpanBatch <-> rows of the OTel Collector's `otel_traces` table.

The exporter writes every attribute value as a string (pcommon `AsString`: ints and
doubles in decimal, bools as true/false, arrays as JSON). Reading them back,
`typed` undoes that for values that look like it, so dialect promotion (which reads
tokens as numbers, recovered span ids as arrays, ...) sees what the SDK sent. A string
attribute that happens to read as a number or JSON array comes back typed: the one loss
of the standard table (except under keys that name text: ids, names, payloads; see
`_TEXT_SUFFIXES`), documented in the README's scale-out section.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson
import pyarrow as pa

from collector.ingest import SpanBatch
from tracer import semconv as sc

_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,18})")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_SCOPE_KEYS = ("otel.scope.name", "otel.scope.version")  # older exporter versions

_MAP = pa.map_(pa.string(), pa.string())
_TS = pa.timestamp("ns")
OTEL_SCHEMA = pa.schema(
    [
        ("Timestamp", _TS),
        ("TraceId", pa.string()),
        ("SpanId", pa.string()),
        ("ParentSpanId", pa.string()),
        ("TraceState", pa.string()),
        ("SpanName", pa.string()),
        ("SpanKind", pa.string()),
        ("ServiceName", pa.string()),
        ("ResourceAttributes", _MAP),
        ("ScopeName", pa.string()),
        ("ScopeVersion", pa.string()),
        ("SpanAttributes", _MAP),
        ("Duration", pa.uint64()),
        ("StatusCode", pa.string()),
        ("StatusMessage", pa.string()),
        ("Events.Timestamp", pa.list_(_TS)),
        ("Events.Name", pa.list_(pa.string())),
        ("Events.Attributes", pa.list_(_MAP)),
        ("Links.TraceId", pa.list_(pa.string())),
        ("Links.SpanId", pa.list_(pa.string())),
        ("Links.TraceState", pa.list_(pa.string())),
        ("Links.Attributes", pa.list_(_MAP)),
    ]
)


def as_string(value: Any) -> str:
    """An attribute value as the ClickHouse exporter stores it."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


# Keys whose values are text whatever they look like: ids (a hex span id may be all
# decimal digits) and names never become numbers; payloads (JSON text of any value,
# e.g. "1" for the number 1, "[...]" for a list) are never parsed at all.
_TEXT_SUFFIXES = ("_id", ".id", ".name", ".agent", ".model", ".reason", ".role", ".kind")
_PAYLOAD_KEYS = frozenset({"gen_ai.prompt", "gen_ai.completion"})
_PAYLOAD_SUFFIXES = (
    ".input",
    ".output",
    ".payload",
    ".value",
    ".argument",
    ".arguments",
    ".result",
    ".message",
    ".messages",
    ".instructions",
    ".definitions",
    ".description",
)


_PAYLOAD, _TEXT, _ANY = 0, 1, 2
_key_kinds: dict[str, int] = {}
_SCALAR_START = frozenset("-0123456789tf")


def _key_kind(key: str) -> int:
    kind = _key_kinds.get(key)
    if kind is None:
        if key in _PAYLOAD_KEYS or (
            key.endswith(_PAYLOAD_SUFFIXES) and not key.startswith("hoptrace.recovered.")
        ):
            kind = _PAYLOAD
        elif key.endswith(_TEXT_SUFFIXES):
            kind = _TEXT
        else:
            kind = _ANY
        if len(_key_kinds) < 100_000:  # attribute keys are few; a flood of odd ones is not cached
            _key_kinds[key] = kind
    return kind


def typed(value: str, key: str = "") -> Any:
    """An exporter-stored attribute string back as the value it most likely was."""
    kind = _key_kind(key)
    if kind == _PAYLOAD or not value:
        return value
    first = value[0]
    if first == "[":
        return _array(value)
    if kind == _TEXT or first not in _SCALAR_START:
        return value
    if value == "true":
        return True
    if value == "false":
        return False
    if _INT.fullmatch(value):
        return int(value)
    if _FLOAT.fullmatch(value):
        return float(value)
    return value


def _array(value: str) -> Any:
    if value[:1] == "[":
        # an OTel array attribute holds primitives only; JSON text with objects inside
        # (gen_ai.input.messages, ...) was a string attribute and stays one
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        if isinstance(parsed, list) and all(not isinstance(v, (list, dict)) for v in parsed):
            return parsed
    return value


def _smap(attrs: dict[str, Any]) -> list[tuple[str, str]]:
    return [(k, as_string(v)) for k, v in attrs.items() if v is not None]


def batch_to_otel(batch: SpanBatch) -> pa.Table:
    """The `otel_traces` rows of a batch, as the contrib exporter would write them."""
    cols: dict[str, list[Any]] = {name: [] for name in OTEL_SCHEMA.names}
    for i in range(len(batch)):
        attrs = batch.attributes[i]
        start, end = batch.start_ns[i], batch.end_ns[i]
        if end is None and attrs.get(sc.PENDING) is not True:
            attrs = {**attrs, sc.PENDING: True}
        resource = batch.resource[i]
        events, links = batch.events[i], batch.links[i]
        row = (
            start,
            batch.trace_id[i],
            batch.span_id[i],
            batch.parent_span_id[i] or "",
            "",
            batch.name[i],
            f"SPAN_KIND_{batch.kind[i]}",
            str(resource.get("service.name") or ""),
            _smap(resource),
            batch.scope_name[i] or "",
            batch.scope_version[i] or "",
            _smap(attrs),
            max(0, end - start) if end is not None else 0,
            f"STATUS_CODE_{batch.status_code[i]}",
            batch.status_message[i] or "",
            [int(e.get("time_ns") or 0) for e in events],
            [str(e.get("name") or "") for e in events],
            [_smap(e.get("attributes") or {}) for e in events],
            [str(x.get("trace_id") or "") for x in links],
            [str(x.get("span_id") or "") for x in links],
            ["" for _ in links],
            [_smap(x.get("attributes") or {}) for x in links],
        )
        for name, v in zip(OTEL_SCHEMA.names, row, strict=True):
            cols[name].append(v)
    return pa.table(cols, schema=OTEL_SCHEMA)


READ_COLUMNS = (
    # the two maps as JSON text: orjson parses that ~5x faster than Arrow turns a Map
    # column into Python pairs
    "toUnixTimestamp64Nano(Timestamp) AS start_ns, TraceId, SpanId, ParentSpanId, SpanName, "
    "SpanKind, toJSONString(ResourceAttributes) AS ResourceAttributes, ScopeName, "
    "ScopeVersion, toJSONString(SpanAttributes) AS SpanAttributes, Duration, "
    "StatusCode, StatusMessage, "
    "arrayMap(t -> toUnixTimestamp64Nano(t), `Events.Timestamp`) AS ev_time, "
    "`Events.Name` AS ev_name, `Events.Attributes` AS ev_attrs, "
    "`Links.TraceId` AS ln_trace, `Links.SpanId` AS ln_span, `Links.Attributes` AS ln_attrs"
)
"""The select list `otel_to_batch` expects, in order."""


def _enum(value: str, prefix: str, known: tuple[str, ...], default: str) -> str:
    v = value.upper().removeprefix(prefix)
    return v if v in known else default


def _attrs(pairs: Any) -> dict[str, Any]:
    return {k: typed(v, k) for k, v in (pairs or ())}


def _json_attrs(text: str | None) -> dict[str, Any]:
    if not text or text == "{}":
        return {}
    return {k: typed(v, k) for k, v in orjson.loads(text).items()}


def _resources() -> Any:
    """`_attrs` for resources, once per distinct resource of a batch (shared: never mutated)."""
    seen: dict[str, dict[str, Any]] = {}

    def get(text: str) -> dict[str, Any]:
        found = seen.get(text)
        if found is None:
            found = seen[text] = _json_attrs(text)
        return found

    return get


def otel_to_batch(table: pa.Table) -> SpanBatch:
    """A SpanBatch from `otel_traces` rows read with READ_COLUMNS.

    Pending copies (hoptrace.pending) come first: the store keeps the finished copy of a
    span that arrives in both forms, and of two finished copies the later one in the batch.
    """
    from collector.ingest import SPAN_KINDS, STATUS_CODES

    data = {name: table.column(name).to_pylist() for name in table.column_names}
    n = table.num_rows
    spans = []
    for i in range(n):
        attrs = _json_attrs(data["SpanAttributes"][i])
        # older exporter versions put the scope into the span's attributes instead
        scope = [data["ScopeName"][i] or None, data["ScopeVersion"][i] or None]
        for j, key in enumerate(_SCOPE_KEYS):
            if key in attrs and (scope[j] is None or str(attrs[key]) == scope[j]):
                scope[j] = str(attrs.pop(key))
        pending = attrs.get(sc.PENDING) is True
        spans.append((pending, i, int(data["start_ns"][i]), attrs, scope))
    spans.sort(key=lambda s: not s[0])
    batch = SpanBatch()
    resource = _resources()
    for pending, i, start, attrs, scope in spans:
        events = [
            {"name": name, "time_ns": int(t), "attributes": _attrs(a)}
            for t, name, a in zip(
                data["ev_time"][i], data["ev_name"][i], data["ev_attrs"][i], strict=True
            )
        ]
        links = [
            {"trace_id": t, "span_id": s, "attributes": _attrs(a)}
            for t, s, a in zip(
                data["ln_trace"][i], data["ln_span"][i], data["ln_attrs"][i], strict=True
            )
        ]
        batch.add(
            trace_id=data["TraceId"][i],
            span_id=data["SpanId"][i],
            parent_span_id=data["ParentSpanId"][i] or None,
            name=data["SpanName"][i],
            kind=_enum(data["SpanKind"][i], "SPAN_KIND_", SPAN_KINDS, "INTERNAL"),
            start_ns=start,
            end_ns=None if pending else start + int(data["Duration"][i]),
            status_code=_enum(data["StatusCode"][i], "STATUS_CODE_", STATUS_CODES, "UNSET"),
            status_message=data["StatusMessage"][i] or None,
            attributes=attrs,
            events=events,
            links=links,
            resource=resource(data["ResourceAttributes"][i]),
            scope_name=scope[0],
            scope_version=scope[1],
        )
    return batch
