"""Bearer-token auth and the bind-address policy."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from collector.otlp._cli import TOKEN_ENV, is_loopback, run
from collector.otlp._receiver import Receiver

from ._helpers import post, proto_body, sdk_spans
from .conftest import ListSink

TOKEN = "s3cret-token"


@pytest.fixture
def guarded(sink: ListSink):
    r = Receiver(sink.write, port=0, token=TOKEN).start()
    yield r
    assert r.stop(10)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": TOKEN},
        {"Authorization": "Bearer"},
    ],
)
def test_requests_without_the_right_token_get_401_and_store_nothing(
    guarded: Receiver, sink: ListSink, headers
) -> None:
    status, resp_headers, body = post(guarded.endpoint, proto_body(), headers=headers)
    assert status == 401
    assert resp_headers["www-authenticate"].startswith("Bearer")
    assert status_pb2.Status.FromString(body).code == code_pb2.UNAUTHENTICATED
    assert guarded.wait_idle(5)
    assert sink.spans == 0


def test_401_comes_before_reading_or_judging_the_body(guarded: Receiver) -> None:
    status, _headers, body = post(guarded.endpoint, b"{", "application/json")
    assert status == 401
    assert "bearer token" in json_format.Parse(body, status_pb2.Status()).message


def test_right_token_is_accepted_case_insensitive_scheme(guarded: Receiver, sink: ListSink) -> None:
    assert (
        post(guarded.endpoint, proto_body(), headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200
    )
    assert (
        post(guarded.endpoint, proto_body(), headers={"Authorization": f"bearer {TOKEN}"})[0] == 200
    )
    assert guarded.wait_idle(5)
    assert sink.spans == 16


def test_real_exporter_with_token_header(guarded: Receiver, sink: ListSink) -> None:
    spans = sdk_spans(1, 2)
    denied = OTLPSpanExporter(endpoint=guarded.endpoint)
    allowed = OTLPSpanExporter(
        endpoint=guarded.endpoint, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    try:
        assert denied.export(spans) == SpanExportResult.FAILURE
        assert allowed.export(spans) == SpanExportResult.SUCCESS
    finally:
        denied.shutdown()
        allowed.shutdown()
    assert guarded.wait_idle(5)
    assert sink.spans == len(spans)


def test_default_bind_is_loopback(sink: ListSink) -> None:
    r = Receiver(sink.write, port=0)
    try:
        assert r.address[0] == "127.0.0.1"
    finally:
        r.stop(1)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.1.2.3", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def _args(**kw) -> argparse.Namespace:
    return argparse.Namespace(**{"db": None, "host": "127.0.0.1", "port": 0, "token": None, **kw})


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3"])
def test_non_loopback_bind_without_token_is_refused_with_exit_2(
    host: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert run(_args(host=host, db=str(tmp_path / "t.duckdb"))) == 2
    err = capsys.readouterr().err
    assert "refusing to listen" in err
    assert "--token" in err
    assert TOKEN_ENV in err
    assert not (tmp_path / "t.duckdb").exists()  # refused before touching anything


def test_cli_refusal_through_the_hoptrace_command(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hoptrace",
            "collect",
            "--host",
            "0.0.0.0",
            "--db",
            str(tmp_path / "x.duckdb"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert proc.returncode == 2
    assert "refusing to listen on '0.0.0.0' without a token" in proc.stderr
