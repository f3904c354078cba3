"""litellm's OTel callback and plain OTel GenAI spans (posted as OTLP/JSON) through the
receiver into the views: models, providers, tokens, costs, handoffs, errors.

litellm runs in a subprocess (`litellm.callbacks=["otel"]` installs a global tracer provider).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from ._frameworks import price, rows
from ._helpers import post

# --- litellm's OTel callback --------------------------------------------------------------


@pytest.mark.parametrize("semconv", ["default", "gen_ai_latest_experimental"])
def test_litellm_otel_callback(store_receiver, semconv: str) -> None:
    receiver, db = store_receiver
    base = receiver.endpoint.removesuffix("/v1/traces")
    env = {
        **{k: v for k, v in os.environ.items() if k != "OTEL_SEMCONV_STABILITY_OPT_IN"},
        "OTEL_EXPORTER": "otlp_http",
        "OTEL_ENDPOINT": base,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    if semconv != "default":  # span "chat gpt-4o-mini", CLIENT, gen_ai.provider.name
        env["OTEL_SEMCONV_STABILITY_OPT_IN"] = semconv
    span_name = "litellm_request" if semconv == "default" else "chat gpt-4o-mini"
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("_litellm_producer.py"))],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert receiver.wait_idle(30)

    calls = rows(
        db,
        "SELECT model, provider, input_tokens, output_tokens, cost_usd, status, error_type FROM llm_calls ORDER BY status DESC",
    )
    assert calls == [
        {
            "model": "gpt-4o-mini",
            "provider": "openai",
            "input_tokens": 10,
            "output_tokens": 20,
            "cost_usd": 1.35e-05,
            "status": "OK",
            "error_type": None,
        },
        {
            "model": "gpt-4o-mini",
            "provider": "openai",
            "input_tokens": 10,
            "output_tokens": 20,
            "cost_usd": 1.35e-05,
            "status": "OK",
            "error_type": None,
        },
        {
            "model": "gpt-4o-mini",
            "provider": "openai",
            "input_tokens": None,
            "output_tokens": None,
            "cost_usd": None,
            "status": "ERROR",
            "error_type": "RateLimitError",
        },
    ]
    runs = rows(
        db,
        "SELECT name, service_name, status, llm_calls, cost_usd FROM runs ORDER BY status DESC, name",
    )
    assert [(r["name"], r["status"], r["llm_calls"]) for r in runs] == [
        (span_name, "OK", 1),
        (span_name, "OK", 1),
        (span_name, "ERROR", 1),
    ]
    assert {r["service_name"] for r in runs} == {"litellm"}
    errors = rows(db, "SELECT span_name, error_type, error_message, role FROM errors")
    assert errors == [
        {
            "span_name": span_name,
            "error_type": "RateLimitError",
            "error_message": "litellm.RateLimitError: rate limited",
            "role": "origin",
        }
    ]


# --- plain OTel GenAI spans, as OTLP/JSON -----------------------------------------------------


def _otlp_json(spans) -> bytes:
    """OTLP/JSON of SDK spans: proto3 JSON with hex ids (uppercase, to exercise case-insensitivity)."""
    doc = json_format.MessageToDict(encode_spans(spans))

    def hexify(obj):
        if isinstance(obj, dict):
            return {
                k: base64.b64decode(v).hex().upper()
                if k in ("traceId", "spanId", "parentSpanId")
                else hexify(v)
                for k, v in obj.items()
            }
        if isinstance(obj, list):
            return [hexify(x) for x in obj]
        return obj

    return json.dumps(hexify(doc)).encode()


def test_plain_otel_genai_spans_as_json(store_receiver) -> None:
    receiver, db = store_receiver
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "genai-app"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("opentelemetry.instrumentation.openai_agents")
    with tracer.start_as_current_span(
        "invoke_workflow support",
        attributes={"gen_ai.operation.name": "invoke_workflow", "gen_ai.workflow.name": "support"},
    ):
        with tracer.start_as_current_span(
            "invoke_agent planner",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "planner",
                "gen_ai.provider.name": "openai",
            },
        ):
            with tracer.start_as_current_span(
                "chat gpt-4o",
                kind=SpanKind.CLIENT,
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.system": "openai",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.usage.prompt_tokens": 200,
                    "gen_ai.usage.completion_tokens": 50,
                    "gen_ai.agent.name": "planner",
                },
            ):
                pass
            with tracer.start_as_current_span(
                "agent_handoff",
                attributes={
                    "gen_ai.operation.name": "agent_handoff",
                    "gen_ai.handoff.from_agent": "planner",
                    "gen_ai.handoff.to_agent": "coder",
                },
            ):
                pass
        with tracer.start_as_current_span(
            "invoke_agent coder",
            kind=SpanKind.CLIENT,
            attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "coder"},
        ):
            with tracer.start_as_current_span(
                "chat gpt-4o-mini",
                kind=SpanKind.CLIENT,
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": 300,
                    "gen_ai.usage.output_tokens": 80,
                    "gen_ai.agent.name": "coder",
                },
            ):
                pass
            with tracer.start_as_current_span(
                "execute_tool run_tests",
                attributes={
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": "run_tests",
                    "gen_ai.agent.name": "coder",
                },
            ) as tool:
                tool.record_exception(ValueError("3 tests failed"))
                tool.set_status(Status(StatusCode.ERROR, "3 tests failed"))
                tool.set_attribute("error.type", "ValueError")
    provider.shutdown()
    status, _, body = post(
        receiver.endpoint, _otlp_json(exporter.get_finished_spans()), "application/json"
    )
    assert (status, body) == (200, b"{}")
    assert receiver.wait_idle(30)

    run = rows(db, "SELECT * FROM runs")[0]
    assert run["name"] == "support"
    assert run["root_span_name"] == "invoke_workflow support"
    assert run["llm_calls"] == 2
    assert (run["input_tokens"], run["output_tokens"]) == (500, 130)
    p4o, p4o_out = price(db, "gpt-4o")
    mini, mini_out = price(db, "gpt-4o-mini")
    assert run["cost_usd"] == pytest.approx(200 * p4o + 50 * p4o_out + 300 * mini + 80 * mini_out)
    agents = {
        a["agent_name"]: (a["llm_calls"], a["input_tokens"], a["output_tokens"])
        for a in rows(db, "SELECT * FROM agents")
    }
    assert agents == {"planner": (1, 200, 50), "coder": (1, 300, 80)}
    assert rows(db, "SELECT from_agent, to_agent FROM handoffs") == [
        {"from_agent": "planner", "to_agent": "coder"}
    ]
    errors = rows(
        db,
        "SELECT span_name, agent_name, error_type, error_message, role FROM errors ORDER BY role",
    )
    assert errors == [
        {
            "span_name": "execute_tool run_tests",
            "agent_name": "coder",
            "error_type": "ValueError",
            "error_message": "3 tests failed",
            "role": "origin",
        },
        # the coder agent span ended normally after its tool failed: it recovered
        {
            "span_name": "invoke_agent coder",
            "agent_name": "coder",
            "error_type": "ValueError",
            "error_message": "3 tests failed",
            "role": "recovered",
        },
    ]


@pytest.mark.parametrize("mode", ["pass_control", "return_to_caller"])
def test_upstream_genai_transfer_tool_is_a_handoff(store_receiver, mode: str) -> None:
    """OTel GenAI upstream: `execute_tool` + `gen_ai.transfer.target.name` hands work to another
    agent, either nested under the tool (return_to_caller) or as a later sibling (pass_control)."""
    receiver, db = store_receiver
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "genai-app"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("genai")
    coder_attrs = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "coder"}
    with tracer.start_as_current_span(
        "invoke_workflow ship", attributes={"gen_ai.operation.name": "invoke_workflow"}
    ):
        with (
            tracer.start_as_current_span(
                "invoke_agent planner",
                attributes={
                    "gen_ai.operation.name": "invoke_agent",
                    "gen_ai.agent.name": "planner",
                },
            ),
            tracer.start_as_current_span(
                "execute_tool transfer_to_coder coder",
                attributes={
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": "transfer_to_coder",
                    "gen_ai.agent.name": "planner",
                    "gen_ai.transfer.mode": mode,
                    "gen_ai.transfer.target.name": "coder",
                },
            ),
        ):
            if mode == "return_to_caller":
                with tracer.start_as_current_span("invoke_agent coder", attributes=coder_attrs):
                    pass
        if mode == "pass_control":
            with tracer.start_as_current_span("invoke_agent coder", attributes=coder_attrs):
                pass
    provider.shutdown()
    status, _, _ = post(
        receiver.endpoint, encode_spans(exporter.get_finished_spans()).SerializeToString()
    )
    assert status == 200
    assert receiver.wait_idle(30)
    handoffs = rows(db, "SELECT from_agent, to_agent, to_span_id IS NOT NULL AS ran FROM handoffs")
    assert handoffs == [{"from_agent": "planner", "to_agent": "coder", "ran": True}]
    assert {a["agent_name"] for a in rows(db, "SELECT agent_name FROM agents")} == {
        "planner",
        "coder",
    }
