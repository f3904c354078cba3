"""Google ADK (native OTel): a coordinator that transfers to a researcher sub-agent.

Ground truth: the coordinator calls ADK's `transfer_to_agent` tool for the researcher (which
then runs as the coordinator's sibling); the researcher's `lookup` tool fails once (an
`on_tool_error_callback` hands the error to the model, which retries), then the
researcher's model answers 500 and the run raises. The model is ADK's LiteLlm wrapper
talking to the fake OpenAI server.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ._fake_llm import fake_openai, system_text, text, tool_call
from ._support import dump, global_provider_to, price, rows


def _respond(body: dict[str, Any]) -> dict[str, Any] | int:
    msgs = body["messages"]
    sysm = system_text(body)
    if "You are the coordinator" in sysm:
        return tool_call("transfer_to_agent", {"agent_name": "researcher"}, call_id="call_transfer")
    if "You are the researcher" in sysm:
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
    from google.adk.agents import LlmAgent
    from google.adk.models.lite_llm import LiteLlm
    from google.adk.runners import InMemoryRunner
    from google.genai import types

    calls = {"n": 0}

    def lookup(query: str) -> str:
        """Look a fact up."""
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("search backend timed out")
        return "Paris"

    def on_tool_error(tool: Any, args: dict, tool_context: Any, error: Exception) -> dict:
        return {"error": f"{type(error).__name__}: {error}"}

    async def main(url: str) -> Any:
        model = LiteLlm(
            model="openai/gpt-4o-mini",
            api_base=url,
            api_key="sk-test",
            max_retries=0,
            num_retries=0,
        )
        researcher = LlmAgent(
            name="researcher",
            model=model,
            instruction="You are the researcher.",
            description="Looks facts up.",
            tools=[lookup],
            on_tool_error_callback=on_tool_error,
        )
        coordinator = LlmAgent(
            name="coordinator",
            model=model,
            instruction="You are the coordinator.",
            sub_agents=[researcher],
        )
        runner = InMemoryRunner(agent=coordinator, app_name="adk-app")
        session = await runner.session_service.create_session(app_name="adk-app", user_id="u")
        out = []
        msg = types.Content(role="user", parts=[types.Part(text="What is the capital of France?")])
        async for event in runner.run_async(user_id="u", session_id=session.id, new_message=msg):
            out.append(event)
        return out

    with global_provider_to(endpoint, "adk-app"), fake_openai(_respond) as fake:
        return asyncio.run(main(fake.url))


def test_adk_transfer_to_agent_and_a_failing_researcher(store_receiver) -> None:
    import litellm

    receiver, db = store_receiver
    with pytest.raises(litellm.exceptions.InternalServerError):
        run_pipeline(receiver.endpoint)
    assert receiver.wait_idle(30)
    spans = dump(db)

    [run] = rows(db, "SELECT * FROM runs")
    assert (run["name"], run["status"], run["incomplete"]) == ("coordinator", "ERROR", False)
    assert (run["root_cause_agent"], run["root_cause_error"]) == (
        "researcher", "litellm.exceptions.InternalServerError"), spans  # fmt: skip
    assert (run["llm_calls"], run["input_tokens"], run["output_tokens"]) == (4, 300, 60)
    i, o = price(db, "gpt-4o-mini")
    assert run["cost_usd"] == pytest.approx(3 * (100 * i + 20 * o))

    agents = {a["agent_name"]: a for a in rows(db, "SELECT * FROM agents")}
    assert {
        n: (a["invocations"], a["llm_calls"], a["input_tokens"]) for n, a in agents.items()
    } == {
        "coordinator": (1, 1, 100),
        "researcher": (1, 3, 200),
    }

    # transfer_to_agent without captured arguments: the target is the next agent to start
    [h] = rows(db, "SELECT * FROM handoffs")
    ids = {
        r["name"]: r["span_id"]
        for r in rows(db, "SELECT name, span_id FROM spans WHERE hoptrace_kind = 'agent'")
    }
    assert (h["from_agent"], h["to_agent"], h["kind"], h["from_span_id"], h["to_span_id"]) == (
        "coordinator", "researcher", "transfer", ids["invoke_agent coordinator"],
        ids["invoke_agent researcher"])  # fmt: skip

    errors = rows(db, "SELECT * FROM errors ORDER BY start_ns")
    assert [(e["agent_name"], e["span_name"], e["role"]) for e in errors if e["agent_name"]] == [
        ("researcher", "invoke_agent researcher", "propagated"),
        ("researcher", "execute_tool lookup", "origin"),
        ("researcher", "generate_content openai/gpt-4o-mini", "origin"),
    ]
    calls = rows(db, "SELECT * FROM llm_calls ORDER BY start_ns")
    assert [(c["agent_name"], c["status"]) for c in calls] == [
        ("coordinator", "UNSET"), ("researcher", "UNSET"), ("researcher", "UNSET"), ("researcher", "ERROR")]  # fmt: skip
