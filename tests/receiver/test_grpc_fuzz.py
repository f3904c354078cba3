"""Mutated protobuf bodies over OTLP/gRPC into a real store (issue 12.3, as for HTTP).

Invariant per body: INVALID_ARGUMENT exactly when the decoder raises `DecodeError` (and
nothing of it is stored), otherwise OK, with a partial success naming exactly the spans the
decoder refused; at the end the store holds exactly the spans answered OK, and the server
answers a clean request as at the start.
"""

from __future__ import annotations

import random
from pathlib import Path

import grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

import collector
from collector import SpanStore
from collector.otlp._decode import decode_protobuf
from collector.otlp._grpc import EXPORT_METHOD
from collector.otlp._receiver import Receiver

from ._helpers import proto_body, sdk_spans
from .test_fuzz import SEED_PROTO, check_outcome, mutate, random_mutations


def _export(export, body: bytes) -> tuple[grpc.StatusCode, ExportTraceServiceResponse]:
    try:
        return grpc.StatusCode.OK, ExportTraceServiceResponse.FromString(export(body, timeout=10))
    except grpc.RpcError as err:
        return err.code(), ExportTraceServiceResponse()


def test_fuzz_grpc_mutated_protobuf_never_crashes_or_loses_accepted_spans(tmp_path: Path) -> None:
    db = tmp_path / "fuzz.duckdb"
    receiver = Receiver(SpanStore(db).write, port=None, grpc_port=0).start()
    channel = grpc.insecure_channel(receiver.grpc_endpoint)
    export = channel.unary_unary(EXPORT_METHOD, request_serializer=None, response_deserializer=None)
    expected: set[tuple[str, str]] = set()
    codes: dict[str, int] = {}

    @settings(
        max_examples=800, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(st.randoms(use_true_random=False))
    def one(rng: random.Random) -> None:
        body = mutate(SEED_PROTO, random_mutations(rng, max_ops=1))
        decoded = check_outcome(body, decode_protobuf)
        code, answer = _export(export, body)
        codes[code.name] = codes.get(code.name, 0) + 1
        if code is not grpc.StatusCode.OK:
            assert code is grpc.StatusCode.INVALID_ARGUMENT
            assert decoded is None, "a decodable body was refused"
            return
        assert decoded is not None, "an undecodable body was answered OK"
        assert answer.partial_success.rejected_spans == decoded.rejected
        expected.update(zip(decoded.batch.trace_id, decoded.batch.span_id, strict=True))

    try:
        one()
        clean = sdk_spans(n_traces=1, children=1, service="after-fuzz")
        assert export(proto_body(clean), timeout=10) == b""  # still serving as at the start
        expected.update(
            (format(s.context.trace_id, "032x"), format(s.context.span_id, "016x")) for s in clean
        )
        assert receiver.wait_idle(60)
    finally:
        channel.close()
        assert receiver.stop(60)
    assert receiver.queue.dropped_spans == 0
    stored = set(map(tuple, collector.query("SELECT trace_id, span_id FROM spans", db=db).rows()))
    assert stored == expected
    assert codes.get("INVALID_ARGUMENT", 0) > 100  # the mutations really do break bodies...
    assert codes.get("OK", 0) > 50  # ...and really do leave some decodable
