"""The embedded exporter with real OTel SDK spans into a real DuckDB file."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

import collector
from tracer import semconv as sc


@pytest.fixture
def provider(db: Path):
    exporter = collector.DuckDBSpanExporter(db)
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    yield tp, exporter
    tp.shutdown()


def test_sdk_spans_land_in_views(provider, db: Path) -> None:
    tp, exporter = provider
    tracer = tp.get_tracer("test")
    with (
        tracer.start_as_current_span(
            "invoke_workflow triage",
            attributes={sc.HOPTRACE_KIND: "workflow", sc.GEN_AI_OPERATION_NAME: sc.OP_WORKFLOW},
        ),
        tracer.start_as_current_span(
            "invoke_agent planner",
            attributes={
                sc.HOPTRACE_KIND: "agent",
                sc.GEN_AI_OPERATION_NAME: sc.OP_AGENT,
                sc.GEN_AI_AGENT_NAME: "planner",
            },
        ),
        tracer.start_as_current_span(
            "chat gpt-4o-mini",
            attributes={
                sc.HOPTRACE_KIND: "llm",
                sc.GEN_AI_OPERATION_NAME: sc.OP_CHAT,
                sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                sc.GEN_AI_USAGE_INPUT_TOKENS: 1000,
                sc.GEN_AI_USAGE_OUTPUT_TOKENS: 100,
                sc.GEN_AI_AGENT_NAME: "planner",
            },
        ) as chat,
    ):
        chat.set_status(Status(StatusCode.OK))
    assert exporter.force_flush()
    spans = collector.query(
        "SELECT name, agent_name, cost_usd, cost_source FROM spans ORDER BY start_ns", db
    )
    assert spans["name"].to_list() == [
        "invoke_workflow triage",
        "invoke_agent planner",
        "chat gpt-4o-mini",
    ]
    assert spans["agent_name"].to_list() == [None, "planner", "planner"]
    # gpt-4o-mini: 0.15 $/M input, 0.60 $/M output
    assert spans["cost_usd"][2] == pytest.approx(1000 * 0.15e-6 + 100 * 0.6e-6)
    assert spans["cost_source"][2] == "computed"
    runs = collector.query("SELECT status, span_count, llm_calls, agent_count FROM runs", db)
    assert runs.row(0) == ("OK", 3, 1, 1)


def test_import_collector_is_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, collector; "
        "heavy = [m for m in ('duckdb', 'polars', 'pyarrow', 'litellm', 'textual') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_pending_copy_then_final_through_the_sdk(db: Path) -> None:
    """The tracer's pending copy (same ids, hoptrace.pending) is replaced by the finished span."""
    from opentelemetry.sdk.trace import ReadableSpan

    exporter = collector.DuckDBSpanExporter(db, flush_interval=0)
    tp = TracerProvider()
    tracer = tp.get_tracer("t")
    span = tracer.start_span("invoke_agent a", attributes={sc.GEN_AI_AGENT_NAME: "a"})
    ctx = span.get_span_context()
    pending = ReadableSpan(
        name="invoke_agent a",
        context=ctx,
        attributes={sc.GEN_AI_AGENT_NAME: "a", sc.PENDING: True},
        start_time=span.start_time,
        end_time=span.start_time,
    )
    exporter.export([pending])
    assert collector.query("SELECT pending, end_time FROM spans", db).row(0) == (True, None)
    assert collector.query("SELECT status FROM runs", db).item() == "RUNNING"
    span.end()
    exporter.export([span])
    assert collector.query("SELECT pending FROM spans", db).item() is False
    assert collector.query("SELECT status FROM runs", db).item() == "OK"
    exporter.export([pending])  # a late pending copy changes nothing
    assert collector.query("SELECT count(*), bool_or(pending) FROM spans", db).row(0) == (1, False)
    exporter.shutdown()


def test_export_after_shutdown_fails_quietly(db: Path) -> None:
    from opentelemetry.sdk.trace.export import SpanExportResult

    exporter = collector.DuckDBSpanExporter(db)
    exporter.shutdown()
    assert exporter.export([]) is SpanExportResult.FAILURE
    assert not db.exists()  # nothing was ever buffered: the file is not even created
