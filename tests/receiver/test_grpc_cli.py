"""`hoptrace collect` serving OTLP/gRPC beside OTLP/HTTP, as a process (issue 12.3).

Both by default, each can be turned off (not both), the token, a port in use, and a SIGKILL
under gRPC load followed by a restart that loses nothing acknowledged.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
from opentelemetry.sdk.trace.export import SpanExportResult

import collector
from collector.otlp._grpc import EXPORT_METHOD

from ._collect_proc import CollectProcess
from ._helpers import post, proto_body, sdk_spans
from .test_grpc import TOKEN, _exporter, _stored


def test_collect_serves_grpc_and_http_by_default(tmp_path: Path) -> None:
    db = tmp_path / "both.duckdb"
    proc = CollectProcess(db, "--token", TOKEN)
    try:
        assert proc.endpoint
        assert proc.grpc_endpoint
        good = _exporter(proc.grpc_endpoint, headers={"authorization": f"Bearer {TOKEN}"})
        assert good.export(sdk_spans(n_traces=2, children=2)) is SpanExportResult.SUCCESS
        good.shutdown()
        bad = _exporter(proc.grpc_endpoint, headers={"authorization": "Bearer wrong"})
        assert bad.export(sdk_spans(service="intruder")) is SpanExportResult.FAILURE
        bad.shutdown()
        missing = _exporter(proc.grpc_endpoint)
        assert missing.export(sdk_spans(service="intruder")) is SpanExportResult.FAILURE
        missing.shutdown()
        status, _, _ = post(
            proc.endpoint,
            proto_body(sdk_spans(n_traces=1, children=1)),
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert status == 200
    finally:
        code, err = proc.stop(signal.SIGTERM)
    assert code == 0, err
    assert "stopped; 8 spans written" in err
    runs = collector.query("SELECT service_name, span_count FROM runs", db)
    assert runs.height == 3
    assert set(runs["service_name"].to_list()) == {"svc"}


def test_collect_no_http_serves_grpc_only(tmp_path: Path) -> None:
    db = tmp_path / "grpc-only.duckdb"
    proc = CollectProcess(db, "--no-http", "--grpc-port", "0")
    try:
        assert proc.endpoint is None
        assert proc.grpc_endpoint
        exporter = _exporter(proc.grpc_endpoint)
        assert exporter.export(sdk_spans(n_traces=1, children=2)) is SpanExportResult.SUCCESS
        exporter.shutdown()
    finally:
        code, err = proc.stop(signal.SIGTERM)
    assert code == 0, err
    assert "listening on gRPC 127.0.0.1:" in err
    assert len(_stored(db)) == 3


def test_collect_no_grpc_serves_http_only(tmp_path: Path) -> None:
    proc = CollectProcess(tmp_path / "http-only.duckdb", "--no-grpc")
    try:
        assert proc.grpc_endpoint is None
        assert post(proc.endpoint, proto_body())[0] == 200
    finally:
        code, err = proc.stop(signal.SIGTERM)
    assert code == 0, err
    assert "gRPC" not in err


def _collect(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hoptrace", "collect", "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_collect_with_neither_protocol_is_a_clear_error(tmp_path: Path) -> None:
    proc = _collect("--no-http", "--no-grpc", db=tmp_path / "none.duckdb")
    assert proc.returncode == 2
    assert "--no-http and --no-grpc" in proc.stderr
    assert not (tmp_path / "none.duckdb").exists()


def test_grpc_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    first = CollectProcess(tmp_path / "a.duckdb")
    try:
        assert first.grpc_endpoint
        port = first.grpc_endpoint.rsplit(":", 1)[1]
        proc = _collect("--port", "0", "--grpc-port", port, db=tmp_path / "b.duckdb")
        assert proc.returncode == 1
        assert f"cannot bind gRPC to 127.0.0.1:{port}" in proc.stderr
    finally:
        first.stop(signal.SIGTERM)
        first.kill()


@pytest.mark.slow
def test_sigkill_under_grpc_load_then_restart_stores_every_acknowledged_span(
    tmp_path: Path,
) -> None:
    """An OK over gRPC means durable too: the spool replays it after a SIGKILL."""
    from .test_durability import _fresh, _template

    db = tmp_path / "durable.duckdb"
    template = _template()
    proc = CollectProcess(db, "--no-http", "--grpc-port", "0")
    acked: list[str] = []
    stop = threading.Event()

    def load() -> None:
        assert proc.grpc_endpoint
        with grpc.insecure_channel(proc.grpc_endpoint) as channel:
            export = channel.unary_unary(EXPORT_METHOD)
            while not stop.is_set():
                body, ids = _fresh(template)
                try:
                    export(body, timeout=10)
                except grpc.RpcError:
                    if proc.proc.poll() is not None:
                        return  # the collector is gone
                    continue  # UNAVAILABLE (queue full): retried with new spans
                acked.extend(ids)

    senders = [threading.Thread(target=load) for _ in range(2)]
    try:
        for s in senders:
            s.start()
        deadline = time.monotonic() + 30
        while len(acked) < 10_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.proc.send_signal(signal.SIGKILL)
        proc.proc.communicate(timeout=30)
    finally:
        stop.set()
        for s in senders:
            s.join(30)
        proc.kill()
    assert len(acked) >= 2_000, "the load never got going"
    assert list((tmp_path / "durable.duckdb.spool").glob("segment-*.log"))

    again = CollectProcess(db, "--no-http", "--grpc-port", "0")  # replays before it listens
    code, err = again.stop(signal.SIGTERM)
    assert code == 0, err
    missing = set(acked) - set(
        collector.query("SELECT trace_id || span_id AS id FROM spans", db)["id"].to_list()
    )
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged spans lost"
