"""The `messages` view and `llm_calls`' message columns: one normalised form for every dialect.

Real producers where they run offline (the tracer over real litellm with mock responses,
pydantic-ai's TestModel, the OpenAI Agents SDK through OpenInference with a mocked HTTP
transport), real OTel SDK spans for the older attribute/event forms, a real DuckDB file.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import collector
from collector import SpanStore, spans_to_batch
from tracer import Hoptrace
from tracer.testing import capture_spans

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
litellm = pytest.importorskip("litellm")
pytestmark = pytest.mark.filterwarnings("ignore:.*`ReadOnly` qualifier:UserWarning")

COLS = "direction, index, role, part_type, content, tool_name, tool_call_id, finish_reason"


def _store(db: Path, spans: Any) -> None:
    SpanStore(db).write(spans_to_batch(list(spans)))


def _messages(db: Path, where: str = "TRUE") -> list[tuple[Any, ...]]:
    sql = f"SELECT {COLS} FROM messages WHERE {where} ORDER BY start_ns, span_id, direction, index"
    return [tuple(r.values()) for r in collector.query(sql, db=db).to_dicts()]


def _traced_litellm(db: Path) -> None:
    ht = Hoptrace()
    history = [
        {"role": "system", "content": "You review drafts. Key sk-proj-Abcdefghijklmnop12345678"},
        {"role": "user", "content": "Review: the sky is green."},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "fact_check", "arguments": '{"claim": "sky is green"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "false"},
    ]  # fmt: skip
    tools = [{"type": "function", "function": {"name": "fact_check", "description": "Check",
              "parameters": {"type": "object"}}}]  # fmt: skip

    @ht.agent
    def reviewer() -> None:
        litellm.completion(model="gpt-4o-mini", messages=history, tools=tools,
                           mock_response="Rejected: the sky is blue.")  # fmt: skip

    @ht.agent
    async def writer() -> None:
        await litellm.acompletion(model="gpt-4o-mini", messages=[{"role": "user", "content": "w"}],
                                  mock_tool_calls=[{"id": "c2", "type": "function", "function":
                                                    {"name": "save", "arguments": '{"x": 1}'}}])  # fmt: skip

    @ht.agent
    def streamer() -> None:
        stream = litellm.completion(model="gpt-4o-mini", messages=[{"role": "user", "content": "s"}],
                                    stream=True, mock_response="streamed reply")  # fmt: skip
        for _ in stream:
            pass

    @ht.agent
    def failer() -> None:
        litellm.completion(model="gpt-4o-mini", messages=[{"role": "user", "content": "boom?"}],
                           mock_response=Exception("provider down"))  # fmt: skip

    @ht.workflow
    def pipeline() -> None:
        reviewer()
        asyncio.run(writer())
        streamer()
        failer()

    with capture_spans(ht) as captured, pytest.raises(Exception, match="provider down"):
        pipeline()
    _store(db, captured.spans)


def test_litellm_calls_field_by_field(db: Path) -> None:
    _traced_litellm(db)
    assert _messages(db, "agent_name = 'reviewer'") == [
        ("input", 0, "user", "text", "Review: the sky is green.", None, None, None),
        (
            "input",
            1,
            "assistant",
            "tool_call",
            '{"claim":"sky is green"}',
            "fact_check",
            "c1",
            None,
        ),
        ("input", 2, "tool", "tool_call_response", "false", None, "c1", None),
        ("output", 0, "assistant", "text", "Rejected: the sky is blue.", None, None, "stop"),
        ("system", 0, "system", "text", "You review drafts. Key [REDACTED]", None, None, None),
        ("tools", 0, None, "tool_definition", 'Check\n{"type":"object"}', "fact_check", None, None),
    ]
    writer = _messages(db, "agent_name = 'writer'")
    assert writer[0] == ("input", 0, "user", "text", "w", None, None, None)
    assert writer[-1] == ("output", 1, "assistant", "tool_call", '{"x":1}', "save", "c2", "stop")
    assert _messages(db, "agent_name = 'streamer' AND direction = 'output'") == [
        ("output", 0, "assistant", "text", "streamed reply", None, None, "stop")
    ]
    # the failed call keeps its input and has no output
    assert _messages(db, "agent_name = 'failer'") == [
        ("input", 0, "user", "text", "boom?", None, None, None)
    ]
    calls = collector.query(
        "SELECT agent_name, input_message_count, output_message_count, first_user_message "
        "FROM llm_calls ORDER BY start_ns",
        db=db,
    ).rows()
    assert calls == [
        ("reviewer", 3, 1, "Review: the sky is green."),
        ("writer", 1, 1, "w"),
        ("streamer", 1, 1, "s"),
        ("failer", 1, 0, "boom?"),
    ]
    # "what did the failing agent's model see?" in one query
    seen = collector.query(
        "SELECT m.content FROM messages m JOIN llm_calls c USING (trace_id, span_id) "
        "WHERE c.status = 'ERROR' AND m.direction = 'input'",
        db=db,
    ).rows()
    assert seen == [("boom?",)]


def _legacy_spans() -> list[Any]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    t = provider.get_tracer("legacy")
    with t.start_as_current_span("chat old-json") as s:
        s.set_attributes({"gen_ai.operation.name": "chat", "gen_ai.request.model": "m",
                          "gen_ai.prompt": json.dumps([{"role": "user", "content": "old q"}]),
                          "gen_ai.completion": "old answer"})  # fmt: skip
    with t.start_as_current_span("chat openllmetry") as s:
        s.set_attributes({"gen_ai.operation.name": "chat", "gen_ai.prompt.0.role": "system",
                          "gen_ai.prompt.0.content": "sys", "gen_ai.prompt.1.role": "user",
                          "gen_ai.prompt.1.content": "indexed q",
                          "gen_ai.completion.0.role": "assistant",
                          "gen_ai.completion.0.content": "indexed a",
                          "gen_ai.completion.0.finish_reason": "length"})  # fmt: skip
    with t.start_as_current_span("chat events") as s:
        s.set_attribute("gen_ai.operation.name", "chat")
        s.add_event("gen_ai.user.message", {"content": "event q"})
        s.add_event("gen_ai.choice", {"message": json.dumps({"content": "event a"}),
                                      "finish_reason": "stop"})  # fmt: skip
    with t.start_as_current_span("LLM openinference") as s:
        s.set_attributes({"openinference.span.kind": "LLM",
                          "llm.input_messages.0.message.role": "user",
                          "llm.input_messages.0.message.contents.0.message_content.type": "text",
                          "llm.input_messages.0.message.contents.0.message_content.text": "oi q",
                          "llm.output_messages.0.message.role": "assistant",
                          "llm.output_messages.0.message.tool_calls.0.tool_call.id": "t1",
                          "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "f",
                          "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": "{}"})  # fmt: skip
    with t.start_as_current_span("LLM oi-value") as s:
        s.set_attributes({"openinference.span.kind": "LLM",
                          "input.value": json.dumps({"messages": [{"role": "user", "content": "v q"}]}),
                          "output.value": "v a"})  # fmt: skip
    with t.start_as_current_span("chat pydantic-ai") as s:
        s.set_attributes({"gen_ai.operation.name": "chat", "gen_ai.input.messages": json.dumps(
            [{"role": "user", "parts": [{"type": "tool_call_response", "id": "p1", "name": "g",
                                         "result": "42"}]}])})  # fmt: skip
    with t.start_as_current_span("chat structured") as s:  # kvlist/array values decode to tuples
        s.set_attribute("gen_ai.output.messages", (json.dumps({"role": "assistant", "parts": [
            {"type": "text", "content": "tuple a"}], "finish_reason": "stop"}),))  # fmt: skip
    provider.shutdown()
    return list(exporter.get_finished_spans())


def test_older_and_foreign_forms(db: Path) -> None:
    _store(db, _legacy_spans())

    def of(name: str) -> list[tuple[Any, ...]]:
        return _messages(db, f"span_id IN (SELECT span_id FROM spans WHERE name = '{name}')")

    assert of("chat old-json") == [
        ("input", 0, "user", "text", "old q", None, None, None),
        ("output", 0, "assistant", "text", "old answer", None, None, None),
    ]
    assert of("chat openllmetry") == [
        ("input", 0, "user", "text", "indexed q", None, None, None),
        ("output", 0, "assistant", "text", "indexed a", None, None, "length"),
        ("system", 0, "system", "text", "sys", None, None, None),
    ]
    assert of("chat events") == [
        ("input", 0, "user", "text", "event q", None, None, None),
        ("output", 0, "assistant", "text", "event a", None, None, "stop"),
    ]
    assert of("LLM openinference") == [
        ("input", 0, "user", "text", "oi q", None, None, None),
        ("output", 0, "assistant", "tool_call", "{}", "f", "t1", None),
    ]
    assert of("LLM oi-value") == [
        ("input", 0, "user", "text", "v q", None, None, None),
        ("output", 0, "assistant", "text", "v a", None, None, None),
    ]
    assert of("chat pydantic-ai") == [
        ("input", 0, "user", "tool_call_response", "42", "g", "p1", None)
    ]
    assert of("chat structured") == [
        ("output", 0, "assistant", "text", "tuple a", None, None, "stop")
    ]


def test_pydantic_ai_messages(db: Path) -> None:
    from pydantic_ai import Agent
    from pydantic_ai.capabilities import Instrumentation
    from pydantic_ai.models.instrumented import InstrumentationSettings
    from pydantic_ai.models.test import TestModel

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = InstrumentationSettings(tracer_provider=provider)
    agent = Agent(TestModel(), name="helper", instructions="Be helpful.",
                  capabilities=[Instrumentation(settings=settings)])  # fmt: skip

    @agent.tool_plain
    def lookup(question: str) -> str:
        return "Paris"

    agent.run_sync("Capital of France?")
    provider.shutdown()
    _store(db, exporter.get_finished_spans())
    rows = _messages(db, "hoptrace_kind = 'llm'")
    first_user = [r for r in rows if r[0] == "input" and r[2] == "user" and r[3] == "text"]
    assert first_user[0][4] == "Capital of France?"
    assert ("system", 0, "system", "text", "Be helpful.", None, None, None) in rows
    calls = [r for r in rows if r[0] == "output" and r[3] == "tool_call"]
    assert calls[0][5] == "lookup"
    assert json.loads(calls[0][4]) == {"question": "a"}
    responses = [r for r in rows if r[3] == "tool_call_response"]
    assert responses[0][4] == "Paris"
    assert responses[0][6] == calls[0][6]  # the response answers that call
    assert any(r[0] == "tools" and r[5] == "lookup" for r in rows)
    assert (
        collector.query(
            "SELECT count(*) FROM llm_calls WHERE input_message_count >= 1", db=db
        ).item()
        == 2
    )


def _fake_openai(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    answered = any(m.get("tool_call_id") == "call_tool" for m in body["messages"])
    if answered:
        msg: dict[str, Any] = {"role": "assistant", "content": "Invoice 42 is paid."}
    else:
        msg = {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_tool", "type": "function",
             "function": {"name": "lookup_invoice", "arguments": '{"number": "42"}'}}]}  # fmt: skip
    return httpx.Response(200, json={
        "id": "chatcmpl-test", "object": "chat.completion", "created": 1, "model": body["model"],
        "choices": [{"index": 0, "message": msg,
                     "finish_reason": "tool_calls" if msg.get("tool_calls") else "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}})  # fmt: skip


def test_openai_agents_sdk_through_openinference(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    agents_sdk = pytest.importorskip("agents")
    from openai import AsyncOpenAI
    from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-offline")
    client = AsyncOpenAI(api_key="sk-test-offline", base_url="http://openai.invalid/v1",
                         http_client=httpx.AsyncClient(transport=httpx.MockTransport(_fake_openai)))  # fmt: skip
    model = agents_sdk.OpenAIChatCompletionsModel(model="gpt-4o-mini", openai_client=client)

    @agents_sdk.function_tool
    def lookup_invoice(number: str) -> str:
        """Look an invoice up."""
        return f"invoice {number}: paid"

    billing = agents_sdk.Agent(name="billing", instructions="Answer billing questions.",
                               model=model, tools=[lookup_invoice])  # fmt: skip
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = OpenAIAgentsInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        result = asyncio.run(agents_sdk.Runner.run(billing, "Is invoice 42 paid?"))
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
    assert result.final_output == "Invoice 42 is paid."
    _store(db, exporter.get_finished_spans())
    rows = _messages(db, "hoptrace_kind = 'llm'")
    texts = [r[4] for r in rows if r[3] == "text"]
    assert "Is invoice 42 paid?" in texts
    assert "Answer billing questions." in texts
    assert "Invoice 42 is paid." in texts
    [call] = {(r[5], r[6], r[4]) for r in rows if r[0] == "output" and r[3] == "tool_call"}
    assert call[:2] == ("lookup_invoice", "call_tool")
    assert json.loads(call[2]) == {"number": "42"}
    assert any(
        r[3] == "tool_call_response" and r[6] == "call_tool" and "paid" in r[4] for r in rows
    )
    agents = collector.query("SELECT DISTINCT agent_name FROM messages", db=db).rows()
    assert agents == [("billing",)]


def test_older_file_gains_messages_on_migration(db: Path) -> None:
    _traced_litellm(db)
    before = _messages(db)
    con = duckdb.connect(str(db))
    con.execute("UPDATE hoptrace_meta SET value = '7' WHERE key = 'schema_version'")
    con.execute("DROP VIEW messages")
    con.execute("UPDATE span_t SET messages = NULL, input_message_count = NULL")
    con.close()
    SpanStore(db)
    assert _messages(db) == before
    assert len(before) > 10


def test_spans_without_messages_store_none(db: Path) -> None:
    ht = Hoptrace()

    @ht.agent
    def plain(x: str) -> str:
        return x

    with capture_spans(ht) as captured:
        plain("hello")
    _store(db, captured.spans)
    assert (
        collector.query("SELECT count(*) FROM span_t WHERE messages IS NOT NULL", db=db).item() == 0
    )
    assert _messages(db) == []
