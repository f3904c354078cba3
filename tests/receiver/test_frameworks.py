"""pydantic-ai and the OpenAI Agents SDK (through OpenInference), sent by their real OTLP
exporters through the receiver, land in the views with the right agents, handoffs,
tokens, costs and errors.

- pydantic-ai (real library, offline TestModel / FunctionModel; agent-as-tool = handoff)
- the OpenAI Agents SDK through OpenInference (real SDK + instrumentor; the OpenAI client
  talks to an in-process httpx.MockTransport, so the real chat-completions model code runs)
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from pydantic_ai import Agent, RunContext
from pydantic_ai.capabilities import Instrumentation
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.instrumented import InstrumentationSettings
from pydantic_ai.models.test import TestModel

from ._frameworks import price, provider_to, rows

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
    provider = provider_to(receiver.endpoint, "pydantic-app")
    try:
        result = _pydantic_ai_agents(provider).run_sync("What is the capital of France?")
    finally:
        provider.shutdown()
    assert "Paris" in result.output
    assert receiver.wait_idle(30)

    run = rows(db, "SELECT * FROM runs")
    assert len(run) == 1
    run = run[0]
    assert run["name"] == "orchestrator"
    assert run["root_span_name"] == "invoke_agent orchestrator"
    assert run["service_name"] == "pydantic-app"
    assert run["status"] == "OK"
    assert run["span_count"] == 6
    assert run["agent_count"] == 2
    assert run["llm_calls"] == 3
    # TestModel's synthetic usage: 56/5 then 63/14; the researcher (FunctionModel) 51/7
    assert (run["input_tokens"], run["output_tokens"]) == (56 + 63 + 51, 5 + 14 + 7)

    agents = {a["agent_name"]: a for a in rows(db, "SELECT * FROM agents")}
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
    in_price, out_price = price(db, "gpt-4o-mini")
    assert agents["researcher"]["cost_usd"] == pytest.approx(51 * in_price + 7 * out_price)
    assert run["cost_usd"] == pytest.approx(51 * in_price + 7 * out_price)  # the test model is free

    handoffs = rows(db, "SELECT * FROM handoffs")
    assert [(h["from_agent"], h["to_agent"], h["kind"]) for h in handoffs] == [
        ("orchestrator", "researcher", "delegate")
    ]

    calls = rows(
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
    assert rows(db, "SELECT * FROM errors") == []


def test_pydantic_ai_tool_failure_shows_in_errors(store_receiver) -> None:
    receiver, db = store_receiver
    provider = provider_to(receiver.endpoint, "pydantic-app")
    try:
        with pytest.raises(RuntimeError, match="research service down"):
            _pydantic_ai_agents(provider, fail=True).run_sync("What is the capital of France?")
    finally:
        provider.shutdown()
    assert receiver.wait_idle(30)
    run = rows(db, "SELECT * FROM runs")[0]
    assert run["status"] == "ERROR"
    assert run["root_cause_agent"] == "orchestrator"
    assert run["root_cause_error"] == "RuntimeError"
    errors = rows(
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
    provider = provider_to(receiver.endpoint, "agents-app")
    instrumentor = OpenAIAgentsInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        result = asyncio.run(agents_sdk.Runner.run(triage, "Is invoice 42 paid?"))
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
    assert result.final_output == "Invoice 42 is paid."
    assert receiver.wait_idle(30)

    run = rows(db, "SELECT * FROM runs")
    assert len(run) == 1
    run = run[0]
    assert run["name"] == "Agent workflow"
    assert run["status"] == "OK"
    assert run["llm_calls"] == 3
    assert (run["input_tokens"], run["output_tokens"]) == (300, 60)
    in_price, out_price = price(db, "gpt-4o-mini")
    assert run["cost_usd"] == pytest.approx(3 * (100 * in_price + 20 * out_price))

    agents = {a["agent_name"]: a for a in rows(db, "SELECT * FROM agents")}
    assert set(agents) == {"triage", "billing"}
    assert (agents["triage"]["llm_calls"], agents["triage"]["input_tokens"]) == (1, 100)
    assert (agents["billing"]["llm_calls"], agents["billing"]["input_tokens"]) == (2, 200)
    assert agents["billing"]["cost_usd"] == pytest.approx(2 * (100 * in_price + 20 * out_price))

    handoffs = rows(db, "SELECT from_agent, to_agent FROM handoffs")
    assert handoffs == [{"from_agent": "triage", "to_agent": "billing"}]
    calls = rows(
        db, "SELECT agent_name, model, input_tokens, output_tokens FROM llm_calls ORDER BY start_ns"
    )
    assert [c["agent_name"] for c in calls] == ["triage", "billing", "billing"]
    assert {(c["model"], c["input_tokens"], c["output_tokens"]) for c in calls} == {
        ("gpt-4o-mini", 100, 20)
    }
    tools = rows(db, "SELECT agent_name, tool_name FROM spans WHERE hoptrace_kind = 'tool'")
    assert tools == [{"agent_name": "billing", "tool_name": "lookup_invoice"}]
    assert rows(db, "SELECT * FROM errors") == []


def _fake_openai_failing_billing(request: httpx.Request) -> httpx.Response:
    """As `_fake_openai`, but billing's model answers 500 once its tool has run."""
    body = json.loads(request.content)
    if any(m.get("tool_call_id") == "call_tool" for m in body["messages"]):
        return httpx.Response(
            500, json={"error": {"message": "model backend failed", "type": "server_error"}}
        )
    return _fake_openai(request)


def test_openai_agents_sdk_model_failure_fails_the_run(
    store_receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    agents_sdk = pytest.importorskip("agents")
    import openai
    from openai import AsyncOpenAI
    from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-offline")
    receiver, db = store_receiver
    client = AsyncOpenAI(
        api_key="sk-test-offline",
        base_url="http://openai.invalid/v1",
        max_retries=0,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(_fake_openai_failing_billing)),
    )
    model = agents_sdk.OpenAIChatCompletionsModel(model="gpt-4o-mini", openai_client=client)

    @agents_sdk.function_tool
    def lookup_invoice(number: str) -> str:
        """Look an invoice up."""
        return f"invoice {number}: paid"

    billing = agents_sdk.Agent(name="billing", instructions="Answer billing questions.",
                               model=model, tools=[lookup_invoice])  # fmt: skip
    triage = agents_sdk.Agent(name="triage", instructions="Route the user.", model=model,
                              handoffs=[billing])  # fmt: skip
    provider = provider_to(receiver.endpoint, "agents-app")
    instrumentor = OpenAIAgentsInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        with pytest.raises(openai.InternalServerError):
            asyncio.run(agents_sdk.Runner.run(triage, "Is invoice 42 paid?"))
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
    assert receiver.wait_idle(30)

    [run] = rows(db, "SELECT * FROM runs")
    # the SDK's workflow span ends OK: an agent failed and nothing recovered it
    assert run["status"] == "ERROR"
    assert run["root_cause_agent"] == "billing"
    errors = rows(db, "SELECT span_name, agent_name, error_type, error_message, role FROM errors")
    origin = [e for e in errors if e["role"] == "origin"]
    assert [e["agent_name"] for e in origin] == ["billing"]
    assert origin[0]["error_message"]
    assert {e["role"] for e in errors} <= {"origin", "propagated"}
    assert [
        (h["from_agent"], h["to_agent"], h["kind"]) for h in rows(db, "SELECT * FROM handoffs")
    ] == [("triage", "billing", "transfer")]
