"""Decode OTLP trace export requests (protobuf or OTLP/JSON) into a `SpanBatch`.

Parsing is done by opentelemetry-proto's generated classes (upb backend), never by
hand: binary bodies go through `ExportTraceServiceRequest.FromString`, JSON bodies
through `json_format.ParseDict(..., ignore_unknown_fields=True)` after the one
OTLP/JSON deviation from the proto3 JSON mapping (ids are hex, not base64) has been
undone. What is left here is validation and the flattening into columns.

A body that cannot be parsed raises `DecodeError` (the receiver answers 400 and
stores nothing). A body that parses but holds spans with unusable ids yields a
`Decoded` whose `batch` has only the valid spans and whose `rejected` /
`error_message` feed OTLP's partial-success response.
"""

from __future__ import annotations

import base64
import json
import math
import re
import zlib
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError as _ProtoDecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

from collector.ingest import SPAN_KINDS, STATUS_CODES, SpanBatch

__all__ = [
    "MAX_BODY_BYTES",
    "BodyTooLarge",
    "DecodeError",
    "Decoded",
    "decode",
    "decode_json",
    "decode_protobuf",
    "decompress",
    "request_to_batch",
]

MAX_BODY_BYTES = 64 * 1024 * 1024
"""OTLP/HTTP's recommended request size limit, enforced before and after decompression."""

_PENDING_ATTR = (
    "hoptrace.pending"  # tracer.semconv.PENDING; not imported to keep this module leaf-light
)
_ID_FIELDS = frozenset(("traceId", "spanId", "parentSpanId"))
# An id that is not valid hex is replaced by this one-byte id: it survives ParseDict and is
# then rejected by the length check, so the span is refused rather than the whole request.
_BAD_ID_B64 = base64.b64encode(b"\x00").decode()
_CHUNK = 1 << 20
_SURROGATE = re.compile("[\ud800-\udfff]")


class DecodeError(ValueError):
    """The body is not a valid OTLP trace export request (HTTP 400)."""


class BodyTooLarge(ValueError):
    """The body exceeds the size limit after decompression (HTTP 413)."""


@dataclass
class Decoded:
    """Result of decoding one request: the valid spans and what was refused."""

    batch: SpanBatch
    rejected: int = 0
    error_message: str = ""


# --- decompression -----------------------------------------------------------


def decompress(body: bytes, encoding: str, limit: int = MAX_BODY_BYTES) -> bytes:
    """Inflate a gzip or deflate body, never holding more than `limit` bytes of output.

    Inflation is incremental (`max_length` per step) so a gzip bomb costs at most
    `limit` bytes of memory before `BodyTooLarge` is raised. Concatenated gzip members
    are accepted, as gzip allows. `encoding` must be "gzip" or "deflate" (zlib-wrapped,
    what the OTel Python exporter sends; raw deflate is accepted too).
    """
    if encoding == "gzip":
        wbits = 16 + zlib.MAX_WBITS
    elif encoding == "deflate":
        # RFC 9110's "deflate" is zlib-wrapped, but some clients send raw deflate.
        wbits = zlib.MAX_WBITS if _zlib_header(body) else -zlib.MAX_WBITS
    else:  # pragma: no cover - the receiver filters encodings first
        raise ValueError(f"unsupported encoding {encoding!r}")
    out: list[bytes] = []
    total = 0
    data = body
    try:
        while True:
            d = zlib.decompressobj(wbits)
            while True:
                chunk = d.decompress(data, _CHUNK)
                total += len(chunk)
                if total > limit:
                    raise BodyTooLarge(f"body exceeds {limit} bytes after decompression")
                if chunk:
                    out.append(chunk)
                data = d.unconsumed_tail
                if not data and len(chunk) < _CHUNK:
                    break
            if not d.eof:
                raise DecodeError(f"truncated {encoding} stream")
            data = d.unused_data
            if encoding != "gzip" or not data.strip(b"\x00"):
                break
    except zlib.error as exc:
        raise DecodeError(f"invalid {encoding} body: {exc}") from None
    return b"".join(out)


def _zlib_header(body: bytes) -> bool:
    # RFC 1950: CM=8 in the low nibble of the first byte, header checksum divisible by 31.
    return len(body) >= 2 and (body[0] & 0x0F) == 8 and ((body[0] << 8) | body[1]) % 31 == 0


# --- parsing -----------------------------------------------------------------


def decode(body: bytes, content_type: str) -> Decoded:
    """Decode an (already decompressed) body; `content_type` is "protobuf" or "json"."""
    if content_type == "json":
        return decode_json(body)
    return decode_protobuf(body)


def decode_protobuf(body: bytes) -> Decoded:
    """Decode a binary `ExportTraceServiceRequest`."""
    try:
        request = ExportTraceServiceRequest.FromString(body)
    except _ProtoDecodeError as exc:
        raise DecodeError(f"invalid protobuf ExportTraceServiceRequest: {exc}") from None
    return request_to_batch(request)


def decode_json(body: bytes) -> Decoded:
    """Decode an OTLP/JSON `ExportTraceServiceRequest` (hex ids, any case)."""
    try:
        raw = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise DecodeError(f"invalid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise DecodeError("invalid OTLP/JSON: the body must be a JSON object")
    request = ExportTraceServiceRequest()
    try:
        converted = _hex_ids_to_b64(raw)
    except RecursionError:
        raise DecodeError("invalid OTLP/JSON: nested too deeply") from None
    except UnicodeError:
        raise DecodeError("invalid OTLP/JSON: unpaired UTF-16 surrogate in a string") from None
    try:
        json_format.ParseDict(converted, request, ignore_unknown_fields=True)
    except Exception as exc:  # any failure to map *input* onto the schema is the client's error
        raise DecodeError(f"invalid OTLP/JSON ExportTraceServiceRequest: {exc}") from None
    return request_to_batch(request)


def _hex_ids_to_b64(obj: Any) -> Any:
    # json_format reads bytes fields as base64; OTLP/JSON sends ids as hex (any case).
    # The same walk refuses lone surrogates ("\ud800" escapes): json.loads lets them
    # through, and neither protobuf nor the store can encode them.
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            _check_text(key)
            if key in _ID_FIELDS and isinstance(value, str):
                out[key] = _hex_to_b64(value)
            else:
                out[key] = _hex_ids_to_b64(value)
        return out
    if isinstance(obj, list):
        return [_hex_ids_to_b64(item) for item in obj]
    if isinstance(obj, str):
        _check_text(obj)
    return obj


def _check_text(text: str) -> None:
    if not text.isascii() and _SURROGATE.search(text):
        raise UnicodeError("lone surrogate")


def _hex_to_b64(value: str) -> str:
    if not value:
        return ""
    try:
        return base64.b64encode(bytes.fromhex(value)).decode()
    except ValueError:
        return _BAD_ID_B64


# --- flattening --------------------------------------------------------------
#
# Flattening, not parsing, is the receiver's CPU cost: upb parses a 512-span request
# in about a microsecond per span, but every field read from Python is a name lookup
# that builds an object, and every sub-message or repeated element read builds a
# wrapper. So each field is read once, a span's fields with one C call (attrgetter)
# instead of one bytecode dispatch each, and repeated fields are sliced into lists
# before the loop (iterating one directly ends every loop in a formatted IndexError,
# which costs more than the slice). bench/collector_ingest.py measures this as
# "decode only".


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
        return [_any(v) for v in value.array_value.values[:]]
    if which == "kvlist_value":
        return {kv.key: _any(kv.value) for kv in value.kvlist_value.values[:]}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None


def _attrs(key_values: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in key_values[:]:
        v = kv.value
        # A non-empty string_value (or non-zero int_value) can only be the oneof's set
        # member, so the common cases cost one accessor call each; zero, "", bool,
        # double, bytes, arrays and maps take the WhichOneof path.
        s = v.string_value
        if s:
            out[kv.key] = s
        else:
            i = v.int_value
            out[kv.key] = i if i else _any(v)
    return out


_ZERO_TRACE = b"\x00" * 16
_ZERO_SPAN = b"\x00" * 8
_BAD_TRACE = "invalid trace_id (must be 16 bytes, not all zero)"
_BAD_SPAN = "invalid span_id (must be 8 bytes, not all zero)"
_BAD_PARENT = "invalid parent_span_id (must be empty or 8 bytes)"
_BAD_LINK = "invalid link ids (trace_id 16 bytes, span_id 8 bytes)"
_BAD_TIME = "a timestamp past 2^63-1 ns (the store's BIGINT; year 2262)"
_MAX_NS = (1 << 63) - 1
_CLAMPED = "hoptrace.ingest.clamped"
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


class _Names(dict[int, str]):
    """Enum number -> name; unknown numbers (negative ones included) get the first name."""

    def __init__(self, names: tuple[str, ...]) -> None:
        super().__init__(enumerate(names))
        self.default = names[0]

    def __missing__(self, number: int) -> str:
        return self.default


_KIND_OF = _Names(SPAN_KINDS).__getitem__
_CODE_OF = _Names(STATUS_CODES).__getitem__


def _link_problem(links: Any) -> str | None:
    for link in links[:]:
        if len(link.trace_id) != 16 or len(link.span_id) != 8:
            return _BAD_LINK
    return None


def _events(events: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": e.name,
            # past BIGINT an event time is unusable; the event itself is kept
            "time_ns": e.time_unix_nano if e.time_unix_nano <= _MAX_NS else None,
            "attributes": _attrs(e.attributes),
        }
        for e in events[:]
    ]


def _links(links: Any) -> list[dict[str, Any]]:
    return [
        {
            "trace_id": lk.trace_id.hex(),
            "span_id": lk.span_id.hex(),
            "attributes": _attrs(lk.attributes),
        }
        for lk in links[:]
    ]


def request_to_batch(request: ExportTraceServiceRequest) -> Decoded:
    """Flatten a parsed request into a `SpanBatch`, refusing spans with unusable ids."""
    batch = SpanBatch()
    rejected: dict[str, int] = {}
    # Local aliases: this loop runs once per span and dominates receiver CPU.
    fields, attrs, kind_of, code_of = _SPAN_FIELDS, _attrs, _KIND_OF, _CODE_OF
    a_trace, a_span, a_parent = (
        batch.trace_id.append,
        batch.span_id.append,
        batch.parent_span_id.append,
    )
    a_name, a_kind = batch.name.append, batch.kind.append
    a_start, a_end = batch.start_ns.append, batch.end_ns.append
    a_code, a_msg = batch.status_code.append, batch.status_message.append
    a_attrs, a_events, a_links = batch.attributes.append, batch.events.append, batch.links.append
    last_tid, last_tid_hex = b"", ""
    # Most spans have no events or links; they all share this one empty list, as the
    # spans of a resource share its dict (readers must not mutate either). That is one
    # object per span less for the allocator and, as the batch waits in the queue, for
    # every garbage collection pass: measured, this is most of the collector's GC time.
    no_items: list[dict[str, Any]] = []
    for resource_spans in request.resource_spans[:]:
        resource = attrs(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans[:]:
            first = len(batch.span_id)
            for span in scope_spans.spans[:]:
                tid, sid, pid, name, kind, start, end, attributes, events, links, status = fields(
                    span
                )
                if len(tid) != 16 or tid == _ZERO_TRACE:
                    problem: str | None = _BAD_TRACE
                elif len(sid) != 8 or sid == _ZERO_SPAN:
                    problem = _BAD_SPAN
                elif pid and len(pid) != 8:
                    problem = _BAD_PARENT
                elif start > _MAX_NS or end > _MAX_NS:
                    # fixed64 on the wire, BIGINT in the store: refused here, per span,
                    # so that it cannot take the rest of its request down at write time
                    problem = _BAD_TIME
                else:
                    problem = _link_problem(links) if links else None
                if problem is not None:
                    rejected[problem] = rejected.get(problem, 0) + 1
                    continue
                if tid != last_tid:  # spans of one trace usually arrive together
                    last_tid, last_tid_hex = tid, tid.hex()
                attributes = attrs(attributes)
                if end and end < start:
                    # kept, flagged: a clock step on the client must not lose the span
                    attributes = {
                        **attributes,
                        _CLAMPED: f"end_time {end} before start; set to start",
                    }
                    end = start
                a_trace(last_tid_hex)
                a_span(sid.hex())
                a_parent(pid.hex() if pid else None)
                a_name(name)
                a_kind(kind_of(kind))
                a_start(start)
                a_end(None if (end == 0 or attributes.get(_PENDING_ATTR) is True) else end)
                a_code(code_of(status.code))
                a_msg(status.message or None)
                a_attrs(attributes)
                a_events(_events(events) if events else no_items)
                a_links(_links(links) if links else no_items)
            # Resource and scope are the same for every kept span of the scope, so those
            # columns are filled once per scope. One dict per resource, shared by its
            # spans: readers must not mutate it.
            kept = len(batch.span_id) - first
            scope = scope_spans.scope
            batch.resource.extend([resource] * kept)
            batch.scope_name.extend([scope.name or None] * kept)
            batch.scope_version.extend([scope.version or None] * kept)
    n_rejected = sum(rejected.values())
    message = ""
    if n_rejected:
        message = f"{n_rejected} span(s) rejected: " + "; ".join(
            f"{count} with {problem}" for problem, count in sorted(rejected.items())
        )
    return Decoded(batch=batch, rejected=n_rejected, error_message=message)
