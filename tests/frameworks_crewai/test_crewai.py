"""CrewAI through openinference-instrumentation-crewai (its event-listener mode, which also
traces the model calls): a hierarchical crew whose manager delegates to a researcher.

Ground truth, two runs. The crew's manager ("Crew Manager", made by CrewAI for
`Process.hierarchical`) calls the `delegate_work_to_coworker` tool for the researcher,
who runs inside that tool (a child, not a sibling); the researcher's `lookup` tool fails
once (CrewAI hands the error to the model, which retries) and the manager answers. In the
second run the researcher's model answers 500 and `kickoff()` raises.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from frameworks._fake_llm import fake_openai, system_text, text, tool_call
from frameworks._support import dump, price, provider_to, rows

MANAGER = "manager"


def _respond(body: dict[str, Any]) -> dict[str, Any] | int:
    msgs = body["messages"]
    prompt = system_text(body)
    strict = "STRICT" in json.dumps(msgs)
    if f"You are {MANAGER}" in prompt:
        if not any(m.get("role") == "tool" for m in msgs):
            task = ("STRICT: " if strict else "") + "Find the capital of France."
            return tool_call("delegate_work_to_coworker", {"task": task, "context": "geography",
                             "coworker": "researcher"}, call_id="call_delegate")  # fmt: skip
        return 500 if strict else text("Paris")
    if "You are researcher" in prompt:
        if strict:
            return 500
        n = sum(1 for m in msgs if m.get("role") == "tool")
        if n < 2:
            return tool_call("lookup", {"query": "capital of France"}, call_id=f"call_lookup_{n}")
        return text("Paris")
    return text("?")


@pytest.fixture
def crewai_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """CrewAI writes under ~/.config and ~/.local/share and may prompt after a failed run:
    everything under tmp_path, its telemetry and its own tracing off. Not OTEL_SDK_DISABLED:
    the OTel SDK reads it too, and it would silence the provider under test."""
    home = tmp_path / "home"
    for var, sub in (("HOME", ""), ("XDG_CONFIG_HOME", ".config"), ("XDG_DATA_HOME", ".local/share"),
                     ("XDG_CACHE_HOME", ".cache"), ("CREWAI_STORAGE_DIR", "crewai")):  # fmt: skip
        (home / sub).mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.setenv("CREWAI_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("CREWAI_TRACING_ENABLED", "false")
    monkeypatch.setenv("CREWAI_TESTING", "true")  # no "view your traces?" prompt
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    return home


def run_pipeline(endpoint: str) -> list[Any]:
    from crewai import LLM, Agent, Crew, Process, Task
    from crewai.tools import tool
    from openinference.instrumentation.crewai import CrewAIInstrumentor

    calls = {"n": 0}

    @tool("lookup")
    def lookup(query: str) -> str:
        """Look a fact up."""
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("search backend timed out")
        return "Paris"

    provider = provider_to(endpoint, "crewai-app")
    instrumentor = CrewAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider, use_event_listener=True)
    out: list[Any] = []
    try:
        with fake_openai(_respond) as fake:
            llm = LLM(
                model="openai/gpt-4o-mini", base_url=fake.url, api_key="sk-test", max_retries=0
            )
            for question in (
                "What is the capital of France?",
                "STRICT: what is the capital of France?",
            ):
                researcher = Agent(role="researcher", goal="Find facts.", backstory="A librarian.",
                                   tools=[lookup], llm=llm, allow_delegation=False,
                                   max_retry_limit=0)  # fmt: skip
                writer = Agent(role="writer", goal="Write answers.", backstory="A journalist.",
                               llm=llm, allow_delegation=False)  # fmt: skip
                # CrewAI retries a failed task (max_retry_limit=2): once keeps the truth short
                manager = Agent(role=MANAGER, goal="Get the question answered.", llm=llm,
                                backstory="You are manager.", allow_delegation=True,
                                max_retry_limit=0)  # fmt: skip
                task = Task(description=question, expected_output="a city")
                crew = Crew(agents=[researcher, writer], tasks=[task], process=Process.hierarchical,
                            manager_agent=manager, verbose=False)  # fmt: skip
                try:
                    out.append(str(crew.kickoff()))
                except Exception as exc:  # the second run fails: that is the point
                    out.append(exc)
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
    return out


def test_crewai_hierarchical_delegation(store_receiver, crewai_home: Path) -> None:
    receiver, db = store_receiver
    ok, failed = run_pipeline(receiver.endpoint)
    assert ok == "Paris"
    assert isinstance(failed, Exception), failed
    assert receiver.wait_idle(30)
    spans = dump(db)

    runs = rows(db, "SELECT * FROM runs ORDER BY start_ns")
    assert len(runs) == 2, spans
    good, bad = runs
    assert (good["name"], good["status"], good["incomplete"]) == ("crew.kickoff", "OK", False)
    assert (bad["name"], bad["status"], bad["incomplete"]) == ("crew.kickoff", "ERROR", False)
    # the researcher's failure came back to the manager as the delegation's output; the
    # manager's own model failing is what failed the run
    failed_calls = {
        c["agent_name"]: c["span_id"]
        for c in rows(
            db, f"SELECT * FROM llm_calls WHERE trace_id = '{bad['trace_id']}' AND status = 'ERROR'"
        )
    }
    assert set(failed_calls) == {MANAGER, "researcher"}, spans
    assert (bad["root_cause_agent"], bad["root_cause_span_id"]) == (MANAGER, failed_calls[MANAGER])
    # CrewAI's events carry an error's message only, never its type
    assert bad["root_cause_error"] is None
    assert "Error code: 500" in bad["root_cause_message"]

    t_good, t_bad = good["trace_id"], bad["trace_id"]
    i, o = price(db, "gpt-4o-mini")
    agents = {
        a["agent_name"]: a for a in rows(db, f"SELECT * FROM agents WHERE trace_id = '{t_good}'")
    }
    assert {n: (a["invocations"], a["llm_calls"], a["input_tokens"], a["output_tokens"])
            for n, a in agents.items()} == {MANAGER: (1, 2, 200, 40), "researcher": (1, 3, 300, 60)}  # fmt: skip
    assert agents["researcher"]["cost_usd"] == pytest.approx(3 * (100 * i + 20 * o))
    assert agents[MANAGER]["inclusive_cost_usd"] == pytest.approx(5 * (100 * i + 20 * o))
    assert (good["llm_calls"], good["input_tokens"], good["output_tokens"]) == (5, 500, 100)
    assert good["cost_usd"] == pytest.approx(5 * (100 * i + 20 * o))
    assert (bad["llm_calls"], bad["input_tokens"], bad["output_tokens"]) == (3, 100, 20)

    # the coworker runs inside the delegation tool: a delegation to the researcher's span
    for trace_id in (t_good, t_bad):
        ids = {r["agent_name"]: r["span_id"]
               for r in rows(db, "SELECT agent_name, span_id FROM spans "
                                 f"WHERE trace_id = '{trace_id}' AND hoptrace_kind = 'agent'")}  # fmt: skip
        handoffs = rows(db, f"SELECT * FROM handoffs WHERE trace_id = '{trace_id}'")
        assert [(h["from_agent"], h["to_agent"], h["kind"], h["from_span_id"], h["to_span_id"])
                for h in handoffs] == [(MANAGER, "researcher", "delegate", ids[MANAGER], ids["researcher"])]  # fmt: skip
    [delegation] = rows(db, f"SELECT * FROM handoffs WHERE trace_id = '{t_good}'")
    assert delegation["payload_preview"].startswith("Find the capital of France.")

    errors = rows(db, f"SELECT * FROM errors WHERE trace_id = '{t_good}' ORDER BY start_ns")
    assert [(e["agent_name"], e["span_name"], e["role"]) for e in errors] == [
        ("researcher", "researcher.Find the capital of France..execute", "recovered"),
        ("researcher", "lookup.run", "origin"),
    ]
    assert "search backend timed out" in errors[1]["error_message"]
    bad_errors = rows(db, f"SELECT * FROM errors WHERE trace_id = '{t_bad}' ORDER BY start_ns")
    assert [(e["agent_name"], e["span_name"], e["role"]) for e in bad_errors] == [
        (None, "crew.kickoff", "propagated"),
        (MANAGER, "manager.STRICT: what is the capital of France?.execute", "propagated"),
        (MANAGER, "delegate_work_to_coworker.run", "recovered"),
        ("researcher", "researcher.STRICT: Find the capital of France..execute", "propagated"),
        ("researcher", "gpt-4o-mini.llm_call", "origin"),
        (MANAGER, "gpt-4o-mini.llm_call", "origin"),
    ], spans

    calls = rows(db, f"SELECT * FROM llm_calls WHERE trace_id = '{t_good}' ORDER BY start_ns")
    assert [c["agent_name"] for c in calls] == [
        MANAGER,
        "researcher",
        "researcher",
        "researcher",
        MANAGER,
    ]
    assert {(c["model"], c["input_tokens"], c["output_tokens"], c["status"]) for c in calls} == {
        ("gpt-4o-mini", 100, 20, "OK")
    }
