"""`hoptrace collect --store URL`: the receiver writing a ClickHouse store's `otel_traces`.

chdb runs one engine per process, so the collector runs as a subprocess holding the
test's chdb directory; the test process opens the directory after the collector exits.
Spans come from the real OpenTelemetry SDK through its real OTLP/HTTP and OTLP/gRPC
exporters.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from test_collector_views import failed_run, rejected_run

from collector.clickhouse import OTEL_TRACES, ClickHouseStore
from collector.ingest import SpanBatch, coalesce
from collector.otlp._ch_sink import ClickHouseSink, ClickHouseWriteError, is_transient_clickhouse
from collector.sql import run_guarded
from collector.store import WriteQueue, is_transient
from hoptrace._cli import main

_LISTENING = re.compile(r"listening on (?:(http://\S+/v1/traces))?(?: and )?(?:gRPC (\S+))?")
_PART = re.compile(r"^(.+)_(\d+)_(\d+)_(\d+)(?:_\d+)?$")


class Collect:
    """`hoptrace collect --store URL` in a subprocess, on free ports; its stderr is read
    line by line as it comes (`wait_for`)."""

    def __init__(self, url: str, *extra: str) -> None:
        cmd = [sys.executable, "-m", "hoptrace", "collect", "--store", url]
        self.proc = subprocess.Popen(
            [*cmd, "--port", "0", "--grpc-port", "0", *extra],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        match = _LISTENING.search(self.wait_for("listening on", timeout=120))
        assert match is not None
        self.endpoint: str = match.group(1)
        self.grpc_endpoint: str = match.group(2)

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float = 60) -> str:
        """The first stderr line containing `text`; raises when the process exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if text in line:
                    return line
            if not self._reader.is_alive():
                raise RuntimeError(f"hoptrace collect exited: {''.join(self.lines)}")
            time.sleep(0.02)
        raise RuntimeError(f"no {text!r} from hoptrace collect: {''.join(self.lines)}")

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=120)
        self._reader.join(30)
        return self.proc.returncode, "".join(self.lines)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(30)


def _spans(n_runs: int, service: str) -> list[ReadableSpan]:
    """Real SDK spans: per run an orchestrator agent handing off to a writer agent that
    calls a model; the last run's model call fails (and so the run)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests.clickhouse.collect", "1.0")
    agent = {"gen_ai.operation.name": "invoke_agent"}
    chat: dict[str, str | int] = {
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 20,
    }  # fmt: skip
    for run in range(n_runs):
        with (
            contextlib.suppress(RuntimeError),
            tracer.start_as_current_span(
                "invoke_agent orchestrator",
                attributes={**agent, "gen_ai.agent.name": "orchestrator", "run": run},
            ),
            tracer.start_as_current_span(
                "invoke_agent writer", attributes={**agent, "gen_ai.agent.name": "writer"}
            ),
            tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=chat),
        ):
            if run == n_runs - 1:  # fails every span up to the run's root, as it propagates
                raise RuntimeError("rate limited")
    provider.shutdown()
    return list(memory.get_finished_spans())


def _key(span: ReadableSpan) -> tuple[str, str]:
    ctx = span.get_span_context()
    assert ctx is not None
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"


def _rows(url: str) -> Counter[tuple[str, str]]:
    store = ClickHouseStore(url)
    try:
        return Counter(store.conn.rows(f"SELECT TraceId, SpanId FROM {OTEL_TRACES}"))
    finally:
        store.close()


def _committed_rows(ch_dir: Path) -> int:
    """Rows in otel_traces' committed parts, read from the directory while the collector
    holds it (ClickHouse renames a part into place when its insert commits; a merged part
    covers the block range of the parts it replaces, which stay on disk for a while)."""
    table = ch_dir / "data" / "default" / OTEL_TRACES
    parts = []
    for p in table.iterdir() if table.exists() else ():
        m = _PART.match(p.name)
        if m and (p / "count.txt").exists():
            parts.append((m.group(1), int(m.group(2)), int(m.group(3)), p))
    total = 0
    for part, lo, hi, path in parts:
        covered = any(
            q[0] == part and q[1] <= lo and hi <= q[2] and (q[1], q[2]) != (lo, hi) for q in parts
        )
        if not covered:
            total += int((path / "count.txt").read_text())
    return total


def test_http_and_grpc_spans_land_in_otel_traces_then_derive(tmp_path: Path) -> None:
    url = f"chdb://{tmp_path / 'ch'}"
    http_spans, grpc_spans = _spans(3, "svc-http"), _spans(2, "svc-grpc")
    collect = Collect(url)
    try:
        assert f"writing to {url}" in collect.wait_for("listening on")
        assert OTLPSpanExporter(endpoint=collect.endpoint).export(http_spans) == (
            SpanExportResult.SUCCESS
        )
        grpc = GrpcSpanExporter(endpoint=f"http://{collect.grpc_endpoint}", insecure=True)
        assert grpc.export(grpc_spans) == SpanExportResult.SUCCESS
        grpc.shutdown()
        code, err = collect.stop()
    finally:
        collect.kill()
    assert code == 0, err
    assert "15 spans written" in err
    assert (tmp_path / "ch.spool").is_dir()  # beside the chdb directory
    assert not list((tmp_path / "ch.spool").glob("segment-*.log"))  # all released

    rows = _rows(url)
    assert rows == Counter(_key(s) for s in http_spans + grpc_spans)
    store = ClickHouseStore(url)
    services = store.conn.rows(
        f"SELECT ServiceName, SpanKind, StatusCode, count() FROM {OTEL_TRACES} "
        "GROUP BY ALL ORDER BY ALL"
    )
    store.close()
    assert ("svc-grpc", "SPAN_KIND_CLIENT", "STATUS_CODE_ERROR", 1) in services
    assert ("svc-http", "SPAN_KIND_INTERNAL", "STATUS_CODE_ERROR", 2) in services
    assert ("svc-http", "SPAN_KIND_INTERNAL", "STATUS_CODE_UNSET", 4) in services

    assert main(["derive", "--store", url, "--once", "--lag", "0"]) == 0
    runs = run_guarded(
        "SELECT service_name, status, span_count, agent_count, llm_calls, input_tokens, "
        "root_cause_agent FROM runs ORDER BY service_name, status",
        url,
    ).to_pylist()
    assert len(runs) == 5
    assert runs[0] == {"service_name": "svc-grpc", "status": "ERROR", "span_count": 3,
                       "agent_count": 2, "llm_calls": 1, "input_tokens": 100,
                       "root_cause_agent": "writer"}  # fmt: skip
    assert [r["status"] for r in runs] == ["ERROR", "OK", "ERROR", "OK", "OK"]
    handoffs = run_guarded("SELECT from_agent, to_agent FROM handoffs", url).to_pylist()
    assert handoffs == [{"from_agent": "orchestrator", "to_agent": "writer"}] * 5


@pytest.mark.slow
def test_sigkill_after_acknowledgement_then_restart_keeps_each_span_once(
    tmp_path: Path,
) -> None:
    ch_dir = tmp_path / "ch"
    url = f"chdb://{ch_dir}"
    batches = [_spans(4, f"svc-{i}") for i in range(5)]
    collect = Collect(url, "--no-grpc")
    acked: list[tuple[str, str]] = []
    try:
        exporter = OTLPSpanExporter(endpoint=collect.endpoint)
        for spans in batches:
            assert exporter.export(spans) == SpanExportResult.SUCCESS
            acked.extend(_key(s) for s in spans)
        # every acknowledged span committed, and its spool records still on disk (the
        # segment being appended to is kept): the restart replays spans stored already
        deadline = time.monotonic() + 60
        while _committed_rows(ch_dir) < len(acked) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _committed_rows(ch_dir) == len(acked)
        assert list((tmp_path / "ch.spool").glob("segment-*.log"))
        collect.proc.send_signal(signal.SIGKILL)
        collect.proc.wait(timeout=30)
    finally:
        collect.kill()

    again = Collect(url, "--no-grpc")  # replays the spool before it listens
    code, err = again.stop()
    assert code == 0, err
    assert f"{len(acked)} spans found stored already" in err
    rows = _rows(url)
    assert rows == Counter(acked), "every acknowledged span exactly once"
    assert not list((tmp_path / "ch.spool").glob("segment-*.log"))


def _server_rows(server: Any, database: str) -> Counter[tuple[str, str]]:
    text = server.sql(f"SELECT TraceId, SpanId FROM {database}.{OTEL_TRACES} FORMAT TSV")
    return Counter(tuple(line.split("\t")) for line in text.splitlines() if line)  # type: ignore[misc]


@pytest.mark.slow
def test_over_a_server_an_outage_is_waited_out_and_the_spool_replayed(tmp_path: Path) -> None:
    """clickhouse:// through the real clickhouse-connect client to a ClickHouse HTTP
    interface (tests/clickhouse/_http_server.py): spans written while it is up; while it
    is down, spans are still acknowledged (spooled), the writes are retried as transient
    and nothing is dropped; a restart against the server back up replays them, once."""
    bridge = pytest.importorskip("_http_server")
    spool = tmp_path / "spool"
    (tmp_path / "srv").mkdir()
    server = bridge.start(tmp_path / "srv")
    up, down = _spans(2, "svc-up"), _spans(3, "svc-down")
    try:
        server.sql("CREATE DATABASE traces")
        collect = Collect(server.url("traces"), "--no-grpc", "--spool-dir", str(spool))
        try:
            exporter = OTLPSpanExporter(endpoint=collect.endpoint)
            assert exporter.export(up) == SpanExportResult.SUCCESS
            deadline = time.monotonic() + 60
            while _server_rows(server, "traces") != Counter(map(_key, up)):
                assert time.monotonic() < deadline, "the first spans never arrived"
                time.sleep(0.1)
        finally:
            server.stop()  # the server goes away; its port refuses connections
        try:
            assert exporter.export(down) == SpanExportResult.SUCCESS  # durable: spooled
            line = collect.wait_for("retrying until it succeeds")
            assert f"store write of {len(down)} spans failed" in line
            collect.proc.send_signal(signal.SIGTERM)  # drains: waits for the store
            collect.wait_for("stopping, writing queued spans")
            code, err = collect.stop(signal.SIGTERM)  # a second signal abandons the queue
        finally:
            collect.kill()
        assert code == 1
        assert f"forced exit; {len(down)} acknowledged spans were not written" in err
        assert "dropped" not in err
        assert list(spool.glob("segment-*.log"))
    finally:
        server.stop()

    server = bridge.start(tmp_path / "srv")  # the same data, on a new port
    try:
        again = Collect(server.url("traces"), "--no-grpc", "--spool-dir", str(spool))
        code, err = again.stop()
        assert code == 0, err
        assert f"{len(up)} spans found stored already" in err  # replayed, not inserted again
        assert _server_rows(server, "traces") == Counter(map(_key, up + down))
    finally:
        server.stop()
    assert not list(spool.glob("segment-*.log"))


class _CutProxy:
    """A TCP pass-through to a server on 127.0.0.1; `cut_next()` swallows the next answer
    and closes the connection: the server did the work, the client never hears of it (a
    connection reset after the insert committed)."""

    def __init__(self, port: int) -> None:
        self._upstream = port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._cut = threading.Event()
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_next(self) -> None:
        self._cut.set()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self._listener.accept()
                threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self._upstream))

        def pump(src: socket.socket, dst: socket.socket) -> None:
            with contextlib.suppress(OSError):
                while data := src.recv(65536):
                    dst.sendall(data)

        threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
        with contextlib.suppress(OSError):
            while data := upstream.recv(65536):
                if self._cut.is_set():
                    self._cut.clear()
                    self.cuts += 1
                    break
                client.sendall(data)
        for sock in (client, upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._listener.close()


def test_a_connection_lost_after_the_insert_committed_stores_the_spans_once(
    tmp_path: Path,
) -> None:
    """The insert reached the table, its answer did not: the write queue retries (a
    transient failure), and the retry finds the spans stored instead of inserting them
    again."""
    bridge = pytest.importorskip("_http_server")
    (tmp_path / "srv").mkdir()
    server = bridge.start(tmp_path / "srv")
    proxy = _CutProxy(server.port)
    try:
        server.sql("CREATE DATABASE traces")
        sink = ClickHouseSink(f"clickhouse://127.0.0.1:{proxy.port}/traces")
        batch = failed_run()
        queue = _queue(sink)
        proxy.cut_next()
        assert queue.put(batch)
        assert queue.wait_idle(timeout=60)
        queue.close()
        assert proxy.cuts == 1
        assert queue.written_spans == len(batch)
        assert queue.dropped_spans == 0
        assert sink.skipped_spans == len(batch)  # the retry found them stored
        assert _server_rows(server, "traces") == Counter(
            zip(batch.trace_id, batch.span_id, strict=True)
        )
        sink.close()
    finally:
        proxy.close()
        server.stop()


# --- the write's failures, as the write queue sees them ------------------------------


def _queue(sink: ClickHouseSink) -> WriteQueue[SpanBatch]:
    return WriteQueue(sink.write, coalesce=coalesce, size=len, retry_delay=0.01)


def test_a_transient_clickhouse_failure_is_retried_until_it_passes(ch_url: str) -> None:
    sink = ClickHouseSink(ch_url)
    conn = sink.store.conn
    conn.execute(f"ALTER TABLE {OTEL_TRACES} MODIFY SETTING parts_to_throw_insert = 1, "
                 "parts_to_delay_insert = 0")  # fmt: skip
    sink.write(failed_run())  # the one part the table may have
    with pytest.raises(ClickHouseWriteError) as refused:
        sink.write(rejected_run())
    assert "TOO_MANY_PARTS" in str(refused.value)
    assert refused.value.transient
    assert is_transient(refused.value)

    queue = _queue(sink)
    assert queue.put(rejected_run())
    for _ in range(5):  # a data failure would be dropped at the third
        assert not queue.flush(timeout=30), "a write failed meanwhile"
    assert queue.dropped_spans == 0
    assert queue.unwritten_spans == len(rejected_run())
    conn.execute(f"ALTER TABLE {OTEL_TRACES} MODIFY SETTING parts_to_throw_insert = 3000")
    assert queue.wait_idle(timeout=30)
    queue.close()
    assert queue.dropped_spans == 0
    stored = Counter(conn.rows(f"SELECT TraceId, SpanId FROM {OTEL_TRACES}"))
    expected = Counter(zip(failed_run().trace_id + rejected_run().trace_id,
                           failed_run().span_id + rejected_run().span_id, strict=True))  # fmt: skip
    assert stored == expected  # each once, though the failed try was repeated


def test_a_refused_batch_is_a_data_failure_and_the_rest_is_written(ch_url: str) -> None:
    sink = ClickHouseSink(ch_url)
    conn = sink.store.conn
    conn.execute(f"ALTER TABLE {OTEL_TRACES} ADD CONSTRAINT no_bad CHECK SpanName != 'bad'")
    bad = rejected_run()
    bad.name[0] = "bad"
    with pytest.raises(ClickHouseWriteError) as refused:
        sink.write(bad)
    assert "VIOLATED_CONSTRAINT" in str(refused.value)
    assert not is_transient(refused.value)

    queue = _queue(sink)
    good = failed_run()
    assert queue.put(bad)
    assert queue.put(good)
    assert queue.wait_idle(timeout=60)
    queue.close()
    assert queue.dropped_spans == len(bad)
    assert queue.written_spans == len(good)
    stored = conn.rows(f"SELECT DISTINCT TraceId FROM {OTEL_TRACES}")
    assert stored == [(good.trace_id[0],)]


def test_transport_errors_of_the_real_driver_are_transient() -> None:
    import clickhouse_connect
    from clickhouse_connect.driver.exceptions import DatabaseError

    with pytest.raises(DatabaseError) as unreachable:  # nothing listens on port 9 here
        clickhouse_connect.get_client(host="127.0.0.1", port=9, connect_timeout=2)
    assert is_transient_clickhouse(unreachable.value)
    assert is_transient_clickhouse(ConnectionResetError(104, "Connection reset by peer"))
    assert is_transient_clickhouse(DatabaseError("HTTP driver received HTTP status 503"))
    assert not is_transient_clickhouse(
        DatabaseError("Received ClickHouse exception, code: 27", code=27)  # CANNOT_PARSE_INPUT
    )


def test_a_replayed_batch_skips_spans_stored_already(ch_url: str) -> None:
    sink = ClickHouseSink(ch_url)
    batch = failed_run()
    sink.write(batch)
    with sink.replaying():
        sink.write(coalesce([batch, rejected_run()]))
    assert sink.skipped_spans == len(batch)
    rows = Counter(sink.store.conn.rows(f"SELECT TraceId, SpanId FROM {OTEL_TRACES}"))
    assert set(rows.values()) == {1}
    assert len(rows) == len(batch) + len(rejected_run())
    # a pending copy and the finished span are two rows, as the exporter stores them
    pending = rejected_run()
    pending.end_ns[0] = None
    with sink.replaying():
        sink.write(pending)
    assert sink.store.conn.rows(
        f"SELECT count() FROM {OTEL_TRACES} WHERE TraceId = '{pending.trace_id[0]}' "
        f"AND SpanId = '{pending.span_id[0]}'"
    ) == [(2,)]


# --- what the command line refuses -------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "code", "says"),
    [
        (["--store", "chdb://"], 2, "chdb:// needs a directory"),
        (["--store", "traces.duckdb"], 2, "--store takes chdb://PATH"),
        (["--store", "chdb://x", "--db", "y.duckdb"], 2, "not both"),
        (
            ["--store", "clickhouse://ann:s3cret@127.0.0.1:9/db"],  # nothing listens on 9
            1,
            "cannot open the trace store clickhouse://127.0.0.1:9/db",
        ),
        # a URL in --db names the same store
        (["--db", "clickhouses://127.0.0.1:9/db"], 1, "store clickhouses://127.0.0.1:9/db"),
    ],
)
def test_bad_store_arguments_are_clear_errors(
    argv: list[str], code: int, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["collect", "--port", "0", "--no-grpc", *argv]) == code
    err = capsys.readouterr().err
    assert says in err
    assert len(err.strip().splitlines()) == 1, err
    assert "s3cret" not in err


def test_an_unusable_chdb_directory_or_spool_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    for extra, says in (
        ([f"chdb://{blocker}/ch"], "cannot open the trace store chdb://"),
        ([f"chdb://{tmp_path / 'ch'}", "--spool-dir", str(blocker / "spool")],
         "cannot use the spool directory"),
    ):  # fmt: skip
        proc = subprocess.run(
            [sys.executable, "-m", "hoptrace", "collect", "--port", "0", "--no-grpc",
             "--store", *extra],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert proc.returncode == 1, proc.stderr
        assert says in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_a_spool_held_by_another_collector_is_refused(tmp_path: Path) -> None:
    first = Collect(f"chdb://{tmp_path / 'a'}", "--no-grpc", "--spool-dir", str(tmp_path / "sp"))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "hoptrace", "collect", "--port", "0", "--no-grpc",
             "--store", f"chdb://{tmp_path / 'b'}", "--spool-dir", str(tmp_path / "sp")],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        code, err = first.stop()
    assert code == 0, err
    assert proc.returncode == 1
    assert "held by another hoptrace collect" in proc.stderr


def test_a_missing_extra_is_one_line_and_exit_2(tmp_path: Path) -> None:
    script = (
        "import sys; sys.modules['chdb'] = None; "  # what an uninstalled package looks like
        "from hoptrace._cli import main; "
        f"sys.exit(main(['collect', '--store', 'chdb://{tmp_path / 'ch'}']))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "hoptrace collect: chdb:// needs the ClickHouse extra (chdb is not installed): "
        "pip install 'hoptrace[clickhouse]'"
    )
    assert not (tmp_path / "ch").exists()


def test_default_spool_dir_of_a_server_url_is_keyed_by_host_port_and_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from collector.otlp._ch_sink import default_spool_dir

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    spool = default_spool_dir("clickhouse://u:secret@ch.example:8123/traces")
    assert spool == tmp_path / "state" / "hoptrace" / "spool" / "ch.example-8123-traces"
    assert default_spool_dir("clickhouses://ch.example/traces").name == "ch.example-8443-traces"
    assert default_spool_dir(f"chdb://{tmp_path / 'x'}") == tmp_path / "x.spool"
    assert os.fspath(spool).count("secret") == 0
