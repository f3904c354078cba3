"""`hoptrace collect` as a process: SIGINT/SIGTERM drain, retries, readers alongside."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import pytest

from collector import SpanStore, query

from ._collect_proc import CollectProcess
from ._helpers import connection, proto_body, sdk_spans


def _count(db, table: str = "spans") -> int:
    return int(query(f"SELECT count(*) AS n FROM {table}", db=db)["n"][0])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_drains_everything_received_and_exits_0(tmp_path, sig: int) -> None:
    db = tmp_path / "t.duckdb"
    collect = CollectProcess(db)
    try:
        bodies = [
            proto_body(sdk_spans(n_traces=20, children=4)) for _ in range(15)
        ]  # 15 x 100 spans
        with connection(collect.endpoint) as conn:
            for body in bodies:
                conn.request(
                    "POST",
                    "/v1/traces",
                    body=body,
                    headers={"Content-Type": "application/x-protobuf"},
                )
                resp = conn.getresponse()
                resp.read()
                assert resp.status == 200
            # the signal arrives while spans are still queued and a keep-alive connection is open
            code, err = collect.stop(sig)
    finally:
        collect.kill()
    assert code == 0, err
    assert "stopped; 1500 spans written" in err
    assert _count(db) == 1500
    assert _count(db, "runs") == 15 * 20


def test_retried_requests_create_no_duplicates(tmp_path) -> None:
    db = tmp_path / "t.duckdb"
    collect = CollectProcess(db)
    try:
        body = proto_body(sdk_spans(n_traces=3, children=2))
        with connection(collect.endpoint) as conn:
            for _ in range(3):  # a client retrying after a lost response
                conn.request(
                    "POST",
                    "/v1/traces",
                    body=body,
                    headers={"Content-Type": "application/x-protobuf"},
                )
                resp = conn.getresponse()
                resp.read()
                assert resp.status == 200
        code, err = collect.stop(signal.SIGTERM)
    finally:
        collect.kill()
    assert code == 0, err
    assert _count(db) == 9
    assert int(query("SELECT count(DISTINCT span_id) AS n FROM spans", db=db)["n"][0]) == 9


def test_readers_work_while_the_collector_writes(tmp_path) -> None:
    """The collector is the single writer; `query()` and `hoptrace sql` still read meanwhile."""
    db = tmp_path / "t.duckdb"
    SpanStore(db)  # the file exists before the first read
    collect = CollectProcess(db)
    stop = threading.Event()
    errors: list[BaseException] = []

    def send() -> None:
        try:
            with connection(collect.endpoint) as conn:
                while not stop.is_set():
                    conn.request(
                        "POST",
                        "/v1/traces",
                        body=proto_body(sdk_spans(5, 3)),
                        headers={"Content-Type": "application/x-protobuf"},
                    )
                    resp = conn.getresponse()
                    resp.read()
                    assert resp.status == 200
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        seen: list[int] = []
        deadline = time.monotonic() + 60
        while len(set(seen)) < 4 and time.monotonic() < deadline:  # reads interleaved with writes
            seen.append(_count(db))
        cli = subprocess.run(
            [
                sys.executable,
                "-m",
                "hoptrace",
                "sql",
                "SELECT count(*) AS n FROM runs",
                "--db",
                str(db),
                "--format",
                "csv",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert cli.returncode == 0, cli.stderr
        assert seen == sorted(seen)  # monotone: readers see committed batches only
        assert len(set(seen)) >= 4  # the reader saw several writes land while it was reading
    finally:
        stop.set()
        sender.join(30)
        code, err = collect.stop(signal.SIGTERM)
        collect.kill()
    assert not errors
    assert code == 0, err
    assert _count(db) % 20 == 0  # whole requests only (5 traces x 4 spans)


def test_port_in_use_is_a_clear_error(tmp_path) -> None:
    first = CollectProcess(tmp_path / "a.duckdb")
    try:
        port = first.endpoint.rsplit(":", 1)[1].split("/", 1)[0]
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "hoptrace",
                "collect",
                "--port",
                port,
                "--db",
                str(tmp_path / "b.duckdb"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 1
        assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    finally:
        first.stop(signal.SIGTERM)
        first.kill()


def test_an_unusable_store_is_a_clear_error(tmp_path) -> None:
    not_a_db = tmp_path / "notes.duckdb"
    not_a_db.write_text("this is not a DuckDB file")
    proc = subprocess.run(
        [sys.executable, "-m", "hoptrace", "collect", "--port", "0", "--db", str(not_a_db)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert f"cannot open the trace store {not_a_db}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_second_signal_abandons_a_drain_that_cannot_finish(tmp_path) -> None:
    import duckdb

    db = tmp_path / "t.duckdb"
    collect = CollectProcess(db)
    blocker = duckdb.connect(str(db))  # another writer holds the file: the drain cannot write
    try:
        with connection(collect.endpoint) as conn:
            conn.request(
                "POST",
                "/v1/traces",
                body=proto_body(),
                headers={"Content-Type": "application/x-protobuf"},
            )
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200  # acknowledged once queued
        collect.proc.send_signal(signal.SIGTERM)
        # the second signal must reach a drain that has started, not a process still busy
        while "stopping" not in (line := collect.proc.stderr.readline()):  # type: ignore[union-attr]
            assert line, "".join(collect.lines)
            collect.lines.append(line)
        collect.lines.append(line)
        time.sleep(0.5)  # let the drain reach its blocked write
        code, err = collect.stop(signal.SIGTERM)
    finally:
        blocker.close()
        collect.kill()
    assert code == 1, err
    assert "forced exit; 8 acknowledged spans were not written" in err
