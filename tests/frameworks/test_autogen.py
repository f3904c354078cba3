"""AutoGen AgentChat 0.7: a Swarm, traced by its native OTel and OpenInference together.

Ground truth: the planner transfers to the researcher (a Swarm handoff, a
`transfer_to_researcher` tool); the researcher's `lookup` tool fails once (AutoGen hands the
error to the model, which retries), then the researcher's model answers 500 and the team's
run raises. AutoGen's runtime traces each routed message, and each agent's construction as a
trace of its own.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ._fake_llm import fake_openai, text, tool_call, tool_names
from ._support import dump, global_provider_to, price, rows


def _respond(body: dict[str, Any]) -> dict[str, Any] | int:
    tools = tool_names(body)
    msgs = body["messages"]
    if "transfer_to_researcher" in tools:
        return tool_call("transfer_to_researcher", call_id="call_transfer")
    if "lookup" in tools:
        n = sum(
            1
            for m in msgs
            if m.get("role") == "tool" and str(m.get("tool_call_id", "")).startswith("call_lookup")
        )
        if n < 2:
            return tool_call("lookup", {"query": "capital of France"}, call_id=f"call_lookup_{n}")
        return 500
    return text("?")


def run_pipeline(endpoint: str) -> Any:
    from autogen_agentchat.agents import AssistantAgent
    from autogen_agentchat.conditions import MaxMessageTermination
    from autogen_agentchat.teams import Swarm
    from autogen_ext.models.openai import OpenAIChatCompletionClient
    from openinference.instrumentation.autogen_agentchat import AutogenAgentChatInstrumentor

    calls = {"n": 0}

    def lookup(query: str) -> str:
        """Look a fact up."""
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("search backend timed out")
        return "Paris"

    with global_provider_to(endpoint, "autogen-app") as provider, fake_openai(_respond) as fake:
        instrumentor = AutogenAgentChatInstrumentor()
        instrumentor.instrument(tracer_provider=provider)
        try:
            client = OpenAIChatCompletionClient(
                model="gpt-4o-mini", base_url=fake.url, api_key="sk-test", max_retries=0
            )
            planner = AssistantAgent(
                "planner",
                model_client=client,
                handoffs=["researcher"],
                system_message="You are the planner.",
            )
            researcher = AssistantAgent(
                "researcher",
                model_client=client,
                tools=[lookup],
                system_message="You are the researcher.",
                reflect_on_tool_use=False,
                max_tool_iterations=3,
            )
            team = Swarm([planner, researcher], termination_condition=MaxMessageTermination(8))
            return asyncio.run(team.run(task="What is the capital of France?"))
        finally:
            instrumentor.uninstrument()


def test_autogen_swarm_transfer_and_a_failing_researcher(store_receiver) -> None:
    receiver, db = store_receiver
    with pytest.raises(RuntimeError, match="InternalServerError"):
        run_pipeline(receiver.endpoint)
    assert receiver.wait_idle(30)
    spans = dump(db)

    # the create_agent traces are not runs
    [run] = rows(db, "SELECT * FROM runs")
    assert (run["name"], run["status"], run["incomplete"]) == ("Swarm.run_stream", "ERROR", False)
    # the model's 500 in the researcher, not the planner's later ValueError about it
    assert (run["root_cause_agent"], run["root_cause_error"]) == (
        "researcher",
        "openai.InternalServerError",
    ), spans
    assert (run["llm_calls"], run["input_tokens"], run["output_tokens"]) == (4, 300, 60)

    agents = {a["agent_name"]: a for a in rows(db, "SELECT * FROM agents")}
    assert set(agents) == {"planner", "researcher"}
    assert {
        n: (a["invocations"], a["llm_calls"], a["input_tokens"]) for n, a in agents.items()
    } == {
        "planner": (1, 1, 100),
        "researcher": (1, 3, 200),
    }
    i, o = price(db, "gpt-4o-mini")
    assert agents["researcher"]["cost_usd"] == pytest.approx(2 * (100 * i + 20 * o))

    [h] = rows(db, "SELECT * FROM handoffs")
    target = rows(db, "SELECT span_id FROM spans WHERE name = 'invoke_agent researcher'")[0][
        "span_id"
    ]
    # the sender: the planner's agent span (its native one or OpenInference's inside it)
    senders = {r["span_id"] for r in rows(db, "SELECT span_id FROM spans WHERE hoptrace_kind = 'agent' "
                                              "AND agent_name = 'planner'")}  # fmt: skip
    assert (h["from_agent"], h["to_agent"], h["kind"], h["to_span_id"]) == (
        "planner", "researcher", "transfer", target)  # fmt: skip
    assert h["from_span_id"] in senders

    errors = rows(db, "SELECT * FROM errors")
    origins = {
        (e["agent_name"], e["span_name"], e["error_type"]) for e in errors if e["role"] == "origin"
    }
    assert ("researcher", "execute_tool lookup", "ConnectionError") in origins
    assert (
        "researcher",
        "OpenAIChatCompletionClient.create",
        "openai.InternalServerError",
    ) in origins
    assert [e["span_name"] for e in errors if e["role"] == "recovered"] == ["researcher.lookup"], (
        spans
    )
    # the runtime's message spans are transport: no agent view and no role counts them
    kinds = rows(db, "SELECT DISTINCT hoptrace_kind FROM spans WHERE name LIKE 'autogen %'")
    assert kinds == [{"hoptrace_kind": "runtime"}]
    calls = rows(db, "SELECT * FROM llm_calls ORDER BY start_ns")
    assert [(c["agent_name"], c["status"]) for c in calls] == [
        ("planner", "OK"), ("researcher", "OK"), ("researcher", "OK"), ("researcher", "ERROR")]  # fmt: skip
