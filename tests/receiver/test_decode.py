"""Decoding OTLP protobuf / JSON bodies into SpanBatch columns (no HTTP)."""

from __future__ import annotations

import copy
import gzip
import json
import zlib

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from collector.otlp._decode import (
    BodyTooLarge,
    DecodeError,
    decode_json,
    decode_protobuf,
    decompress,
)

from ._helpers import SPEC_EXAMPLE, json_body, proto_body, sdk_spans


def test_protobuf_from_real_sdk_spans_round_trips_every_field() -> None:
    spans = sdk_spans(n_traces=2, children=3)
    decoded = decode_protobuf(proto_body(spans))
    batch = decoded.batch
    assert decoded.rejected == 0
    assert decoded.error_message == ""
    assert len(batch) == len(spans) == 8
    by_id = {f"{s.context.span_id:016x}": s for s in spans}
    assert set(batch.span_id) == set(by_id)
    for i, sid in enumerate(batch.span_id):
        src = by_id[sid]
        assert batch.trace_id[i] == f"{src.context.trace_id:032x}"
        assert batch.parent_span_id[i] == (f"{src.parent.span_id:016x}" if src.parent else None)
        assert batch.name[i] == src.name
        assert batch.start_ns[i] == src.start_time
        assert batch.end_ns[i] == src.end_time
        assert batch.scope_name[i] == "tests.receiver"
        assert batch.scope_version[i] == "1.2.3"
        assert batch.resource[i]["service.name"] == "svc"
        assert batch.attributes[i] == {
            k: list(v) if isinstance(v, tuple) else v for k, v in src.attributes.items()
        }
        if src.name.startswith("chat"):
            assert batch.kind[i] == "CLIENT"
            assert batch.events[i][0]["name"] == "gen_ai.choice"
            assert batch.events[i][0]["attributes"] == {"index": src.events[0].attributes["index"]}
            assert batch.events[i][0]["time_ns"] == src.events[0].timestamp
            assert batch.links[i] == [
                {
                    "trace_id": batch.trace_id[i],
                    "span_id": batch.parent_span_id[i],
                    "attributes": {"hoptrace.link.type": "handoff"},
                }
            ]
        else:
            assert batch.kind[i] == "INTERNAL"
            assert batch.events[i] == []
            assert batch.links[i] == []
    errors = [i for i, code in enumerate(batch.status_code) if code == "ERROR"]
    assert len(errors) == 2
    assert {batch.status_message[i] for i in errors} == {"boom"}
    assert set(batch.status_code) == {"UNSET", "ERROR"}


def test_spec_example_with_uppercase_hex_ids() -> None:
    batch = decode_json(json_body(SPEC_EXAMPLE)).batch
    assert batch.trace_id == ["5b8efff798038103d269b633813fc60c"]
    assert batch.span_id == ["eee19b7ec3c1b174"]
    assert batch.parent_span_id == ["eee19b7ec3c1b173"]
    assert batch.kind == ["SERVER"]
    assert batch.start_ns == [1544712660000000000]
    assert batch.end_ns == [1544712661000000000]
    assert batch.attributes == [{"my.span.attr": "some value"}]
    assert batch.resource == [{"service.name": "my.service"}]
    assert batch.scope_name == ["my.library"]
    assert batch.scope_version == ["1.0.0"]


def test_json_and_protobuf_of_the_same_request_decode_identically() -> None:
    from google.protobuf import json_format

    body = proto_body()
    as_dict = json_format.MessageToDict(ExportTraceServiceRequest.FromString(body))

    def b64_to_hex(obj):  # OTLP/JSON ids are hex: convert MessageToDict's base64 back
        import base64

        if isinstance(obj, dict):
            return {
                k: base64.b64decode(v).hex().upper()
                if k in ("traceId", "spanId", "parentSpanId")
                else b64_to_hex(v)
                for k, v in obj.items()
            }
        if isinstance(obj, list):
            return [b64_to_hex(x) for x in obj]
        return obj

    from_json = decode_json(json_body(b64_to_hex(as_dict))).batch
    from_proto = decode_protobuf(body).batch
    assert from_json == from_proto


def test_json_int64_as_number_or_string_enums_as_ints_unknown_fields_ignored() -> None:
    doc = copy.deepcopy(SPEC_EXAMPLE)
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["startTimeUnixNano"] = 1544712660000000000  # number instead of string
    span["status"] = {"code": 2, "message": "bad", "futureField": 1}
    span["kind"] = 3
    span["someFutureField"] = {"nested": [1, 2]}
    doc["futureTopLevel"] = True
    span["attributes"] = [
        {"key": "i", "value": {"intValue": "42"}},
        {"key": "i2", "value": {"intValue": 43}},
        {"key": "d", "value": {"doubleValue": 0.25}},
        {"key": "b", "value": {"boolValue": True}},
        {"key": "bytes", "value": {"bytesValue": "aGk="}},
        {
            "key": "arr",
            "value": {"arrayValue": {"values": [{"stringValue": "stop"}, {"intValue": "1"}]}},
        },
        {
            "key": "kv",
            "value": {
                "kvlistValue": {
                    "values": [
                        {"key": "role", "value": {"stringValue": "user"}},
                        {
                            "key": "parts",
                            "value": {"arrayValue": {"values": [{"kvlistValue": {"values": []}}]}},
                        },
                    ]
                }
            },
        },
        {"key": "empty", "value": {}},
        {"key": "nan", "value": {"doubleValue": "NaN"}},
    ]
    batch = decode_json(json_body(doc)).batch
    assert batch.start_ns == [1544712660000000000]
    assert batch.kind == ["CLIENT"]
    assert batch.status_code == ["ERROR"]
    assert batch.status_message == ["bad"]
    assert batch.attributes[0] == {
        "i": 42,
        "i2": 43,
        "d": 0.25,
        "b": True,
        "bytes": "aGk=",
        "arr": ["stop", 1],
        "kv": {"role": "user", "parts": [{}]},
        "empty": None,
        "nan": "nan",
    }
    json.dumps(batch.attributes[0], allow_nan=False)  # JSON-able, no NaN


def test_unknown_enum_values_fall_back_to_unspecified_unset() -> None:
    doc = copy.deepcopy(SPEC_EXAMPLE)
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["kind"] = 17
    span["status"] = {"code": 9}
    batch = decode_json(json_body(doc)).batch
    assert batch.kind == ["UNSPECIFIED"]
    assert batch.status_code == ["UNSET"]


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("traceId", "", "invalid trace_id"),
        ("traceId", "00000000000000000000000000000000", "invalid trace_id"),
        ("traceId", "5B8EFFF7", "invalid trace_id"),
        ("traceId", "not-hex-at-all!!", "invalid trace_id"),
        ("spanId", "", "invalid span_id"),
        ("spanId", "EEE19B7EC3C1B1", "invalid span_id"),
        ("parentSpanId", "zz", "invalid parent_span_id"),
    ],
)
def test_spans_with_bad_ids_are_rejected_others_kept(field: str, value: str, problem: str) -> None:
    doc = copy.deepcopy(SPEC_EXAMPLE)
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    bad = copy.deepcopy(spans[0])
    bad[field] = value
    bad["name"] = "bad"
    spans.append(bad)
    decoded = decode_json(json_body(doc))
    assert decoded.batch.name == ["I'm a server span"]
    assert decoded.rejected == 1
    assert decoded.error_message.startswith(f"1 span(s) rejected: 1 with {problem}")


def test_link_with_bad_ids_rejects_its_span() -> None:
    doc = copy.deepcopy(SPEC_EXAMPLE)
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["links"] = [{"traceId": "AB", "spanId": "EEE19B7EC3C1B174"}]
    decoded = decode_json(json_body(doc))
    assert len(decoded.batch) == 0
    assert decoded.rejected == 1
    assert "link" in decoded.error_message


def test_pending_span_and_missing_end_have_no_end_ns() -> None:
    doc = copy.deepcopy(SPEC_EXAMPLE)
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    pending = copy.deepcopy(spans[0])
    pending["spanId"] = "0000000000000001"
    pending["endTimeUnixNano"] = pending["startTimeUnixNano"]
    pending["attributes"] = [{"key": "hoptrace.pending", "value": {"boolValue": True}}]
    unfinished = copy.deepcopy(spans[0])
    unfinished["spanId"] = "0000000000000002"
    del unfinished["endTimeUnixNano"]
    spans += [pending, unfinished]
    batch = decode_json(json_body(doc)).batch
    assert batch.end_ns == [1544712661000000000, None, None]


def test_resource_and_scope_columns_follow_the_kept_spans_across_scopes() -> None:
    # The decoder fills the resource and scope columns once per scope, for the spans it
    # kept: a refused span in the middle must not shift them.
    request = ExportTraceServiceRequest()
    expected = []
    for r in range(2):
        resource_spans = request.resource_spans.add()
        kv = resource_spans.resource.attributes.add()
        kv.key, kv.value.string_value = "service.name", f"svc{r}"
        for s in range(3):
            scope_spans = resource_spans.scope_spans.add()
            scope_spans.scope.name = f"scope{s}" if s else ""
            for i in range(3):
                span = scope_spans.spans.add(
                    name=f"r{r}s{s}i{i}", kind=Span.SpanKind.SPAN_KIND_CLIENT
                )
                span.trace_id = bytes([r + 1]) * 16
                span.span_id = bytes([r + 1, s + 1, i + 1]) + b"\x00" * 5
                if i == 1 and s != 2:
                    span.span_id = b"\x00" * 8  # refused
                else:
                    expected.append((span.name, f"svc{r}", f"scope{s}" if s else None))
    decoded = decode_protobuf(request.SerializeToString())
    batch = decoded.batch
    assert decoded.rejected == 4
    services = [res["service.name"] for res in batch.resource]
    assert list(zip(batch.name, services, batch.scope_name, strict=True)) == expected
    assert batch.kind == ["CLIENT"] * len(expected)


def test_protobuf_enum_numbers_outside_the_known_range_fall_back() -> None:
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    for n, (kind, code) in enumerate([(-1, -3), (6, 3), (5, 2), (0, 0)]):
        span = spans.add(trace_id=b"\x01" * 16, span_id=bytes([n + 1]) * 8, kind=kind)
        span.status.code = code
    batch = decode_protobuf(request.SerializeToString()).batch
    assert batch.kind == ["UNSPECIFIED", "UNSPECIFIED", "CONSUMER", "UNSPECIFIED"]
    assert batch.status_code == ["UNSET", "UNSET", "ERROR", "UNSET"]


def test_attribute_values_that_are_zero_or_empty_keep_their_type() -> None:
    request = ExportTraceServiceRequest()
    span = (
        request.resource_spans.add()
        .scope_spans.add()
        .spans.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
    )
    for key, field, value in [
        ("s", "string_value", ""),
        ("i", "int_value", 0),
        ("n", "int_value", -7),
        ("d", "double_value", 0.0),
        ("b", "bool_value", False),
    ]:
        kv = span.attributes.add(key=key)
        setattr(kv.value, field, value)
    span.attributes.add(key="unset")
    span.attributes.add(key="s", value={"string_value": "later duplicate wins"})
    attrs = decode_protobuf(request.SerializeToString()).batch.attributes[0]
    assert attrs == {
        "s": "later duplicate wins",
        "i": 0,
        "n": -7,
        "d": 0.0,
        "b": False,
        "unset": None,
    }
    assert [type(attrs[k]) for k in ("i", "d", "b")] == [int, float, bool]
    assert list(attrs) == ["s", "i", "n", "d", "b", "unset"]


def test_empty_requests_are_valid_and_empty() -> None:
    for body in (b"", ExportTraceServiceRequest().SerializeToString()):
        decoded = decode_protobuf(body)
        assert len(decoded.batch) == 0
        assert decoded.rejected == 0
    assert len(decode_json(b"{}").batch) == 0
    assert len(decode_json(b'{"resourceSpans": []}').batch) == 0


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"[]",
        b'"str"',
        b"\xff\xfe",
        b'{"resourceSpans": {"not": "a list"}}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 5}]}]}]}',
        b"[" * 100_000,
    ],
)
def test_malformed_json_raises_decode_error(body: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_json(body)


@pytest.mark.parametrize(
    "body",
    [b"\xff\xff\xff", b"\x0a\x05abc", b"\x0a\xff\xff\xff\xff\x0f", proto_body()[:-7]],
    ids=["garbage", "short-field", "huge-length", "truncated"],
)
def test_malformed_protobuf_raises_decode_error(body: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_protobuf(body)


def test_decompress_gzip_multi_member_and_deflate_zlib_and_raw() -> None:
    data = proto_body()
    assert decompress(gzip.compress(data), "gzip") == data
    assert decompress(gzip.compress(data[:100]) + gzip.compress(data[100:]), "gzip") == data
    assert decompress(zlib.compress(data), "deflate") == data
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    assert decompress(raw.compress(data) + raw.flush(), "deflate") == data


def test_decompress_caps_output_of_a_bomb() -> None:
    bomb = gzip.compress(b"\0" * (8 * 1024 * 1024))
    assert len(bomb) < 20_000
    with pytest.raises(BodyTooLarge):
        decompress(bomb, "gzip", limit=1024 * 1024)
    assert len(decompress(bomb, "gzip", limit=8 * 1024 * 1024)) == 8 * 1024 * 1024


@pytest.mark.parametrize(
    "body", [b"not gzip", gzip.compress(b"abc")[:-4], b""], ids=["not-gzip", "truncated", "empty"]
)
def test_decompress_rejects_corrupt_or_truncated_streams(body: bytes) -> None:
    with pytest.raises(DecodeError):
        decompress(body, "gzip")
