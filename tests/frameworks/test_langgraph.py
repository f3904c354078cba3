"""LangGraph + langgraph-supervisor through openinference-instrumentation-langchain.

Ground truth: the supervisor transfers to the researcher, whose `lookup` tool fails once
(the tool node hands the error back, the model retries) and who answers; the supervisor
then transfers to the writer, whose model answers 500: the run fails in the writer.
"""

from __future__ import annotations

from typing import Any

import pytest

from ._fake_llm import fake_openai, system_text, text, tool_call
from ._support import dump, price, provider_to, rows


def _called(body: dict[str, Any]) -> list[str]:
    return [tc["function"]["name"] for m in body["messages"] for tc in (m.get("tool_calls") or [])]


def _respond(body: dict[str, Any]) -> dict[str, Any] | int:
    prompt = system_text(body)
    if "You are the supervisor" in prompt:
        if "transfer_to_researcher" not in _called(body):
            return tool_call("transfer_to_researcher", call_id="call_to_researcher")
        return tool_call("transfer_to_writer", call_id="call_to_writer")
    if "You are the researcher" in prompt:
        n = sum(1 for m in body["messages"] if m.get("role") == "tool"
                and str(m.get("tool_call_id", "")).startswith("call_lookup"))  # fmt: skip
        if n < 2:
            return tool_call("lookup", {"query": "capital of France"}, call_id=f"call_lookup_{n}")
        return text("Paris is the capital of France.")
    return 500  # the writer's model fails: the run fails


def run_pipeline(endpoint: str) -> Any:
    from langchain_openai import ChatOpenAI
    from langgraph.prebuilt import ToolNode, create_react_agent
    from langgraph_supervisor import create_supervisor
    from openinference.instrumentation.langchain import LangChainInstrumentor

    calls = {"n": 0}

    def lookup(query: str) -> str:
        """Look a fact up."""
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("search backend timed out")
        return "Paris"

    provider = provider_to(endpoint, "langgraph-app")
    instrumentor = LangChainInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        with fake_openai(_respond) as fake:
            model = ChatOpenAI(
                model="gpt-4o-mini", base_url=fake.url, api_key="sk-test", max_retries=0
            )
            # the tool node hands a failing tool's error back to the model, which retries
            tools = ToolNode([lookup], handle_tool_errors=True)
            researcher = create_react_agent(
                model, tools, name="researcher", prompt="You are the researcher."
            )
            writer = create_react_agent(model, [], name="writer", prompt="You are the writer.")
            app = create_supervisor([researcher, writer], model=model,
                                    prompt="You are the supervisor.").compile()  # fmt: skip
            return app.invoke(
                {"messages": [{"role": "user", "content": "Write about France's capital"}]}
            )
    finally:
        instrumentor.uninstrument()
        provider.shutdown()


def test_langgraph_supervisor_transfers_and_a_failing_writer(store_receiver) -> None:
    from langchain_openai.chat_models.base import OpenAIAPIError

    receiver, db = store_receiver
    with pytest.raises(OpenAIAPIError):
        run_pipeline(receiver.endpoint)
    assert receiver.wait_idle(30)
    spans = dump(db)

    [run] = rows(db, "SELECT * FROM runs")
    assert (run["name"], run["status"], run["incomplete"]) == ("LangGraph", "ERROR", False)
    assert (run["root_cause_agent"], run["root_cause_error"]) == (
        "writer", "langchain_openai.chat_models.base.OpenAIAPIError"), spans  # fmt: skip
    assert (run["llm_calls"], run["input_tokens"], run["output_tokens"]) == (6, 500, 100)
    i, o = price(db, "gpt-4o-mini")
    assert run["cost_usd"] == pytest.approx(5 * (100 * i + 20 * o))

    agents = {a["agent_name"]: a for a in rows(db, "SELECT * FROM agents")}
    assert set(agents) == {"supervisor", "researcher", "writer"}, spans
    assert {
        n: (a["invocations"], a["llm_calls"], a["input_tokens"]) for n, a in agents.items()
    } == {
        "supervisor": (2, 2, 200),
        "researcher": (1, 3, 300),
        "writer": (1, 1, 0),
    }
    assert agents["researcher"]["cost_usd"] == pytest.approx(3 * (100 * i + 20 * o))

    # transfers: the receiving span is the target's graph node, a later sibling
    nodes = {(r["agent_name"], r["span_id"]) for r in rows(
        db, "SELECT agent_name, span_id FROM spans WHERE hoptrace_kind = 'agent'")}  # fmt: skip
    handoffs = rows(db, "SELECT * FROM handoffs ORDER BY start_ns")
    assert [(h["from_agent"], h["to_agent"], h["kind"]) for h in handoffs] == [
        ("supervisor", "researcher", "transfer"),
        ("supervisor", "writer", "transfer"),
    ], spans
    for h in handoffs:
        assert (h["from_agent"], h["from_span_id"]) in nodes
        assert (h["to_agent"], h["to_span_id"]) in nodes

    errors = rows(db, "SELECT * FROM errors")
    origins = sorted(
        (e["agent_name"], e["span_name"], e["error_type"]) for e in errors if e["role"] == "origin"
    )
    assert origins == [
        ("researcher", "lookup", "ConnectionError"),
        ("writer", "ChatOpenAI", "langchain_openai.chat_models.base.OpenAIAPIError"),
    ]
    assert [(e["agent_name"], e["span_name"]) for e in errors if e["role"] == "recovered"] == [
        ("researcher", "tools")
    ]
    # LangGraph's ParentCommand (every transfer raises one) is control flow, not an error
    assert rows(db, "SELECT count(*) AS n FROM spans WHERE error_type LIKE '%ParentCommand%'") == [
        {"n": 0}
    ]
    assert {e["agent_name"] for e in errors if e["role"] == "propagated" and e["agent_name"]} == {
        "writer"
    }

    calls = rows(db, "SELECT * FROM llm_calls ORDER BY start_ns")
    assert [(c["agent_name"], c["status"]) for c in calls] == [
        ("supervisor", "OK"), ("researcher", "OK"), ("researcher", "OK"), ("researcher", "OK"),
        ("supervisor", "OK"), ("writer", "ERROR"),
    ]  # fmt: skip
    assert {(c["model"], c["input_tokens"]) for c in calls if c["status"] == "OK"} == {
        ("gpt-4o-mini", 100)
    }
