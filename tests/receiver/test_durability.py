"""A 200 from `hoptrace collect` means durable: SIGKILL, then a restart, loses nothing acknowledged."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

import collector

from ._collect_proc import CollectProcess
from ._helpers import post, proto_body, sdk_spans

pytestmark = pytest.mark.slow


def _template() -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest.FromString(proto_body(sdk_spans(n_traces=100, children=4)))


def _fresh(template: ExportTraceServiceRequest) -> tuple[bytes, list[str]]:
    """The template with new trace ids: a request of 500 spans nobody has sent yet."""
    request = ExportTraceServiceRequest()
    request.CopyFrom(template)
    ids: list[str] = []
    new_ids: dict[bytes, bytes] = {}
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                tid = new_ids.setdefault(span.trace_id, os.urandom(16))
                span.trace_id = tid
                for link in span.links:
                    link.trace_id = new_ids.setdefault(link.trace_id, os.urandom(16))
                ids.append(tid.hex() + span.span_id.hex())
    return request.SerializeToString(), ids


def _load(endpoint: str, stop: threading.Event, acked: list[str], template) -> None:
    while not stop.is_set():
        body, ids = _fresh(template)
        try:
            status, _, _ = post(endpoint, body)
        except OSError:
            return  # the collector is gone
        if status == 200:
            acked.extend(ids)


def _stored(db: Path) -> set[str]:
    with collector.read_connection(db) as conn:
        return {r[0] for r in conn.execute("SELECT trace_id || span_id FROM spans").fetchall()}


def test_sigkill_under_load_then_restart_stores_every_acknowledged_span(tmp_path: Path) -> None:
    db = tmp_path / "durable.duckdb"
    template = _template()
    proc = CollectProcess(db)
    acked: list[str] = []
    stop = threading.Event()
    senders = [
        threading.Thread(target=_load, args=(proc.endpoint, stop, acked, template))
        for _ in range(2)
    ]
    try:
        for s in senders:
            s.start()
        deadline = time.monotonic() + 30
        while len(acked) < 20_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.proc.send_signal(signal.SIGKILL)
        proc.proc.communicate(timeout=30)
    finally:
        stop.set()
        for s in senders:
            s.join(30)
        proc.kill()
    assert len(acked) >= 5_000, "the load never got going"
    assert list((tmp_path / "durable.duckdb.spool").glob("segment-*.log"))

    again = CollectProcess(db)  # replays the spool before it listens
    code, err = again.stop(signal.SIGTERM)
    assert code == 0, err
    missing = set(acked) - _stored(db)
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged spans lost"
    assert not list((tmp_path / "durable.duckdb.spool").glob("segment-*.log"))


def test_no_spool_is_an_explicit_opt_out(tmp_path: Path) -> None:
    db = tmp_path / "fast.duckdb"
    proc = CollectProcess(db, "--no-spool")
    try:
        status, _, _ = post(proc.endpoint, proto_body())
        assert status == 200
    finally:
        code, err = proc.stop(signal.SIGTERM)
    assert code == 0, err
    assert not (tmp_path / "fast.duckdb.spool").exists()
    assert len(_stored(db)) == 8
