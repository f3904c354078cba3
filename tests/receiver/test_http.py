"""The HTTP semantics of OTLP/HTTP, driven over loopback with real clients."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
import zlib

import pytest
from google.rpc import code_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.trace.export import SpanExportResult

from collector.ingest._batch import SpanBatch
from collector.otlp._receiver import Receiver

from ._helpers import SPEC_EXAMPLE, connection, json_body, post, proto_body, sdk_spans, span_ids
from .conftest import ListSink


@pytest.mark.parametrize(
    "compression", [Compression.Gzip, Compression.Deflate, Compression.NoCompression]
)
def test_real_otlp_exporter_delivers_every_span(
    receiver: Receiver, sink: ListSink, compression
) -> None:
    spans = sdk_spans(n_traces=3, children=4)
    exporter = OTLPSpanExporter(endpoint=receiver.endpoint, compression=compression)
    try:
        assert exporter.export(spans) == SpanExportResult.SUCCESS
        assert exporter.export(spans[:2]) == SpanExportResult.SUCCESS  # a retry: same ids again
    finally:
        exporter.shutdown()
    assert receiver.wait_idle(10)
    ids = span_ids(sink.batches)
    assert sorted(ids) == sorted([f"{s.context.span_id:016x}" for s in spans + spans[:2]])


def test_protobuf_full_success_is_an_empty_protobuf_body(receiver: Receiver) -> None:
    status, headers, body = post(receiver.endpoint, proto_body())
    assert (status, headers["content-type"], body) == (200, "application/x-protobuf", b"")


def test_json_full_success_is_an_empty_json_object(receiver: Receiver, sink: ListSink) -> None:
    status, headers, body = post(
        receiver.endpoint, json_body(SPEC_EXAMPLE), "application/json; charset=utf-8"
    )
    assert (status, headers["content-type"], body) == (200, "application/json", b"{}")
    assert receiver.wait_idle(5)
    assert span_ids(sink.batches) == ["eee19b7ec3c1b174"]
    assert sink.batches[0].trace_id == ["5b8efff798038103d269b633813fc60c"]


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_json(receiver: Receiver, sink: ListSink, encoding: str) -> None:
    raw = json_body(SPEC_EXAMPLE)
    body = gzip.compress(raw) if encoding == "gzip" else zlib.compress(raw)
    status, _, _ = post(receiver.endpoint, body, "application/json", {"Content-Encoding": encoding})
    assert status == 200
    assert receiver.wait_idle(5)
    assert sink.spans == 1


def _with_bad_span(doc: dict) -> dict:
    doc = json.loads(json.dumps(doc))
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans.append({**spans[0], "traceId": "", "name": "bad"})
    spans.append({**spans[0], "spanId": "ABC", "name": "bad2"})
    return doc


def test_partial_success_in_json(receiver: Receiver, sink: ListSink) -> None:
    status, headers, body = post(
        receiver.endpoint, json_body(_with_bad_span(SPEC_EXAMPLE)), "application/json"
    )
    assert status == 200
    assert headers["content-type"] == "application/json"
    partial = json.loads(body)["partialSuccess"]
    assert partial["rejectedSpans"] == "2"  # int64 is a JSON string
    assert "invalid trace_id" in partial["errorMessage"]
    assert "invalid span_id" in partial["errorMessage"]
    assert receiver.wait_idle(5)
    assert [n for b in sink.batches for n in b.name] == [
        "I'm a server span"
    ]  # the valid span is stored


def test_partial_success_in_protobuf(receiver: Receiver, sink: ListSink) -> None:
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest.FromString(proto_body())
    good = len(request.resource_spans[0].scope_spans[0].spans)
    bad = request.resource_spans[0].scope_spans[0].spans.add()
    bad.CopyFrom(request.resource_spans[0].scope_spans[0].spans[0])
    bad.trace_id = b""
    status, _, body = post(receiver.endpoint, request.SerializeToString())
    assert status == 200
    response = ExportTraceServiceResponse.FromString(body)
    assert response.partial_success.rejected_spans == 1
    assert (
        response.partial_success.error_message
        == "1 span(s) rejected: 1 with invalid trace_id (must be 16 bytes, not all zero)"
    )
    assert receiver.wait_idle(5)
    assert sink.spans == good
    del json_format


@pytest.mark.parametrize("content_type", ["application/x-protobuf", "application/json"])
def test_empty_request_is_success(receiver: Receiver, sink: ListSink, content_type: str) -> None:
    status, _, body = post(
        receiver.endpoint, b"" if "proto" in content_type else b"{}", content_type
    )
    assert status == 200
    assert body == (b"" if "proto" in content_type else b"{}")
    assert sink.spans == 0


def _status(headers: dict[str, str], body: bytes) -> status_pb2.Status:
    if headers["content-type"] == "application/json":
        from google.protobuf import json_format

        return json_format.Parse(body, status_pb2.Status())
    return status_pb2.Status.FromString(body)


@pytest.mark.parametrize(
    ("content_type", "body", "headers", "fragment"),
    [
        ("application/x-protobuf", b"\xff\xff\xff\xff", {}, "invalid protobuf"),
        ("application/x-protobuf", proto_body()[:-5], {}, "invalid protobuf"),
        ("application/json", b'{"resourceSpans": [', {}, "invalid JSON"),
        ("application/json", b"[1, 2]", {}, "must be a JSON object"),
        (
            "application/json",
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "x"}]}]}]}',
            {},
            "invalid OTLP/JSON",
        ),
        (
            "application/x-protobuf",
            b"definitely not gzip",
            {"Content-Encoding": "gzip"},
            "invalid gzip",
        ),
        (
            "application/x-protobuf",
            gzip.compress(proto_body())[:-10],
            {"Content-Encoding": "gzip"},
            "gzip",
        ),
        (
            "application/json",
            zlib.compress(b"{}")[:-3] + b"xyz",
            {"Content-Encoding": "deflate"},
            "deflate",
        ),
    ],
    ids=[
        "pb-garbage",
        "pb-truncated",
        "json-truncated",
        "json-array",
        "json-bad-int64",
        "not-gzip",
        "gzip-truncated",
        "deflate-corrupt",
    ],
)
def test_malformed_body_is_400_with_status_and_nothing_stored(
    receiver: Receiver, sink: ListSink, content_type: str, body: bytes, headers: dict, fragment: str
) -> None:
    status, resp_headers, resp_body = post(receiver.endpoint, body, content_type, headers)
    assert status == 400
    assert resp_headers["content-type"] == content_type
    st = _status(resp_headers, resp_body)
    assert st.code == code_pb2.INVALID_ARGUMENT
    assert fragment in st.message
    assert receiver.wait_idle(5)
    assert sink.spans == 0
    # and the server is still fine
    assert post(receiver.endpoint, proto_body())[0] == 200


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "", "application/grpc"])
def test_unsupported_content_type_is_415(
    receiver: Receiver, sink: ListSink, content_type: str
) -> None:
    status, headers, body = post(receiver.endpoint, proto_body(), content_type)
    assert status == 415
    assert "unsupported content type" in _status(headers, body).message
    assert sink.spans == 0


def test_unsupported_content_encoding_is_415(receiver: Receiver, sink: ListSink) -> None:
    status, headers, body = post(
        receiver.endpoint, proto_body(), headers={"Content-Encoding": "br"}
    )
    assert status == 415
    assert "content encoding" in _status(headers, body).message


def test_over_limit_content_length_is_413_without_reading_the_body(receiver: Receiver) -> None:
    host, port = receiver.address
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            b"Content-Length: %d\r\n\r\n" % (64 * 1024 * 1024 + 1)
        )  # not a single body byte is sent: the answer must come anyway
        response = sock.makefile("rb").read()
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert b"Connection: close" in head
    assert "exceeds" in status_pb2.Status.FromString(body).message


def test_gzip_bomb_is_413_and_nothing_stored(sink: ListSink) -> None:
    receiver = Receiver(sink.write, port=0, max_body_bytes=4 * 1024 * 1024).start()
    try:
        bomb = gzip.compress(b"\x0a" * (16 * 1024 * 1024), compresslevel=9)
        assert len(bomb) < 100_000
        status, headers, body = post(receiver.endpoint, bomb, headers={"Content-Encoding": "gzip"})
        assert status == 413
        assert "after decompression" in _status(headers, body).message
        assert post(receiver.endpoint, proto_body())[0] == 200
    finally:
        assert receiver.stop(10)
    assert sink.spans == 8


def test_default_limit_is_64_mib_after_decompression(receiver: Receiver, sink: ListSink) -> None:
    bomb = gzip.compress(b"\x0a" * (64 * 1024 * 1024 + 1), compresslevel=1)
    status, _, _ = post(receiver.endpoint, bomb, headers={"Content-Encoding": "gzip"})
    assert status == 413
    assert sink.spans == 0


def test_missing_content_length_is_411(receiver: Receiver) -> None:
    host, port = receiver.address
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n"
        )
        response = sock.makefile("rb").read()
    assert response.startswith(b"HTTP/1.1 411")


def test_chunked_body_is_accepted(receiver: Receiver, sink: ListSink) -> None:
    body = proto_body()
    with connection(receiver.endpoint) as conn:
        conn.request(
            "POST",
            "/v1/traces",
            body=iter([body[:100], body[100:]]),
            headers={"Content-Type": "application/x-protobuf", "Transfer-Encoding": "chunked"},
            encode_chunked=True,
        )
        assert conn.getresponse().status == 200
    assert receiver.wait_idle(5)
    assert sink.spans == 8


@pytest.mark.parametrize("path", ["/", "/v1/metrics", "/v1/logs", "/v1/traces/x", "/../v1/traces"])
def test_wrong_path_is_404(receiver: Receiver, path: str) -> None:
    status, headers, body = post(receiver.endpoint, proto_body(), path=path)
    assert status == 404
    assert _status(headers, body).code == code_pb2.NOT_FOUND


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW"])
def test_wrong_method_is_405(receiver: Receiver, method: str) -> None:
    status, headers, _ = post(receiver.endpoint, b"", method=method)
    assert status == 405
    assert headers["allow"] == "POST"


def _wait_until_taken(receiver: Receiver) -> None:
    deadline = time.monotonic() + 10
    while receiver.queue.spans and time.monotonic() < deadline:
        time.sleep(0.01)
    assert receiver.queue.spans == 0


def test_queue_full_is_503_with_retry_after_and_recovers() -> None:
    gate = threading.Event()
    written: list[SpanBatch] = []

    def slow_write(batch: SpanBatch) -> None:
        gate.wait(10)
        written.append(batch)

    receiver = Receiver(slow_write, port=0, max_queue_spans=20).start()
    try:
        body = proto_body()  # 8 spans
        codes = [post(receiver.endpoint, body)[0]]
        _wait_until_taken(receiver)  # the writer holds it (blocked in the store)
        codes += [post(receiver.endpoint, body)[0] for _ in range(3)]  # 8, 16 queued, 24 > 20
        assert codes == [200, 200, 200, 503]
        status, headers, resp = post(receiver.endpoint, body)
        assert status == 503
        assert headers["retry-after"] == "1"
        assert status_pb2.Status.FromString(resp).code == code_pb2.UNAVAILABLE
        assert receiver.refused_requests == 2
        gate.set()
        assert receiver.wait_idle(10)
        assert post(receiver.endpoint, body)[0] == 200
    finally:
        gate.set()
        assert receiver.stop(10)
    assert sum(len(b) for b in written) == 8 * 4


def test_keep_alive_connection_serves_many_requests(receiver: Receiver, sink: ListSink) -> None:
    body = proto_body()
    with connection(receiver.endpoint) as conn:
        for _ in range(5):
            conn.request(
                "POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"}
            )
            resp = conn.getresponse()
            assert resp.status == 200
            resp.read()
        conn.request(
            "POST", "/v1/traces", body=b"\xff", headers={"Content-Type": "application/x-protobuf"}
        )
        resp = conn.getresponse()
        assert resp.status == 400
        resp.read()
        conn.request(
            "POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"}
        )
        assert conn.getresponse().status == 200
    assert receiver.wait_idle(5)
    assert sink.spans == 6 * 8


def test_garbage_request_lines_do_not_kill_the_server(receiver: Receiver) -> None:
    host, port = receiver.address
    for junk in (
        b"\x00\xff\r\n\r\n",
        b"GET\r\n\r\n",
        b"POST /v1/traces HTTP/9.9\r\n\r\n",
        b"A" * 70000 + b"\r\n",
        b"",
    ):
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.sendall(junk)
            sock.shutdown(socket.SHUT_WR)
            sock.makefile("rb").read()
    assert post(receiver.endpoint, proto_body())[0] == 200


def test_a_failing_store_write_is_retried_per_request() -> None:
    calls: list[int] = []

    def flaky(batch: SpanBatch) -> None:
        calls.append(len(batch))
        if len(calls) == 1:
            raise RuntimeError("transient")

    receiver = Receiver(flaky, port=0).start()
    try:
        assert post(receiver.endpoint, proto_body())[0] == 200
        assert receiver.wait_idle(10)
    finally:
        assert receiver.stop(10)
    assert calls == [8, 8]
    assert receiver.queue.written_spans == 8
    assert receiver.queue.dropped_spans == 0


def test_connections_beyond_the_limit_get_503_not_a_thread(sink: ListSink) -> None:
    receiver = Receiver(sink.write, port=0, max_connections=2).start()
    host, port = receiver.address
    # connections still uploading a body are busy: never evicted to make room
    # (idle ones are: tests/receiver/test_slow_clients.py)
    idle = [socket.create_connection((host, port), timeout=5) for _ in range(2)]
    for s in idle:
        s.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            b"Content-Length: 1000\r\n\r\nabc"
        )
    for _ in range(200):  # until both heads have been read
        with receiver._lock:
            if len(receiver._evictable) == 0 and len(receiver._connections) == 2:
                break
        time.sleep(0.01)
    try:
        with socket.create_connection((host, port), timeout=5) as third:
            reply = third.makefile("rb").read()
        assert reply.startswith(b"HTTP/1.1 503")
        assert b"Retry-After: 1" in reply
        idle.pop().close()
        for _ in range(50):  # the freed slot becomes available once its thread has ended
            try:
                if post(receiver.endpoint, proto_body())[0] == 200:
                    break
            except ConnectionError:
                pass
        else:
            pytest.fail("the freed connection slot was never reused")
    finally:
        for s in idle:
            s.close()
        assert receiver.stop(10)
    assert sink.spans == 8


def test_bodies_in_flight_are_bounded(sink: ListSink) -> None:
    receiver = Receiver(sink.write, port=0, max_concurrent_bodies=1).start()
    receiver.body_slot_timeout = 0.2
    host, port = receiver.address
    slow = socket.create_connection((host, port), timeout=5)
    try:
        # holds the only body slot: headers sent, body still "uploading"
        slow.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            b"Content-Length: 1000\r\n\r\nabc"
        )
        accepted = 0
        for _ in range(50):  # until the slow request's thread holds the slot
            status, headers, _ = post(receiver.endpoint, proto_body())
            if status == 503:
                break
            accepted += 1
        assert status == 503
        assert headers["retry-after"] == "1"
    finally:
        slow.close()
    assert post(receiver.endpoint, proto_body())[0] == 200
    assert receiver.stop(10)
    assert sink.spans == 8 * (accepted + 1)


def test_a_batch_the_store_never_accepts_is_dropped_and_counted_not_retried_forever() -> None:
    calls: list[int] = []

    def broken(batch: SpanBatch) -> None:
        calls.append(len(batch))
        raise RuntimeError("disk full")

    receiver = Receiver(broken, port=0)
    receiver.queue._retry_delay = 0.01
    receiver.start()
    try:
        assert post(receiver.endpoint, proto_body())[0] == 200  # acknowledged once queued
        assert receiver.wait_idle(10)
    finally:
        assert receiver.stop(10)
    assert calls == [8, 8, 8]  # the coalesced write, then per request: 3 attempts in all
    assert receiver.queue.dropped_spans == 8
    assert receiver.queue.written_spans == 0


def test_requests_queued_behind_a_write_are_coalesced_into_one_write() -> None:
    gate = threading.Event()
    sizes: list[int] = []

    def write(batch: SpanBatch) -> None:
        gate.wait(10)
        sizes.append(len(batch))

    receiver = Receiver(write, port=0).start()
    try:
        assert post(receiver.endpoint, proto_body())[0] == 200
        _wait_until_taken(receiver)
        for _ in range(4):
            assert post(receiver.endpoint, proto_body())[0] == 200
        gate.set()
        assert receiver.wait_idle(10)
    finally:
        gate.set()
        assert receiver.stop(10)
    assert sizes == [8, 32]  # the request being written, then the 4 that queued meanwhile
    assert receiver.queue.writes == 2


def test_expect_100_continue_is_answered_only_for_acceptable_requests(
    receiver: Receiver, sink: ListSink
) -> None:
    host, port = receiver.address
    body = proto_body()
    head = (
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
        b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n"
    )
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(head % len(body))
        reader = sock.makefile("rb")
        assert reader.readline() == b"HTTP/1.1 100 Continue\r\n"
        assert reader.readline() == b"\r\n"
        sock.sendall(body)
        assert reader.readline().startswith(b"HTTP/1.1 200")
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(head % (65 * 1024 * 1024))
        assert sock.makefile("rb").readline().startswith(b"HTTP/1.1 413")  # no 100 first
    assert receiver.wait_idle(5)
    assert sink.spans == 8
