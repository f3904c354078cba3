"""Slow and abandoned clients: per-request deadlines and eviction keep the receiver serving."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from collector.otlp._receiver import Receiver
from tests.receiver._helpers import connection, post, proto_body
from tests.receiver.conftest import ListSink

HEAD = (
    b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
    b"Content-Length: 1000\r\n\r\n"
)


@pytest.fixture
def slow_receiver(sink: ListSink) -> Iterator[Receiver]:
    r = Receiver(
        sink.write,
        port=0,
        max_connections=16,
        header_timeout=1.5,
        body_timeout=1.0,
        idle_timeout=1.0,
    ).start()
    yield r
    assert r.stop(10)


def _wait_closed(sock: socket.socket, limit: float) -> bytes:
    """Everything the server sends until it closes `sock` (bounded by `limit` seconds)."""
    sock.settimeout(limit)
    data = b""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def test_tricklers_beyond_the_limit_do_not_starve_a_normal_client(
    slow_receiver: Receiver, sink: ListSink
) -> None:
    host, port = slow_receiver.address
    stop = threading.Event()
    reconnects = [0]

    def trickle() -> None:
        # 40 connections (the limit is 16), each sending one byte of a request head per tick;
        # one the server closed is reopened, as an attacker would
        socks: list[tuple[socket.socket | None, int]] = [(None, 0)] * 40
        while not stop.is_set():
            for i, (sock, sent) in enumerate(socks):
                try:
                    if sock is None:
                        sock = socket.create_connection((host, port), timeout=1)
                        sent = 0
                    sock.sendall(HEAD[sent : sent + 1])
                    socks[i] = (sock, (sent + 1) % len(HEAD))
                except OSError:
                    if sock is not None:
                        sock.close()
                    reconnects[0] += 1
                    socks[i] = (None, 0)
            stop.wait(0.25)
        for sock, _ in socks:
            if sock is not None:
                sock.close()

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    waits: list[float] = []
    try:
        time.sleep(0.5)  # every slot is taken by tricklers by now
        body = proto_body()
        for _ in range(12):  # ~4 s: well past the header deadline, evictions happen all along
            t0 = time.monotonic()
            status, _, _ = post(slow_receiver.endpoint, body)
            waits.append(time.monotonic() - t0)
            assert status == 200
            time.sleep(0.3)
    finally:
        stop.set()
        thread.join(10)
    assert max(waits) < 1.0, waits
    assert slow_receiver.evicted_connections > 0
    assert slow_receiver.wait_idle(5)
    assert sink.spans == 8 * 12


def test_oldest_idle_connection_is_evicted_to_serve_a_new_one(sink: ListSink) -> None:
    receiver = Receiver(sink.write, port=0, max_connections=2, idle_timeout=60).start()
    host, port = receiver.address
    try:
        first = socket.create_connection((host, port), timeout=5)
        time.sleep(0.05)
        second = socket.create_connection((host, port), timeout=5)
        time.sleep(0.05)
        assert post(receiver.endpoint, proto_body())[0] == 200
        assert _wait_closed(first, 5) == b""  # the oldest idle one went
        second.settimeout(0.2)
        with pytest.raises(TimeoutError):
            second.recv(1)  # the other is still open
        first.close()
        second.close()
    finally:
        assert receiver.stop(10)
    assert receiver.evicted_connections == 1


@pytest.mark.parametrize("then_close", [False, True])
def test_a_short_body_gets_408_or_a_close_never_500(
    slow_receiver: Receiver, then_close: bool
) -> None:
    host, port = slow_receiver.address
    with socket.create_connection((host, port), timeout=5) as sock:
        t0 = time.monotonic()
        sock.sendall(HEAD + b"x" * 10)  # 10 of the 1000 bytes declared, then a stall
        if then_close:
            sock.shutdown(socket.SHUT_WR)
        reply = _wait_closed(sock, 5)
        elapsed = time.monotonic() - t0
    assert reply == b"" or reply.startswith(b"HTTP/1.1 408"), reply[:80]
    assert elapsed < 1.0 + 2.0  # the body deadline (1 s + 1000 bytes at 1 MiB/s), with slack
    assert post(slow_receiver.endpoint, proto_body())[0] == 200


def test_a_header_timeout_is_one_log_line_without_a_traceback(
    slow_receiver: Receiver, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG, logger="hoptrace.collect")
    host, port = slow_receiver.address
    with socket.create_connection((host, port), timeout=5) as sock:
        t0 = time.monotonic()
        sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n")  # and never the rest
        assert _wait_closed(sock, 5) == b""
        assert time.monotonic() - t0 < 1.5 + 1.0
    for _ in range(100):  # the handler thread logs just before it closes
        if any("request head" in r.getMessage() for r in caplog.records):
            break
        time.sleep(0.01)
    lines = [r for r in caplog.records if r.name == "hoptrace.collect" and r.levelno >= 20]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert "request head not complete within 1.5 s" in lines[0].getMessage()
    assert all(r.exc_info is None for r in caplog.records)
    assert "Traceback" not in capsys.readouterr().err


def test_stop_still_wakes_idle_keep_alive_connections(sink: ListSink) -> None:
    receiver = Receiver(sink.write, port=0, idle_timeout=60).start()
    with connection(receiver.endpoint) as conn:
        conn.request(
            "POST",
            "/v1/traces",
            body=proto_body(),
            headers={"Content-Type": "application/x-protobuf"},
        )
        resp = conn.getresponse()
        assert resp.status == 200
        resp.read()
        t0 = time.monotonic()
        assert receiver.stop(10)
        assert time.monotonic() - t0 < 2.0
    assert sink.spans == 8
