"""A `hoptrace derive` loop outlives its server: while the server is down each pass fails,
is reported and retried with back-off; once a server answers again at the same address
the loop derives what arrived meanwhile. A real `hoptrace derive` process, clickhouse://
through clickhouse-connect to the tests' ClickHouse HTTP interface, behind a TCP
forwarder that keeps the address while the server behind it is restarted."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_collector_views import failed_run, rejected_run

from collector.clickhouse import ClickHouseStore


class _Forwarder:
    """127.0.0.1:port -> 127.0.0.1:`target` (changeable), one thread pair per connection."""

    def __init__(self, target: int) -> None:
        self.target = target
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()  # nothing behind: the client sees the connection drop
                continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._sock.close()


class _Lines:
    """A child's stdout and stderr lines, as they come."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        for stream in (proc.stdout, proc.stderr):
            threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"no {text!r} in {seen}")


def test_a_derive_loop_waits_out_a_server_restart(tmp_path: Path) -> None:
    bridge = pytest.importorskip("_http_server")
    (tmp_path / "srv").mkdir()
    server = bridge.start(tmp_path / "srv")
    server.sql("CREATE DATABASE traces")
    ClickHouseStore(server.url("traces")).write(failed_run())
    forwarder = _Forwarder(server.port)
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    url = f"clickhouse://127.0.0.1:{forwarder.port}/traces"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hoptrace", "derive", "--store", url,
         "--interval", "0.2", "--lag", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    out = _Lines(proc)
    try:
        out.wait_for("1 trace(s)")
        server.stop()
        line = out.wait_for("pass failed, retrying")
        assert "retrying in" in line
        assert proc.poll() is None  # still running
        server = bridge.start(tmp_path / "srv")  # the same data, behind the same address
        forwarder.target = server.port
        ClickHouseStore(server.url("traces")).write(rejected_run())
        out.wait_for("the store answers again")
        out.wait_for("1 trace(s)")
        rows = server.sql("SELECT name FROM traces.runs ORDER BY name FORMAT TSV")
        assert rows.split() == ["article", "pipeline"]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            assert proc.wait(timeout=30) == 0
        finally:
            proc.kill()
            forwarder.close()
            server.stop()
