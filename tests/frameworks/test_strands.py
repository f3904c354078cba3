"""Strands Agents (native OTel GenAI conventions): a Swarm whose planner hands off to a researcher.

Ground truth: the planner calls the Swarm's `handoff_to_agent` tool for the researcher; the
researcher's `lookup` tool fails once (Strands hands the error to the model, which
retries), then the researcher's model answers 500 and the swarm fails (it returns a FAILED
result rather than raising).
"""

from __future__ import annotations

from typing import Any

import pytest

from ._fake_llm import fake_openai, system_text, text, tool_call
from ._support import dump, global_provider_to, price, rows


def _respond(body: dict[str, Any]) -> dict[str, Any] | int:
    msgs = body["messages"]
    prompt = system_text(body)
    if "You are the planner" in prompt:
        if any(m.get("tool_call_id") == "call_handoff" for m in msgs):
            return text("Handed over to the researcher.")
        return tool_call("handoff_to_agent", {"agent_name": "researcher", "message": "find it"},
                         call_id="call_handoff")  # fmt: skip
    if "You are the researcher" in prompt:
        n = sum(1 for m in msgs if m.get("role") == "tool"
                and str(m.get("tool_call_id", "")).startswith("call_lookup"))  # fmt: skip
        if n < 2:
            return tool_call("lookup", {"query": "capital of France"}, call_id=f"call_lookup_{n}")
        return 500
    return text("?")


def run_pipeline(endpoint: str) -> Any:
    from strands import Agent, tool
    from strands.models.openai import OpenAIModel
    from strands.multiagent import Swarm

    calls = {"n": 0}

    @tool
    def lookup(query: str) -> str:
        """Look a fact up.

        Args:
            query: what to look up.
        """
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("search backend timed out")
        return "Paris"

    with global_provider_to(endpoint, "strands-app"), fake_openai(_respond) as fake:

        def model() -> Any:
            return OpenAIModel(client_args={"api_key": "sk-test", "base_url": fake.url, "max_retries": 0},
                               model_id="gpt-4o-mini")  # fmt: skip

        planner = Agent(name="planner", model=model(), system_prompt="You are the planner.",
                        callback_handler=None)  # fmt: skip
        researcher = Agent(name="researcher", model=model(), system_prompt="You are the researcher.",
                           tools=[lookup], description="Looks facts up.", callback_handler=None)  # fmt: skip
        swarm = Swarm([planner, researcher], entry_point=planner)
        return swarm("What is the capital of France?")


def test_strands_swarm_handoff_and_a_failing_researcher(store_receiver) -> None:
    from strands.multiagent.base import Status

    receiver, db = store_receiver
    result = run_pipeline(receiver.endpoint)
    assert result.status == Status.FAILED
    assert receiver.wait_idle(30)
    spans = dump(db)

    [run] = rows(db, "SELECT * FROM runs")
    assert (run["name"], run["status"], run["incomplete"]) == ("invoke_swarm", "ERROR", False)
    assert (run["root_cause_agent"], run["root_cause_error"]) == (
        "researcher",
        "openai.InternalServerError",
    ), spans
    assert (run["llm_calls"], run["input_tokens"], run["output_tokens"]) == (5, 400, 80)
    i, o = price(db, "gpt-4o-mini")
    assert run["cost_usd"] == pytest.approx(4 * (100 * i + 20 * o))

    agents = {a["agent_name"]: a for a in rows(db, "SELECT * FROM agents")}
    assert {
        n: (a["invocations"], a["llm_calls"], a["input_tokens"]) for n, a in agents.items()
    } == {
        "planner": (1, 2, 200),
        "researcher": (1, 3, 200),
    }
    # handoff_to_agent without captured arguments: the target is the next agent to start
    [h] = rows(db, "SELECT * FROM handoffs")
    ids = {
        r["name"]: r["span_id"]
        for r in rows(db, "SELECT name, span_id FROM spans WHERE hoptrace_kind = 'agent'")
    }
    assert (h["from_agent"], h["to_agent"], h["kind"], h["from_span_id"], h["to_span_id"]) == (
        "planner", "researcher", "transfer", ids["invoke_agent planner"], ids["invoke_agent researcher"])  # fmt: skip

    errors = rows(db, "SELECT * FROM errors")
    assert sorted((e["span_name"], e["error_type"]) for e in errors if e["role"] == "origin") == [
        ("chat", "openai.InternalServerError"), ("execute_tool lookup", "ConnectionError")]  # fmt: skip
    assert [(e["agent_name"], e["span_name"]) for e in errors if e["role"] == "recovered"] == [
        ("researcher", "execute_event_loop_cycle")]  # fmt: skip
    calls = rows(db, "SELECT * FROM llm_calls ORDER BY start_ns")
    assert [(c["agent_name"], c["status"]) for c in calls] == [
        ("planner", "OK"), ("planner", "OK"), ("researcher", "OK"), ("researcher", "OK"), ("researcher", "ERROR")]  # fmt: skip
