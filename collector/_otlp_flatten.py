"""Flatten a parsed OTLP `ExportTraceServiceRequest` into `SpanBatch` columns.

Flattening, not parsing, is the receiver's CPU cost: upb parses a 512-span request
in about a microsecond per span, but every field read from Python builds an object,
and every repeated element or sub-message read builds a wrapper (roughly 0.2 us each
on a 2-core box). A span's attributes are most of those reads: per attribute, a
`KeyValue` wrapper, its key, an `AnyValue` wrapper and its value.

So binary requests are read a second time through a *wire view* of the same schema:
opentelemetry-proto's own descriptors, with `Span.attributes` and
`Resource.attributes` declared `repeated bytes`, which is the very same wire format
as `repeated KeyValue`. upb then hands each attribute over as its encoded bytes, and
those bytes are turned into a (key, value) pair by opentelemetry-proto's `KeyValue`
class, through a small cache: most attributes of agent traces (operation names,
agent names, models, kinds) repeat from span to span. The body has already been
parsed and validated by the real `ExportTraceServiceRequest` (see
`collector._otlp.decode_protobuf`), so what is accepted or refused, and why, does
not depend on the view.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Sequence
from itertools import repeat
from operator import attrgetter, itemgetter
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from collector._batch import SPAN_KINDS, STATUS_CODES, SpanBatch

__all__ = ["WIRE_REQUEST", "attrs", "attrs_of", "flatten", "raw_attrs", "raw_attrs_of"]

_PENDING_ATTR = "hoptrace.pending"  # tracer.semconv.PENDING; not imported to stay leaf-light
_KeyValue = common_pb2.KeyValue


# --- attribute values ----------------------------------------------------------


def _any(value: Any) -> Any:
    """An OTLP `AnyValue` as a JSON-able Python value."""
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "int_value":
        return value.int_value
    if which == "bool_value":
        return value.bool_value
    if which == "double_value":
        d = value.double_value
        # NaN/Infinity are not JSON; keep them visible as text instead of breaking the store.
        return d if math.isfinite(d) else str(d)
    if which == "array_value":
        return [_any(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _any(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None


def attrs(key_values: Any) -> dict[str, Any]:
    """`KeyValue` messages as a dict (later duplicates win, as before)."""
    out: dict[str, Any] = {}
    for kv in key_values[:]:
        v = kv.value
        # A non-empty string_value (or non-zero int_value) can only be the oneof's set
        # member, so the common cases cost one accessor call; zero, "", bool, double,
        # bytes, arrays and maps take the WhichOneof path.
        s = v.string_value
        if s:
            out[kv.key] = s
        else:
            i = v.int_value
            out[kv.key] = i if i else _any(v)
    return out


class _PairCache(dict[bytes, tuple[str, Any]]):
    """Encoded KeyValue -> (key, value), parsing (and maybe keeping) what it lacks.

    Bounded in entries and blob size, so unique values (prompts, outputs, token
    counts) cost at most a few MB; cleared wholesale when full rather than LRU-managed,
    as the hot pairs are back after one miss each. Only immutable values are kept: a
    list or dict must not be shared between spans.
    """

    max_entries = 8192
    max_blob = 160

    def __missing__(self, blob: bytes) -> tuple[str, Any]:
        kv = _KeyValue.FromString(blob)
        v = kv.value
        s = v.string_value
        if s:
            value: Any = s
        else:
            i = v.int_value
            value = i if i else _any(v)
        pair = (kv.key, value)
        if len(blob) <= self.max_blob and not isinstance(value, (list, dict)):
            if len(self) >= self.max_entries:
                self.clear()
            self[blob] = pair
        return pair


_PAIR_OF = _PairCache().__getitem__
# `field[:]`: a repeated field as a list in one C call. Iterating the field itself ends
# each loop with a formatted IndexError, which costs more than the slice.
_AS_LIST = itemgetter(slice(None))


def raw_attrs(blobs: Any) -> dict[str, Any]:
    """Encoded `KeyValue`s (a wire-view `attributes` field) as a dict, like `attrs`."""
    # dict() of (key, value) pairs keeps the first key's position and the last value,
    # exactly like attrs(); for cached pairs no bytecode runs per attribute.
    return dict(map(_PAIR_OF, blobs[:]))


def raw_attrs_of(fields: Sequence[Any]) -> list[dict[str, Any]]:
    """`raw_attrs` of each field, in C loops."""
    return list(map(dict, map(map, repeat(_PAIR_OF), map(_AS_LIST, fields))))


def attrs_of(fields: Sequence[Any]) -> list[dict[str, Any]]:
    """`attrs` of each field."""
    return list(map(attrs, fields))


# --- the wire view -------------------------------------------------------------


def _wire_request_class() -> Any:
    raw = {"opentelemetry.proto.trace.v1.Span", "opentelemetry.proto.resource.v1.Resource"}
    pool = descriptor_pool.DescriptorPool()
    for module in (common_pb2, resource_pb2, trace_pb2, trace_service_pb2):  # dependency order
        proto = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(proto)
        for message in proto.message_type:
            if f"{proto.package}.{message.name}" in raw:
                for field in message.field:
                    if field.name == "attributes":
                        field.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
                        field.ClearField("type_name")
                        raw.discard(f"{proto.package}.{message.name}")
        pool.Add(proto)
    if raw:  # pragma: no cover - a future opentelemetry-proto renamed something
        raise RuntimeError(f"opentelemetry-proto schema changed: no attributes field in {raw}")
    full_name = trace_service_pb2.ExportTraceServiceRequest.DESCRIPTOR.full_name
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(full_name))


WIRE_REQUEST = _wire_request_class()
"""`ExportTraceServiceRequest` whose span and resource attributes parse as raw bytes."""


# --- spans ---------------------------------------------------------------------

_ZERO_TRACE = b"\x00" * 16
_ZERO_SPAN = b"\x00" * 8
_BAD_TRACE = "invalid trace_id (must be 16 bytes, not all zero)"
_BAD_SPAN = "invalid span_id (must be 8 bytes, not all zero)"
_BAD_PARENT = "invalid parent_span_id (must be empty or 8 bytes)"
_BAD_LINK = "invalid link ids (trace_id 16 bytes, span_id 8 bytes)"
# One C call instead of one bytecode attribute lookup per field.
_SPAN_FIELDS = attrgetter(
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "start_time_unix_nano",
    "end_time_unix_nano",
    "attributes",
    "events",
    "links",
    "status",
)


def _link_problem(links: Any) -> str | None:
    for link in links[:]:
        if len(link.trace_id) != 16 or len(link.span_id) != 8:
            return _BAD_LINK
    return None


def _events(events: Any) -> list[dict[str, Any]]:
    return [
        {"name": e.name, "time_ns": e.time_unix_nano, "attributes": attrs(e.attributes)}
        for e in events[:]
    ]


def _links(links: Any) -> list[dict[str, Any]]:
    return [
        {
            "trace_id": lk.trace_id.hex(),
            "span_id": lk.span_id.hex(),
            "attributes": attrs(lk.attributes),
        }
        for lk in links[:]
    ]


class _Names(dict[int, str]):
    """Enum number -> name; unknown numbers (negative ones included) get `default`."""

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__(enumerate(names))
        self.default = names[0]

    def __missing__(self, number: int) -> str:
        return self.default


_KIND_OF = _Names(SPAN_KINDS).__getitem__
_CODE_OF = _Names(STATUS_CODES).__getitem__
_STATUS_FIELDS = attrgetter("code", "message")


def flatten(
    request: Any,
    one_attrs: Callable[[Any], dict[str, Any]],
    many_attrs: Callable[[Sequence[Any]], list[dict[str, Any]]],
) -> tuple[SpanBatch, dict[str, int]]:
    """The valid spans of `request` as a batch, and the refused ones counted by problem.

    `one_attrs` / `many_attrs` convert one / a sequence of span or resource
    `attributes` fields: `attrs` / `attrs_of` for the real message classes,
    `raw_attrs` / `raw_attrs_of` for `WIRE_REQUEST`. Event and link attributes are
    messages in both.
    """
    batch = SpanBatch()
    rejected: dict[str, int] = {}
    for resource_spans in request.resource_spans[:]:
        resource = one_attrs(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans[:]:
            first = len(batch.span_id)
            spans = scope_spans.spans[:]
            if spans:
                columns = tuple(zip(*map(_SPAN_FIELDS, spans), strict=True))
                if _all_valid(columns):
                    _add_columns(batch, columns, many_attrs)
                else:
                    _add_checked(batch, spans, one_attrs, rejected)
            # Resource and scope are the same for every kept span of this scope. One dict
            # per resource, shared by its spans: readers must not mutate it.
            kept = len(batch.span_id) - first
            scope = scope_spans.scope
            batch.resource.extend([resource] * kept)
            batch.scope_name.extend([scope.name or None] * kept)
            batch.scope_version.extend([scope.version or None] * kept)
    return batch, rejected


def _all_valid(columns: tuple[tuple[Any, ...], ...]) -> bool:
    # Whole-column checks in C; any doubt sends the scope through _add_checked, which
    # finds and counts the culprits span by span.
    tids, sids, pids, links = columns[0], columns[1], columns[2], columns[9]
    return (
        set(map(len, tids)) == {16}
        and _ZERO_TRACE not in tids
        and set(map(len, sids)) == {8}
        and _ZERO_SPAN not in sids
        and set(map(len, pids)) <= {0, 8}
        and not any(map(_link_problem, filter(None, links)))
    )


def _add_columns(
    batch: SpanBatch,
    columns: tuple[tuple[Any, ...], ...],
    many_attrs: Callable[[Sequence[Any]], list[dict[str, Any]]],
) -> None:
    tids, sids, pids, names, kinds, starts, ends, attr_fields, events, links, statuses = columns
    attributes = many_attrs(attr_fields)
    codes, messages = zip(*map(_STATUS_FIELDS, statuses), strict=True)
    batch.trace_id.extend(map(bytes.hex, tids))
    batch.span_id.extend(map(bytes.hex, sids))
    batch.parent_span_id.extend([p.hex() if p else None for p in pids])
    batch.name.extend(names)
    batch.kind.extend(map(_KIND_OF, kinds))
    batch.start_ns.extend(starts)
    batch.end_ns.extend(
        [
            None if (end == 0 or attrs.get(_PENDING_ATTR) is True) else end
            for end, attrs in zip(ends, attributes, strict=True)
        ]
    )
    batch.status_code.extend(map(_CODE_OF, codes))
    batch.status_message.extend([m or None for m in messages])
    batch.attributes.extend(attributes)
    batch.events.extend([_events(e) if e else [] for e in events])
    batch.links.extend([_links(lk) if lk else [] for lk in links])


def _add_checked(
    batch: SpanBatch,
    spans: list[Any],
    one_attrs: Callable[[Any], dict[str, Any]],
    rejected: dict[str, int],
) -> None:
    for span in spans:
        tid, sid, pid, name, kind, start, end, attributes, events, links, status = _SPAN_FIELDS(
            span
        )
        if len(tid) != 16 or tid == _ZERO_TRACE:
            problem: str | None = _BAD_TRACE
        elif len(sid) != 8 or sid == _ZERO_SPAN:
            problem = _BAD_SPAN
        elif pid and len(pid) != 8:
            problem = _BAD_PARENT
        else:
            problem = _link_problem(links) if links else None
        if problem is not None:
            rejected[problem] = rejected.get(problem, 0) + 1
            continue
        attributes = one_attrs(attributes)
        batch.trace_id.append(tid.hex())
        batch.span_id.append(sid.hex())
        batch.parent_span_id.append(pid.hex() if pid else None)
        batch.name.append(name)
        batch.kind.append(_KIND_OF(kind))
        batch.start_ns.append(start)
        batch.end_ns.append(None if (end == 0 or attributes.get(_PENDING_ATTR) is True) else end)
        batch.status_code.append(_CODE_OF(status.code))
        batch.status_message.append(status.message or None)
        batch.attributes.append(attributes)
        batch.events.append(_events(events) if events else [])
        batch.links.append(_links(links) if links else [])
