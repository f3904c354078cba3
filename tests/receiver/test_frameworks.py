"""Other frameworks' spans, sent through the receiver by their real OTLP exporters, land
in the views with the right agents, handoffs, tokens, costs and errors.

- pydantic-ai (real library, offline TestModel / FunctionModel; agent-as-tool = handoff)
- the OpenAI Agents SDK through OpenInference (real SDK + instrumentor; the OpenAI client
  talks to an in-process httpx.MockTransport, so the real chat-completions model code runs)
- litellm's built-in OTel callback (`litellm.callbacks=["otel"]`, mock_response), in a
  subprocess because it installs a global tracer provider
- plain OTel GenAI spans (contrib-style, incl. `agent_handoff`), posted as OTLP/JSON
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from pydantic_ai import Agent, RunContext
from pydantic_ai.capabilities import Instrumentation
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.instrumented import InstrumentationSettings
from pydantic_ai.models.test import TestModel

from collector import SpanStore, query
from collector._receiver import Receiver

from ._helpers import post


@pytest.fixture
def store_receiver(tmp_path: Path) -> Iterator[tuple[Receiver, Path]]:
    db = tmp_path / "frameworks.duckdb"
    store = SpanStore(db)
    receiver = Receiver(store.write, port=0).start()
    yield receiver, db
    assert receiver.stop(30)


def _provider(endpoint: str, service: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    # one request per span: children arrive before their parents, as with any SimpleSpanProcessor
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint, compression=Compression.Gzip))
    )
    return provider


def _rows(db: Path, sql: str) -> list[dict]:
    return query(sql, db=db).to_dicts()


def _price(db: Path, model: str) -> tuple[float, float]:
    row = _rows(
        db,
        f"SELECT input_cost_per_token AS i, output_cost_per_token AS o FROM model_prices WHERE model = '{model}'",
    )[0]
    return row["i"], row["o"]


# --- pydantic-ai ----------------------------------------------------------------------------


def _pydantic_ai_agents(provider: TracerProvider, fail: bool = False):
    instrumentation = Instrumentation(settings=InstrumentationSettings(tracer_provider=provider))

    def research(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[TextPart("Paris is the capital of France.")])

    # a FunctionModel named like a priced model, so the store can cost it from litellm's map
    researcher = Agent(
        FunctionModel(research, model_name="gpt-4o-mini"),
        name="researcher",
        capabilities=[instrumentation],
    )
    orchestrator = Agent(TestModel(), name="orchestrator", capabilities=[instrumentation])

    @orchestrator.tool
    async def ask_researcher(ctx: RunContext[None], question: str) -> str:
        if fail:
            raise RuntimeError("research service down")
        result = await researcher.run(question, usage=ctx.usage)
        return result.output

    return orchestrator


def test_pydantic_ai_agent_as_tool_is_a_handoff_with_tokens_and_costs(store_receiver) -> None:
    receiver, db = store_receiver
    provider = _provider(receiver.endpoint, "pydantic-app")
    try:
        result = _pydantic_ai_agents(provider).run_sync("What is the capital of France?")
    finally:
        provider.shutdown()
    assert "Paris" in result.output
    assert receiver.wait_idle(30)

    run = _rows(db, "SELECT * FROM runs")
    assert len(run) == 1
    run = run[0]
    assert run["name"] == "invoke_agent orchestrator"
    assert run["service_name"] == "pydantic-app"
    assert run["status"] == "OK"
    assert run["span_count"] == 6
    assert run["agent_count"] == 2
    assert run["llm_calls"] == 3
    # TestModel's synthetic usage: 56/5 then 63/14; the researcher (FunctionModel) 51/7
    assert (run["input_tokens"], run["output_tokens"]) == (56 + 63 + 51, 5 + 14 + 7)

    agents = {a["agent_name"]: a for a in _rows(db, "SELECT * FROM agents")}
    assert set(agents) == {"orchestrator", "researcher"}
    assert (
        agents["orchestrator"]["llm_calls"],
        agents["orchestrator"]["input_tokens"],
        agents["orchestrator"]["output_tokens"],
    ) == (2, 119, 19)
    assert (
        agents["researcher"]["llm_calls"],
        agents["researcher"]["input_tokens"],
        agents["researcher"]["output_tokens"],
    ) == (1, 51, 7)
    in_price, out_price = _price(db, "gpt-4o-mini")
    assert agents["researcher"]["cost_usd"] == pytest.approx(51 * in_price + 7 * out_price)
    assert run["cost_usd"] == pytest.approx(51 * in_price + 7 * out_price)  # the test model is free

    handoffs = _rows(db, "SELECT * FROM handoffs")
    assert [(h["from_agent"], h["to_agent"], h["kind"]) for h in handoffs] == [
        ("orchestrator", "researcher", "delegate")
    ]

    calls = _rows(
        db,
        "SELECT agent_name, model, provider, input_tokens, output_tokens FROM llm_calls ORDER BY start_ns",
    )
    assert calls == [
        {
            "agent_name": "orchestrator",
            "model": "test",
            "provider": "test",
            "input_tokens": 56,
            "output_tokens": 5,
        },
        {
            "agent_name": "researcher",
            "model": "gpt-4o-mini",
            "provider": "function",
            "input_tokens": 51,
            "output_tokens": 7,
        },
        {
            "agent_name": "orchestrator",
            "model": "test",
            "provider": "test",
            "input_tokens": 63,
            "output_tokens": 14,
        },
    ]
    assert _rows(db, "SELECT * FROM errors") == []


def test_pydantic_ai_tool_failure_shows_in_errors(store_receiver) -> None:
    receiver, db = store_receiver
    provider = _provider(receiver.endpoint, "pydantic-app")
    try:
        with pytest.raises(RuntimeError, match="research service down"):
            _pydantic_ai_agents(provider, fail=True).run_sync("What is the capital of France?")
    finally:
        provider.shutdown()
    assert receiver.wait_idle(30)
    run = _rows(db, "SELECT * FROM runs")[0]
    assert run["status"] == "ERROR"
    assert run["root_cause_agent"] == "orchestrator"
    assert run["root_cause_error"] == "RuntimeError"
    errors = _rows(
        db,
        "SELECT span_name, agent_name, error_type, error_message, role FROM errors ORDER BY role, span_name",
    )
    origin = [e for e in errors if e["role"] == "origin"]
    assert origin == [
        {
            "span_name": "execute_tool ask_researcher",
            "agent_name": "orchestrator",
            "error_type": "RuntimeError",
            "error_message": "research service down",
            "role": "origin",
        }
    ]
    assert {e["span_name"] for e in errors if e["role"] == "propagated"} == {
        "invoke_agent orchestrator"
    }


# --- OpenAI Agents SDK via OpenInference ----------------------------------------------------


def _fake_openai(request: httpx.Request) -> httpx.Response:
    """Chat-completions answers: triage hands off, billing calls its tool, then answers."""
    body = json.loads(request.content)
    tools = [t["function"]["name"] for t in body.get("tools", [])]
    answered_tool = any(m.get("tool_call_id") == "call_tool" for m in body["messages"])
    if "transfer_to_billing" in tools:
        msg = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_handoff",
                    "type": "function",
                    "function": {"name": "transfer_to_billing", "arguments": "{}"},
                }
            ],
        }
    elif "lookup_invoice" in tools and not answered_tool:
        msg = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_tool",
                    "type": "function",
                    "function": {"name": "lookup_invoice", "arguments": '{"number": "42"}'},
                }
            ],
        }
    else:
        msg = {"role": "assistant", "content": "Invoice 42 is paid."}
    return httpx.Response(
        200,
        json={
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 1,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": msg,
                    "finish_reason": "tool_calls" if msg.get("tool_calls") else "stop",
                }
            ],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
        },
    )


def test_openai_agents_sdk_through_openinference(
    store_receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    agents_sdk = pytest.importorskip("agents")
    from openai import AsyncOpenAI
    from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-offline")
    receiver, db = store_receiver
    client = AsyncOpenAI(
        api_key="sk-test-offline",
        base_url="http://openai.invalid/v1",
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(_fake_openai)),
    )
    model = agents_sdk.OpenAIChatCompletionsModel(model="gpt-4o-mini", openai_client=client)

    @agents_sdk.function_tool
    def lookup_invoice(number: str) -> str:
        """Look an invoice up."""
        return f"invoice {number}: paid"

    billing = agents_sdk.Agent(
        name="billing",
        instructions="Answer billing questions.",
        model=model,
        tools=[lookup_invoice],
    )
    triage = agents_sdk.Agent(
        name="triage", instructions="Route the user.", model=model, handoffs=[billing]
    )
    provider = _provider(receiver.endpoint, "agents-app")
    instrumentor = OpenAIAgentsInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        result = asyncio.run(agents_sdk.Runner.run(triage, "Is invoice 42 paid?"))
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
    assert result.final_output == "Invoice 42 is paid."
    assert receiver.wait_idle(30)

    run = _rows(db, "SELECT * FROM runs")
    assert len(run) == 1
    run = run[0]
    assert run["name"] == "Agent workflow"
    assert run["status"] == "OK"
    assert run["llm_calls"] == 3
    assert (run["input_tokens"], run["output_tokens"]) == (300, 60)
    in_price, out_price = _price(db, "gpt-4o-mini")
    assert run["cost_usd"] == pytest.approx(3 * (100 * in_price + 20 * out_price))

    agents = {a["agent_name"]: a for a in _rows(db, "SELECT * FROM agents")}
    assert set(agents) == {"triage", "billing"}
    assert (agents["triage"]["llm_calls"], agents["triage"]["input_tokens"]) == (1, 100)
    assert (agents["billing"]["llm_calls"], agents["billing"]["input_tokens"]) == (2, 200)
    assert agents["billing"]["cost_usd"] == pytest.approx(2 * (100 * in_price + 20 * out_price))

    handoffs = _rows(db, "SELECT from_agent, to_agent FROM handoffs")
    assert handoffs == [{"from_agent": "triage", "to_agent": "billing"}]
    calls = _rows(
        db, "SELECT agent_name, model, input_tokens, output_tokens FROM llm_calls ORDER BY start_ns"
    )
    assert [c["agent_name"] for c in calls] == ["triage", "billing", "billing"]
    assert {(c["model"], c["input_tokens"], c["output_tokens"]) for c in calls} == {
        ("gpt-4o-mini", 100, 20)
    }
    tools = _rows(db, "SELECT agent_name, tool_name FROM spans WHERE hoptrace_kind = 'tool'")
    assert tools == [{"agent_name": "billing", "tool_name": "lookup_invoice"}]
    assert _rows(db, "SELECT * FROM errors") == []


# --- litellm's OTel callback --------------------------------------------------------------


def test_litellm_otel_callback(store_receiver) -> None:
    receiver, db = store_receiver
    base = receiver.endpoint.removesuffix("/v1/traces")
    env = {
        **os.environ,
        "OTEL_EXPORTER": "otlp_http",
        "OTEL_ENDPOINT": base,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
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

    calls = _rows(
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
    runs = _rows(
        db,
        "SELECT name, service_name, status, llm_calls, cost_usd FROM runs ORDER BY status DESC, name",
    )
    assert [(r["name"], r["status"], r["llm_calls"]) for r in runs] == [
        ("litellm_request", "OK", 1),
        ("litellm_request", "OK", 1),
        ("litellm_request", "ERROR", 1),
    ]
    assert {r["service_name"] for r in runs} == {"litellm"}
    errors = _rows(db, "SELECT span_name, error_type, error_message, role FROM errors")
    assert errors == [
        {
            "span_name": "litellm_request",
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

    run = _rows(db, "SELECT * FROM runs")[0]
    assert run["name"] == "invoke_workflow support"
    assert run["llm_calls"] == 2
    assert (run["input_tokens"], run["output_tokens"]) == (500, 130)
    p4o, p4o_out = _price(db, "gpt-4o")
    mini, mini_out = _price(db, "gpt-4o-mini")
    assert run["cost_usd"] == pytest.approx(200 * p4o + 50 * p4o_out + 300 * mini + 80 * mini_out)
    agents = {
        a["agent_name"]: (a["llm_calls"], a["input_tokens"], a["output_tokens"])
        for a in _rows(db, "SELECT * FROM agents")
    }
    assert agents == {"planner": (1, 200, 50), "coder": (1, 300, 80)}
    assert _rows(db, "SELECT from_agent, to_agent FROM handoffs") == [
        {"from_agent": "planner", "to_agent": "coder"}
    ]
    errors = _rows(
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
