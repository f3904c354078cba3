"""smolagents through openinference-instrumentation-smolagents: a manager with a managed agent.

Ground truth, two runs: the manager delegates to the researcher (a managed agent, called
as a tool), whose `lookup` tool fails once (smolagents feeds the error back, the model
retries); the first run ends with the manager's final answer, in the second the manager's
model answers 500 and `run()` raises. smolagents' instrumentation never ends the run span
when `run()` raises, so the second run's root never arrives.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ._fake_llm import fake_openai, text, tool_call, tool_names
from ._support import dump, price, provider_to, rows


def _respond(body: dict[str, Any]) -> dict[str, Any] | int:
    tools = tool_names(body)
    contents = [json.dumps(m.get("content")) for m in body["messages"]]
    if "researcher" in tools:  # the manager
        if not any("Paris" in c for c in contents):
            return tool_call("researcher", {"task": "Find the capital of France."})
        if any("STRICT" in c for c in contents):
            return 500
        return tool_call("final_answer", {"answer": "Paris"})
    if "lookup" in tools:  # the researcher
        n = sum(
            "lookup" in str(m.get("content")) for m in body["messages"] if m.get("role") != "system"
        )
        if n < 2:
            return tool_call("lookup", {"query": "capital of France"}, call_id=f"call_lookup_{n}")
        return tool_call("final_answer", {"answer": "Paris"})
    return text("?")


def run_pipeline(endpoint: str) -> list[Any]:
    from openinference.instrumentation.smolagents import SmolagentsInstrumentor
    from opentelemetry import context as otel_context
    from smolagents import OpenAIServerModel, ToolCallingAgent, tool

    calls = {"n": 0}

    @tool
    def lookup(query: str) -> str:
        """Look a fact up.

        Args:
            query: what to look up.
        """
        calls["n"] += 1
        if calls["n"] % 2 == 1:
            raise ConnectionError("search backend timed out")
        return "Paris"

    provider = provider_to(endpoint, "smolagents-app")
    instrumentor = SmolagentsInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    out: list[Any] = []
    try:
        with fake_openai(_respond) as fake:
            model = OpenAIServerModel(model_id="gpt-4o-mini", api_base=fake.url, api_key="sk-test",
                                      client_kwargs={"max_retries": 0})  # fmt: skip
            for task in (
                "What is the capital of France?",
                "STRICT: what is the capital of France?",
            ):
                researcher = ToolCallingAgent(tools=[lookup], model=model, name="researcher",
                                              description="Looks facts up.", max_steps=4)  # fmt: skip
                manager = ToolCallingAgent(tools=[], model=model, managed_agents=[researcher],
                                           name="manager", max_steps=4)  # fmt: skip
                saved = otel_context.get_current()
                try:
                    out.append(manager.run(task))
                except Exception as exc:  # the second run fails: that is the point
                    out.append(exc)
                finally:
                    # the instrumentation leaves its run span current when run() raises:
                    # later spans of this thread (the next test's) would become its children
                    otel_context.attach(saved)
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
    return out


def test_smolagents_manager_and_managed_agent(store_receiver) -> None:
    from smolagents.utils import AgentGenerationError

    receiver, db = store_receiver
    ok, failed = run_pipeline(receiver.endpoint)
    assert ok == "Paris"
    assert isinstance(failed, AgentGenerationError)
    assert receiver.wait_idle(30)
    spans = dump(db)

    runs = rows(db, "SELECT * FROM runs ORDER BY start_ns")
    assert len(runs) == 2, spans
    good, bad = runs
    assert (good["name"], good["status"], good["incomplete"]) == ("manager", "OK", False), spans
    # the root never arrived: one run all the same, named after the service, marked incomplete
    assert (bad["name"], bad["status"], bad["incomplete"]) == ("smolagents-app", "ERROR", True), (
        spans
    )
    assert bad["root_cause_error"] == "openai.InternalServerError"
    assert bad["root_cause_span_id"] in {
        c["span_id"] for c in rows(db, "SELECT span_id FROM llm_calls WHERE status = 'ERROR'")
    }

    t_good, t_bad = good["trace_id"], bad["trace_id"]
    agents = {
        a["agent_name"]: a for a in rows(db, f"SELECT * FROM agents WHERE trace_id = '{t_good}'")
    }
    assert set(agents) == {"manager", "researcher"}, spans
    assert (agents["manager"]["llm_calls"], agents["researcher"]["llm_calls"]) == (2, 3)
    assert (agents["researcher"]["input_tokens"], agents["researcher"]["output_tokens"]) == (
        300,
        60,
    )
    i, o = price(db, "gpt-4o-mini")
    assert agents["researcher"]["cost_usd"] == pytest.approx(3 * (100 * i + 20 * o))
    assert good["cost_usd"] == pytest.approx(5 * (100 * i + 20 * o))
    assert agents["manager"]["inclusive_cost_usd"] == pytest.approx(5 * (100 * i + 20 * o))

    handoffs = rows(db, f"SELECT * FROM handoffs WHERE trace_id = '{t_good}'")
    researcher_span = rows(db, f"SELECT span_id FROM spans WHERE trace_id = '{t_good}' "
                               "AND hoptrace_kind = 'agent' AND agent_name = 'researcher'")  # fmt: skip
    assert [(h["from_agent"], h["to_agent"], h["kind"], h["to_span_id"]) for h in handoffs] == [
        ("manager", "researcher", "delegate", researcher_span[0]["span_id"])
    ]

    errors = rows(db, f"SELECT * FROM errors WHERE trace_id = '{t_good}'")
    origins = [(e["agent_name"], e["error_type"]) for e in errors if e["role"] == "origin"]
    assert origins == [("researcher", "ConnectionError")]
    assert [e["span_name"] for e in errors if e["role"] == "recovered"] == ["researcher.run"]

    bad_errors = rows(db, f"SELECT * FROM errors WHERE trace_id = '{t_bad}'")
    assert {(e["error_type"], e["role"]) for e in bad_errors if e["role"] != "recovered"} >= {
        ("openai.InternalServerError", "origin"),
        ("smolagents.utils.AgentGenerationError", "propagated"),
    }
    calls = rows(db, f"SELECT * FROM llm_calls WHERE trace_id = '{t_good}' ORDER BY start_ns")
    assert [c["agent_name"] for c in calls] == [
        "manager",
        "researcher",
        "researcher",
        "researcher",
        "manager",
    ]
    assert {(c["model"], c["input_tokens"], c["output_tokens"]) for c in calls} == {
        ("gpt-4o-mini", 100, 20)
    }
