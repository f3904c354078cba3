"""Decode OTLP trace export requests (protobuf or OTLP/JSON) into a `SpanBatch`.

Parsing is done by opentelemetry-proto's generated classes (upb backend), never by
hand: binary bodies go through `ExportTraceServiceRequest.FromString`, JSON bodies
through `json_format.ParseDict(..., ignore_unknown_fields=True)` after the one
OTLP/JSON deviation from the proto3 JSON mapping (ids are hex, not base64) has been
undone. What is left here is validation; the flattening into columns, and the faster
second reading of binary bodies it uses, are in `collector._otlp_flatten`.

A body that cannot be parsed raises `DecodeError` (the receiver answers 400 and
stores nothing). A body that parses but holds spans with unusable ids yields a
`Decoded` whose `batch` has only the valid spans and whose `rejected` /
`error_message` feed OTLP's partial-success response.
"""

from __future__ import annotations

import base64
import json
import re
import zlib
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError as _ProtoDecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

from collector._batch import SpanBatch
from collector._otlp_flatten import WIRE_REQUEST, attrs, attrs_of, flatten, raw_attrs, raw_attrs_of

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
        # The real class decides what is valid (malformed, bad UTF-8, nested too deeply);
        # the wire view, parsed from the same now-valid bytes, is only faster to flatten
        # (collector._otlp_flatten). Parsing twice costs far less than it saves.
        ExportTraceServiceRequest.FromString(body)
        return _decoded(*flatten(WIRE_REQUEST.FromString(body), raw_attrs, raw_attrs_of))
    except _ProtoDecodeError as exc:
        raise DecodeError(f"invalid protobuf ExportTraceServiceRequest: {exc}") from None


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


def request_to_batch(request: ExportTraceServiceRequest) -> Decoded:
    """Flatten a parsed request into a `SpanBatch`, refusing spans with unusable ids."""
    return _decoded(*flatten(request, attrs, attrs_of))


def _decoded(batch: SpanBatch, rejected: dict[str, int]) -> Decoded:
    n_rejected = sum(rejected.values())
    message = ""
    if n_rejected:
        message = f"{n_rejected} span(s) rejected: " + "; ".join(
            f"{count} with {problem}" for problem, count in sorted(rejected.items())
        )
    return Decoded(batch=batch, rejected=n_rejected, error_message=message)
