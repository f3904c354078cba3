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
