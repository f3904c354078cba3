"""OTLP/gRPC into `hoptrace collect`'s receiver: the real OTel gRPC exporter, real stores.

The same write path and bad-input discipline as OTLP/HTTP (issue 12.3): every OK is
spooled and queued on the one write queue; over-size is RESOURCE_EXHAUSTED, garbage
INVALID_ARGUMENT, a full queue UNAVAILABLE with retry info (the exporter waits and
retries), a bad token UNAUTHENTICATED, one unstorable span a partial success.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.sdk.trace.export import SpanExportResult

import collector
from collector import SpanStore
from collector.ingest._batch import SpanBatch
from collector.otlp._grpc import EXPORT_METHOD
from collector.otlp._receiver import Receiver

from ._helpers import post, proto_body, sdk_spans
from .conftest import ListSink
from .test_full_disk import small_disk as _small_disk

TOKEN = "s3cret-token"
small_disk = _small_disk  # a 16 MB tmpfs (the fixture of the HTTP full-disk test)


def _exporter(endpoint: str, **kw) -> OTLPSpanExporter:
    return OTLPSpanExporter(endpoint=f"http://{endpoint}", insecure=True, **kw)


@contextmanager
def _stub(endpoint: str) -> Iterator[TraceServiceStub]:
    channel = grpc.insecure_channel(endpoint)
    try:
        yield TraceServiceStub(channel)
    finally:
        channel.close()


def _raw_export(endpoint: str, body: bytes, metadata=()) -> bytes:
    """One Export with `body` sent as is (no serialiser): garbage reaches the server."""
    with grpc.insecure_channel(endpoint) as channel:
        call = channel.unary_unary(
            EXPORT_METHOD, request_serializer=None, response_deserializer=None
        )
        return call(body, metadata=metadata, timeout=10)


def _code(fn) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        fn()
    return info.value


def _stored(db: Path) -> list[str]:
    return collector.query("SELECT span_id FROM spans", db)["span_id"].to_list()


@pytest.fixture
def grpc_receiver(sink: ListSink) -> Iterator[Receiver]:
    r = Receiver(sink.write, port=None, grpc_port=0).start()
    yield r
    assert r.stop(10)


@pytest.fixture
def grpc_store(tmp_path: Path) -> Iterator[tuple[Receiver, Path]]:
    db = tmp_path / "grpc.duckdb"
    store = SpanStore(db)
    receiver = Receiver(store.write, port=0, grpc_port=0).start()
    yield receiver, db
    assert receiver.stop(30)


# --- the real exporter into a real store --------------------------------------------------


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_real_grpc_exporter_spans_arrive_in_the_views(
    grpc_store: tuple[Receiver, Path], compression: str | None
) -> None:
    receiver, db = grpc_store
    spans = sdk_spans(n_traces=3, children=3)
    exporter = _exporter(
        receiver.grpc_endpoint, compression=grpc.Compression.Gzip if compression else None
    )
    try:
        assert exporter.export(spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert receiver.wait_idle(30)
    assert sorted(_stored(db)) == sorted(format(s.context.span_id, "016x") for s in spans)
    runs = collector.query("SELECT trace_id, status, span_count FROM runs ORDER BY trace_id", db)
    assert runs.height == 3
    assert runs["span_count"].to_list() == [4, 4, 4]
    assert receiver.queue.dropped_spans == 0


def test_http_and_grpc_share_one_write_queue(grpc_store: tuple[Receiver, Path]) -> None:
    receiver, db = grpc_store
    status, _, _ = post(receiver.endpoint, proto_body(sdk_spans(n_traces=1, children=3)))
    assert status == 200
    exporter = _exporter(receiver.grpc_endpoint)
    try:
        assert exporter.export(sdk_spans(n_traces=2, children=1)) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert receiver.wait_idle(30)
    assert receiver.queue.written_spans == 4 + 4
    assert len(_stored(db)) == 8


# --- bad input -----------------------------------------------------------------------------


def test_token_missing_or_wrong_is_unauthenticated_right_one_accepted(sink: ListSink) -> None:
    receiver = Receiver(sink.write, port=None, grpc_port=0, token=TOKEN).start()
    body = proto_body()
    try:
        for metadata in ((), (("authorization", "Bearer nope"),), (("authorization", TOKEN),)):
            err = _code(lambda m=metadata: _raw_export(receiver.grpc_endpoint, body, m))
            assert err.code() is grpc.StatusCode.UNAUTHENTICATED
        refused = _exporter(receiver.grpc_endpoint, headers={"authorization": "Bearer nope"})
        assert refused.export(sdk_spans()) is SpanExportResult.FAILURE
        refused.shutdown()
        assert receiver.wait_idle(5)
        assert sink.spans == 0
        exporter = _exporter(receiver.grpc_endpoint, headers={"authorization": f"Bearer {TOKEN}"})
        assert exporter.export(sdk_spans()) is SpanExportResult.SUCCESS
        exporter.shutdown()
        assert receiver.wait_idle(5)
        assert sink.spans == 8
    finally:
        assert receiver.stop(10)


def test_a_call_without_the_token_is_refused_before_its_message_is_read(
    sink: ListSink,
) -> None:
    """No worker waits for the message of a caller without the token."""
    receiver = Receiver(sink.write, port=None, grpc_port=0, token=TOKEN).start()
    release = threading.Event()

    def never_sends() -> Iterator[bytes]:
        release.wait(30)
        yield b""

    try:
        with grpc.insecure_channel(receiver.grpc_endpoint) as channel:
            call = channel.stream_unary(EXPORT_METHOD)  # a unary call whose message never comes
            err = _code(lambda: call(never_sends(), timeout=10))
        assert err.code() is grpc.StatusCode.UNAUTHENTICATED  # not DEADLINE_EXCEEDED
    finally:
        release.set()
        assert receiver.stop(10)


def test_over_size_message_is_resource_exhausted(sink: ListSink) -> None:
    receiver = Receiver(sink.write, port=None, grpc_port=0, max_body_bytes=64 * 1024).start()
    request = ExportTraceServiceRequest.FromString(proto_body())
    request.resource_spans[0].scope_spans[0].spans[0].name = "a" * 100_000
    try:
        for compression in (None, grpc.Compression.Gzip):  # inflated size counts too
            with _stub(receiver.grpc_endpoint) as stub:
                err = _code(
                    lambda s=stub, c=compression: s.Export(request, timeout=10, compression=c)
                )
                assert err.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert receiver.wait_idle(5)
        assert sink.spans == 0
        _raw_export(receiver.grpc_endpoint, proto_body())  # under the limit: accepted
        assert receiver.wait_idle(5)
        assert sink.spans == 8
    finally:
        assert receiver.stop(10)


@pytest.mark.parametrize("garbage", [b"\xff\xff\xff\xff", b"\x0a\x05abc", b"not a protobuf at all"])
def test_garbage_is_invalid_argument_and_nothing_is_stored(
    grpc_receiver: Receiver, sink: ListSink, garbage: bytes
) -> None:
    err = _code(lambda: _raw_export(grpc_receiver.grpc_endpoint, garbage))
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "ExportTraceServiceRequest" in err.details()
    assert grpc_receiver.wait_idle(5)
    assert sink.spans == 0
    _raw_export(grpc_receiver.grpc_endpoint, proto_body())  # the server is still fine
    assert grpc_receiver.wait_idle(5)
    assert sink.spans == 8


def test_empty_request_is_ok(grpc_receiver: Receiver, sink: ListSink) -> None:
    assert _raw_export(grpc_receiver.grpc_endpoint, b"") == b""
    assert sink.spans == 0


def test_a_span_past_2_63_ns_is_a_partial_success_and_its_neighbours_are_stored(
    grpc_store: tuple[Receiver, Path],
) -> None:
    receiver, db = grpc_store
    request = ExportTraceServiceRequest.FromString(proto_body(sdk_spans(n_traces=50, children=0)))
    spans = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert len(spans) == 50
    spans[7].end_time_unix_nano = 1 << 63  # valid protobuf (fixed64), not a BIGINT
    with _stub(receiver.grpc_endpoint) as stub:
        response = stub.Export(request, timeout=10)
    assert response.partial_success.rejected_spans == 1
    assert "2^63" in response.partial_success.error_message
    assert receiver.rejected_spans == 1
    assert receiver.wait_idle(30)
    stored = _stored(db)
    assert len(stored) == 49
    assert spans[7].span_id.hex() not in stored
    assert spans[8].span_id.hex() in stored


def test_queue_full_is_unavailable_with_retry_info_and_the_exporter_retries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = threading.Event()
    written: list[SpanBatch] = []

    def slow_write(batch: SpanBatch) -> None:
        gate.wait(20)
        written.append(batch)

    receiver = Receiver(slow_write, port=None, grpc_port=0, max_queue_spans=20).start()
    body = proto_body()  # 8 spans
    try:
        _raw_export(receiver.grpc_endpoint, body)
        _wait_until_taken(receiver)  # the writer holds it (blocked in the store)
        _raw_export(receiver.grpc_endpoint, body)
        _raw_export(receiver.grpc_endpoint, body)  # 16 queued
        err = _code(lambda: _raw_export(receiver.grpc_endpoint, body))  # 24 > 20
        assert err.code() is grpc.StatusCode.UNAVAILABLE
        trailing = dict(err.trailing_metadata())
        details = status_pb2.Status.FromString(trailing["grpc-status-details-bin"])
        assert details.code == code_pb2.UNAVAILABLE
        info = error_details_pb2.RetryInfo()
        assert details.details[0].Unpack(info)
        assert info.retry_delay.seconds == 1
        assert error_details_pb2.RetryInfo.FromString(trailing["google.rpc.retryinfo-bin"]) == info

        # the real exporter: refused while the queue is full, then it retries after the
        # announced delay and gets in once the writer moves again
        result: list[SpanExportResult] = []
        spans = sdk_spans()
        exporter = _exporter(receiver.grpc_endpoint, timeout=20)
        with caplog.at_level(logging.WARNING, logger="opentelemetry.exporter.otlp.proto.grpc"):
            sender = threading.Thread(target=lambda: result.append(exporter.export(spans)))
            sender.start()
            while receiver.refused_requests < 2 and sender.is_alive():
                time.sleep(0.01)
            assert receiver.refused_requests == 2  # the exporter's first try was refused
            gate.set()
            sender.join(30)
        exporter.shutdown()
        assert result == [SpanExportResult.SUCCESS]
        assert "Transient error StatusCode.UNAVAILABLE" in caplog.text
        assert receiver.wait_idle(10)
    finally:
        gate.set()
        assert receiver.stop(10)
    assert sum(len(b) for b in written) == 8 * 4


@pytest.mark.slow
def test_spool_that_cannot_write_is_unavailable_with_retry_info(
    small_disk: Path, sink: ListSink
) -> None:
    """A full disk: nothing is answered OK that is not on disk; OK again once space returns."""
    from collector.store import Spool

    spool = Spool(small_disk / "t.duckdb.spool")
    receiver = Receiver(sink.write, port=None, grpc_port=0, spool=spool).start()
    body = proto_body()
    try:
        _raw_export(receiver.grpc_endpoint, body)
        assert receiver.wait_idle(10)
        _fill(small_disk / "filler")
        codes = []
        for _ in range(5):
            err = _code(lambda: _raw_export(receiver.grpc_endpoint, proto_body(sdk_spans())))
            codes.append(err.code())
            trailing = dict(err.trailing_metadata())
            assert error_details_pb2.RetryInfo.FromString(trailing["google.rpc.retryinfo-bin"])
        assert set(codes) == {grpc.StatusCode.UNAVAILABLE}
        assert sink.spans == 8
        (small_disk / "filler").unlink()
        _raw_export(receiver.grpc_endpoint, body)
        assert receiver.wait_idle(10)
        assert sink.spans == 16
    finally:
        assert receiver.stop(10)
        spool.close()


def _fill(path: Path) -> None:
    """Take every free byte of `path`'s file system (unbuffered: nothing left to flush)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 16, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)


def _wait_until_taken(receiver: Receiver) -> None:
    for _ in range(1000):
        if not receiver.queue.spans:
            return
        time.sleep(0.01)
    raise AssertionError("the writer never took the first batch")


def test_stop_answers_or_refuses_every_rpc_and_writes_everything_acknowledged(
    tmp_path: Path,
) -> None:
    db = tmp_path / "stop.duckdb"
    receiver = Receiver(SpanStore(db).write, port=None, grpc_port=0).start()
    request = ExportTraceServiceRequest.FromString(proto_body(sdk_spans(n_traces=5, children=1)))
    acked: list[str] = []
    failed: list[grpc.StatusCode] = []
    started = threading.Event()

    def load() -> None:
        n = 0
        with _stub(receiver.grpc_endpoint) as stub:
            while True:
                for rs in request.resource_spans:  # fresh span ids each time
                    for ss in rs.scope_spans:
                        for span in ss.spans:
                            n += 1
                            span.span_id = n.to_bytes(8, "big")
                try:
                    stub.Export(request, timeout=10)
                except grpc.RpcError as err:
                    failed.append(err.code())
                    return
                acked.extend(format(i, "016x") for i in range(n - 10 + 1, n + 1))
                started.set()

    sender = threading.Thread(target=load)
    sender.start()
    assert started.wait(20)
    assert receiver.stop(30)
    sender.join(20)
    # refused once stopping (a call the server never took is cancelled by gRPC itself):
    # both codes are retried by OTLP exporters; no OK is ever left unwritten
    assert len(failed) == 1
    assert failed[0] in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
    assert set(acked) <= set(_stored(db))
    assert len(acked) >= 10


def test_many_producers_at_once_are_all_served(grpc_receiver: Receiver, sink: ListSink) -> None:
    """48 exporters at once, each with 2,000 spans: queued for the 4 workers, none refused."""
    body = proto_body(sdk_spans(n_traces=400, children=4))
    barrier = threading.Barrier(48)
    codes: list[grpc.StatusCode] = []

    def send() -> None:
        with grpc.insecure_channel(grpc_receiver.grpc_endpoint) as channel:
            export = channel.unary_unary(EXPORT_METHOD)
            channel_ready = grpc.channel_ready_future(channel)
            channel_ready.result(timeout=10)
            barrier.wait(10)
            try:
                export(body, timeout=60)
                codes.append(grpc.StatusCode.OK)
            except grpc.RpcError as err:
                codes.append(err.code())

    threads = [threading.Thread(target=send) for _ in range(48)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert codes == [grpc.StatusCode.OK] * 48
    assert grpc_receiver.wait_idle(30)
    assert sink.spans == 48 * 2000


def test_a_stalled_sender_holds_a_worker_only_until_its_connection_is_recycled(
    sink: ListSink,
) -> None:
    """A client that opens an Export and never sends its message is cut off after the
    connection's max age plus grace (30 s + 30 s in `hoptrace collect`; 1 s + 1 s here)."""
    from collector.otlp._grpc import GrpcServer

    receiver = Receiver(sink.write, port=0).start()  # the gRPC server is built by hand here
    server = GrpcServer(
        receiver, "127.0.0.1", 0, workers=1, max_connection_age=1, connection_grace=1
    )
    server.start()
    release = threading.Event()
    ended: list[grpc.StatusCode] = []

    def never_sends() -> Iterator[bytes]:
        release.wait(30)
        yield b""

    def stalled() -> None:
        with grpc.insecure_channel(server.endpoint) as channel:
            call = channel.stream_unary(EXPORT_METHOD)  # a unary call whose message never comes
            try:
                call(never_sends())
            except grpc.RpcError as err:
                ended.append(err.code())

    try:
        thread = threading.Thread(target=stalled)
        thread.start()
        thread.join(20)
        assert ended == [grpc.StatusCode.UNAVAILABLE]  # the server ended it, no client deadline
        _raw_export(server.endpoint, proto_body())  # the one worker serves again
        assert receiver.wait_idle(5)
        assert sink.spans == 8
    finally:
        release.set()
        server.stop(None).wait(5)
        server.close()
        assert receiver.stop(10)
