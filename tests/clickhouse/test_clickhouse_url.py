"""Store URLs: which engine, where, with which credentials; attribute strings round-trip."""

from __future__ import annotations

import pytest

from collector import SpanBatch
from collector.clickhouse import as_string, batch_to_otel, is_clickhouse_url, parse_url, typed


def test_chdb_path_is_absolute() -> None:
    t = parse_url("chdb://rel/dir")
    assert t.embedded
    assert t.path.endswith("/rel/dir")
    assert t.path.startswith("/")


def test_server_url_with_credentials_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLICKHOUSE_USER", raising=False)
    monkeypatch.delenv("CLICKHOUSE_PASSWORD", raising=False)
    t = parse_url("clickhouse://ann:s%40cret@ch.internal/traces")
    assert (t.host, t.port, t.database, t.user, t.password, t.secure) == (
        "ch.internal", 8123, "traces", "ann", "s@cret", False,
    )  # fmt: skip
    assert "s@cret" not in t.describe()
    assert parse_url("clickhouse://h").database == "default"


def test_tls_by_scheme_or_parameter() -> None:
    assert parse_url("clickhouses://h/db").port == 8443
    assert parse_url("clickhouses://h/db").secure
    assert parse_url("clickhouse://h:9440/db?secure=1").secure


def test_credentials_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLICKHOUSE_USER", "reader")
    monkeypatch.setenv("CLICKHOUSE_PASSWORD", "pw")
    t = parse_url("clickhouse://h:8123/db")
    assert (t.user, t.password) == ("reader", "pw")


@pytest.mark.parametrize("bad", ["chdb://", "clickhouse:///db", "postgres://h/db"])
def test_bad_urls_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=r"chdb|ClickHouse"):
        parse_url(bad)


def test_selector() -> None:
    assert is_clickhouse_url("chdb:///x")
    assert is_clickhouse_url("clickhouses://h/db")
    assert not is_clickhouse_url("traces.duckdb")
    assert not is_clickhouse_url(None)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("gen_ai.usage.input_tokens", 1200),
        ("hoptrace.cost_usd", 0.0125),
        ("hoptrace.pending", True),
        ("hoptrace.recovered.types", ["TimeoutError", "KeyError"]),
        ("hoptrace.agent.span_id", "1234567890123456"),  # all-digit hex id stays text
        ("hoptrace.output", "1"),  # a payload is JSON text, never parsed
        ("gen_ai.input.messages", '[{"role":"user"}]'),
        ("gen_ai.agent.name", "writer"),
    ],
)
def test_attribute_values_round_trip(key: str, value: object) -> None:
    assert typed(as_string(value), key) == value


def test_otel_rows_are_the_exporters_spelling() -> None:
    b = SpanBatch()
    b.add(trace_id="a" * 32, span_id="b" * 16, parent_span_id=None, name="n", kind="CLIENT",
          start_ns=10, end_ns=None, status_code="ERROR", status_message=None, attributes={},
          events=[], links=[], resource={"service.name": "svc"}, scope_name=None,
          scope_version=None)  # fmt: skip
    row = batch_to_otel(b).to_pylist()[0]
    assert row["SpanKind"] == "SPAN_KIND_CLIENT"
    assert row["StatusCode"] == "STATUS_CODE_ERROR"
    assert row["ServiceName"] == "svc"
    assert row["ParentSpanId"] == ""
    assert row["Duration"] == 0
    assert dict(row["SpanAttributes"]) == {"hoptrace.pending": "true"}  # pending survives
