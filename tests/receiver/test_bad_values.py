"""Values the store cannot hold are refused or clamped per span at decode time (issue 18.1)."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

import collector
from collector.otlp._receiver import Receiver

from ._helpers import post, proto_body, sdk_spans


def _request(n: int) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest.FromString(proto_body(sdk_spans(n_traces=n, children=0)))
    return request


def test_a_span_past_2_63_ns_is_refused_and_its_199_neighbours_are_stored(
    store_receiver: tuple[Receiver, Path],
) -> None:
    receiver, db = store_receiver
    request = _request(200)
    spans = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert len(spans) == 200
    spans[37].end_time_unix_nano = 1 << 63  # valid protobuf (fixed64), not a BIGINT
    spans[80].start_time_unix_nano = (1 << 64) - 1
    spans[81].events.add(name="late", time_unix_nano=(1 << 64) - 1)
    status, _, body = post(receiver.endpoint, request.SerializeToString())
    assert status == 200
    partial = ExportTraceServiceResponse.FromString(body).partial_success
    assert partial.rejected_spans == 2
    assert "2^63" in partial.error_message
    assert receiver.wait_idle(30)
    stored = collector.query("SELECT span_id FROM spans", db)["span_id"].to_list()
    assert len(stored) == 198
    assert spans[37].span_id.hex() not in stored
    assert spans[81].span_id.hex() in stored
    assert receiver.queue.dropped_spans == 0


def test_end_before_start_is_clamped_and_flagged(store_receiver: tuple[Receiver, Path]) -> None:
    receiver, db = store_receiver
    request = _request(3)
    span = request.resource_spans[0].scope_spans[0].spans[1]
    span.end_time_unix_nano = span.start_time_unix_nano - 1_000
    status, _, _ = post(receiver.endpoint, request.SerializeToString())
    assert status == 200
    assert receiver.wait_idle(30)
    row = collector.query(
        "SELECT start_ns, end_ns, attributes->>'$.\"hoptrace.ingest.clamped\"' AS flag "
        "FROM spans WHERE span_id = ?",
        db,
        params=[span.span_id.hex()],
    ).row(0)
    assert row[0] == row[1] == span.start_time_unix_nano
    assert "before start" in row[2]
