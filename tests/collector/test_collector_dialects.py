"""Foreign-dialect spans, shaped as ../shared/reference/dialects.md shows, land in hoptrace's columns."""

from __future__ import annotations

from pathlib import Path

import pytest
from collector_helpers import add, sid

import collector
from collector import SpanBatch, SpanStore

T = "1" * 32


def write(db: Path, batch: SpanBatch) -> None:
    SpanStore(db).write(batch)


def spans(db: Path) -> dict[str, dict]:
    rows = collector.query("SELECT * FROM spans", db).to_dicts()
    return {r["span_id"]: r for r in rows}


def test_otel_genai_current_names(db: Path) -> None:
    b = SpanBatch()
    add(b, "agent", None, "invoke_agent planner", 0, 100, trace_id=T, scope="x",
        attrs={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner",
               "gen_ai.conversation.id": "conv-1"})  # fmt: skip
    add(b, "chat", "agent", "chat gpt-4o-mini", 10, 50, trace_id=T, kind="CLIENT", scope="x",
        attrs={"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
               "gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
               "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 500,
               "gen_ai.usage.cache_read.input_tokens": 400})  # fmt: skip
    add(b, "tool", "agent", "execute_tool search", 50, 90, trace_id=T, scope="x",
        attrs={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search",
               "gen_ai.tool.call.arguments": {"q": "x"}})  # fmt: skip
    write(db, b)
    s = spans(db)
    chat = s[sid("chat")]
    assert (chat["operation"], chat["provider"], chat["model"]) == ("chat", "openai", "gpt-4o-mini")
    assert chat["agent_name"] == "planner"  # nearest enclosing agent
    # 600 uncached at 0.15/M, 400 cached at 0.075/M, 500 out at 0.6/M
    assert chat["cost_usd"] == pytest.approx(600 * 0.15e-6 + 400 * 0.075e-6 + 500 * 0.6e-6)
    assert chat["cost_source"] == "computed"
    assert s[sid("tool")]["tool_name"] == "search"
    assert s[sid("tool")]["input_preview"] == '{"q":"x"}'  # non-string values: compact JSON
    assert s[sid("agent")]["conversation_id"] == "conv-1"
    run = collector.query("SELECT agent_count, llm_calls, conversation_id FROM runs", db)
    assert run.row(0) == (1, 1, "conv-1")


def test_otel_genai_legacy_names(db: Path) -> None:
    b = SpanBatch()
    add(b, "chat", None, "chat gpt-4o", 0, 10, trace_id=T, scope="old",
        attrs={"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o",
               "gen_ai.usage.prompt_tokens": 100, "gen_ai.usage.completion_tokens": 10,
               "gen_ai.operation.name": "chat"})  # fmt: skip
    write(db, b)
    chat = spans(db)[sid("chat")]
    assert (chat["provider"], chat["input_tokens"], chat["output_tokens"]) == ("openai", 100, 10)
    assert chat["cost_usd"] is not None
    assert chat["cost_usd"] > 0


def test_openinference(db: Path) -> None:
    b = SpanBatch()
    add(b, "agent", None, "researcher", 0, 100, trace_id=T, scope="openinference",
        attrs={"openinference.span.kind": "AGENT", "agent.name": "researcher",
               "graph.node.id": "researcher", "session.id": "s-9", "input.value": "find it"})  # fmt: skip
    add(b, "llm", "agent", "ChatCompletion", 5, 60, trace_id=T, scope="openinference",
        attrs={"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini",
               "llm.provider": "openai", "llm.system": "openai",
               "llm.token_count.prompt": 300, "llm.token_count.completion": 30,
               "llm.cost.total": 0.5})  # fmt: skip
    add(b, "tool", "agent", "web_search", 60, 95, trace_id=T, scope="openinference",
        attrs={"openinference.span.kind": "TOOL", "tool.name": "web_search",
               "input.value": '{"q": "x"}', "output.value": "results"})  # fmt: skip
    write(db, b)
    s = spans(db)
    assert s[sid("agent")]["agent_name"] == "researcher"
    assert s[sid("agent")]["hoptrace_kind"] == "agent"
    llm = s[sid("llm")]
    assert (llm["model"], llm["provider"], llm["input_tokens"], llm["output_tokens"]) == (
        "gpt-4o-mini",
        "openai",
        300,
        30,
    )
    assert (llm["cost_usd"], llm["cost_source"], llm["agent_name"]) == (
        0.5,
        "reported",
        "researcher",
    )
    assert (s[sid("tool")]["tool_name"], s[sid("tool")]["output_preview"]) == (
        "web_search",
        "results",
    )
    assert collector.query("SELECT conversation_id, llm_calls, cost_usd FROM runs", db).row(0) == (
        "s-9",
        1,
        0.5,
    )


def test_litellm_default_mode_and_failure(db: Path) -> None:
    b = SpanBatch()
    add(b, "req", None, "litellm_request", 0, 40, trace_id=T, scope="litellm",
        attrs={"gen_ai.system": "openai", "gen_ai.operation.name": "acompletion",
               "gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.model": "gpt-4o-mini",
               "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 20,
               "gen_ai.usage.total_tokens": 30, "gen_ai.cost.total_cost": 1.35e-05,
               "gen_ai.cost.input_cost": 1.5e-06, "llm.is_streaming": "False"})  # fmt: skip
    add(b, "raw", "req", "raw_gen_ai_request", 1, 39, trace_id=T, scope="litellm",
        attrs={"llm.openai.stringified_raw_response": "{}"})  # fmt: skip
    t2 = "2" * 32
    add(b, "fail", None, "litellm_request", 0, 5, trace_id=t2, scope="litellm", status="ERROR",
        message="rate limited",
        attrs={"gen_ai.system": "openai", "gen_ai.operation.name": "chat",
               "gen_ai.request.model": "gpt-4o-mini", "error.type": "RateLimitError",
               "error.code": "429", "error.message": "Rate limit reached",
               "error.stack_trace": "Traceback: RateLimitError"},
        events=[{"name": "exception", "time_ns": 0, "attributes": {
            "exception.type": "litellm.RateLimitError", "exception.message": "Rate limit reached"}}])  # fmt: skip
    write(db, b)
    s = spans(db)
    req = s[sid("req")]
    assert (req["hoptrace_kind"], req["operation"], req["provider"]) == (
        "llm",
        "acompletion",
        "openai",
    )
    assert (req["cost_usd"], req["cost_source"]) == (1.35e-05, "reported")
    assert s[sid("raw")]["is_llm_call"] is False
    runs = dict(collector.query("SELECT trace_id, llm_calls FROM runs", db).rows())
    assert runs == {T: 1, t2: 1}
    err = collector.query("SELECT error_type, error_message, role FROM errors", db).rows()
    assert err == [("RateLimitError", "Rate limit reached", "origin")]
    fail = s[sid("fail")]
    assert fail["exception_stacktrace"] == "Traceback: RateLimitError"
    assert fail["cost_usd"] is None  # no tokens: unknown, not 0
    rc = collector.query("SELECT status, root_cause_error FROM runs WHERE trace_id = ?", db, [t2])
    assert rc.row(0) == ("ERROR", "RateLimitError")


def test_pydantic_ai_agent_under_tool_is_a_delegation(db: Path) -> None:
    """The 6-span shape of pydantic-ai 2.68 (orchestrator on TestModel, researcher on FunctionModel)."""
    b = SpanBatch()
    common = {"gen_ai.conversation.id": "019a-uuid"}
    add(b, "orch", None, "invoke_agent orchestrator", 0, 100, trace_id=T, scope="pydantic-ai",
        attrs={"model_name": "test", "agent_name": "orchestrator", "gen_ai.agent.name": "orchestrator",
               "gen_ai.agent.call.id": "r1", "gen_ai.operation.name": "invoke_agent",
               "gen_ai.aggregated_usage.input_tokens": 182, "gen_ai.aggregated_usage.output_tokens": 30,
               "final_result": "done", **common})  # fmt: skip
    chat = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "test", "gen_ai.system": "test",
            "gen_ai.request.model": "test", "gen_ai.response.model": "test", **common}  # fmt: skip
    add(b, "c1", "orch", "chat test", 1, 10, trace_id=T, kind="CLIENT", scope="pydantic-ai",
        attrs={**chat, "gen_ai.agent.name": "orchestrator", "gen_ai.usage.input_tokens": 56,
               "gen_ai.usage.output_tokens": 5})  # fmt: skip
    add(b, "tool", "orch", "execute_tool ask_researcher", 10, 80, trace_id=T, scope="pydantic-ai",
        attrs={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "ask_researcher",
               "gen_ai.tool.call.arguments": '{"question":"a"}', "gen_ai.agent.name": "orchestrator",
               **common})  # fmt: skip
    add(b, "res", "tool", "invoke_agent researcher", 12, 78, trace_id=T, scope="pydantic-ai",
        attrs={"model_name": "function:fake", "agent_name": "researcher",
               "gen_ai.agent.name": "researcher", "gen_ai.operation.name": "invoke_agent",
               "gen_ai.aggregated_usage.input_tokens": 63, "gen_ai.aggregated_usage.output_tokens": 11,
               **common})  # fmt: skip
    add(b, "c2", "res", "chat fake-researcher", 14, 70, trace_id=T, kind="CLIENT", scope="pydantic-ai",
        attrs={**chat, "gen_ai.request.model": "fake-researcher", "gen_ai.provider.name": "function",
               "gen_ai.agent.name": "researcher", "gen_ai.usage.input_tokens": 63,
               "gen_ai.usage.output_tokens": 11})  # fmt: skip
    add(b, "c3", "orch", "chat test", 80, 99, trace_id=T, kind="CLIENT", scope="pydantic-ai",
        attrs={**chat, "gen_ai.agent.name": "orchestrator", "gen_ai.usage.input_tokens": 63,
               "gen_ai.usage.output_tokens": 14})  # fmt: skip
    write(db, b)
    s = spans(db)
    assert s[sid("orch")]["model"] == "test"  # model_name on the agent span
    assert s[sid("orch")]["input_tokens"] == 182  # aggregated usage
    agents = {r["agent_name"]: r for r in collector.query("SELECT * FROM agents", db).to_dicts()}
    assert (agents["orchestrator"]["llm_calls"], agents["orchestrator"]["input_tokens"]) == (2, 119)
    assert (agents["researcher"]["llm_calls"], agents["researcher"]["input_tokens"]) == (1, 63)
    # unknown models: NULL cost, never a 0 that looks known
    assert agents["orchestrator"]["cost_usd"] is None
    assert s[sid("c1")]["cost_usd"] is None
    assert s[sid("c1")]["cost_source"] is None
    run = collector.query("SELECT llm_calls, input_tokens, cost_usd, agent_count FROM runs", db)
    assert run.row(0) == (3, 182, None, 2)  # agent spans' aggregated usage is not counted twice
    h = collector.query(
        "SELECT from_agent, to_agent, kind, from_span_id, to_span_id FROM handoffs", db
    )
    assert h.rows() == [("orchestrator", "researcher", "delegate", sid("orch"), sid("res"))]


def test_openai_agents_via_openinference_handoff(db: Path) -> None:
    b = SpanBatch()
    add(b, "wf", None, "Customer service", 0, 100, trace_id=T, scope="openinference",
        attrs={"openinference.span.kind": "AGENT"})  # fmt: skip
    add(b, "triage", "wf", "triage", 1, 40, trace_id=T, scope="openinference",
        attrs={"openinference.span.kind": "AGENT", "agent.name": "triage", "graph.node.id": "triage"})  # fmt: skip
    add(b, "g1", "triage", "response", 2, 30, trace_id=T, scope="openinference",
        attrs={"openinference.span.kind": "LLM", "llm.system": "openai", "llm.model_name": "gpt-4o-mini",
               "llm.token_count.prompt": 100, "llm.token_count.completion": 10})  # fmt: skip
    add(b, "hand", "triage", "handoff to billing", 31, 32, trace_id=T, scope="openinference",
        attrs={"openinference.span.kind": "TOOL", "input.value": "triage", "output.value": "billing"})  # fmt: skip
    add(b, "billing", "wf", "billing", 41, 99, trace_id=T, scope="openinference",
        attrs={"openinference.span.kind": "AGENT", "agent.name": "billing", "graph.node.id": "billing",
               "graph.node.parent_id": "triage"})  # fmt: skip
    write(db, b)
    h = collector.query(
        "SELECT from_agent, to_agent, kind, from_span_id, to_span_id FROM handoffs", db
    )
    assert h.rows() == [("triage", "billing", "transfer", sid("triage"), sid("billing"))]
    s = spans(db)
    assert s[sid("g1")]["agent_name"] == "triage"
    assert s[sid("wf")]["agent_name"] is None  # the trace's root is not an agent
    assert collector.query("SELECT agent_count FROM runs", db).row(0) == (2,)


def test_openai_agents_via_otel_contrib_agent_handoff(db: Path) -> None:
    b = SpanBatch()
    both = {"gen_ai.provider.name": "openai", "gen_ai.system": "openai"}
    add(b, "wf", None, "Agent workflow", 0, 100, trace_id=T, kind="SERVER", scope="contrib",
        attrs={"gen_ai.operation.name": "invoke_agent", **both})  # fmt: skip
    add(b, "triage", "wf", "invoke_agent triage", 1, 40, trace_id=T, kind="CLIENT", scope="contrib",
        attrs={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "triage", **both})  # fmt: skip
    add(b, "hand", "triage", "agent_handoff", 31, 32, trace_id=T, scope="contrib",
        attrs={"gen_ai.operation.name": "agent_handoff", "gen_ai.handoff.from_agent": "triage",
               "gen_ai.handoff.to_agent": "billing", **both})  # fmt: skip
    add(b, "billing", "wf", "invoke_agent billing", 41, 99, trace_id=T, kind="CLIENT", scope="contrib",
        attrs={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "billing", **both})  # fmt: skip
    add(b, "chat", "billing", "chat gpt-4o", 45, 90, trace_id=T, kind="CLIENT", scope="contrib",
        attrs={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
               "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 10, **both})  # fmt: skip
    write(db, b)
    h = collector.query(
        "SELECT from_agent, to_agent, kind, from_span_id, to_span_id FROM handoffs", db
    )
    assert h.rows() == [("triage", "billing", "transfer", sid("triage"), sid("billing"))]
    assert spans(db)[sid("chat")]["agent_name"] == "billing"
    a = collector.query("SELECT agent_name, llm_calls FROM agents ORDER BY agent_name", db)
    assert a.rows() == [("billing", 1), ("triage", 0)]


def test_unmarked_errors_get_roles_and_root_cause(db: Path) -> None:
    """Foreign spans without hoptrace markers: origin = ERROR without ERROR below."""
    b = SpanBatch()
    add(b, "root", None, "run", 0, 100, trace_id=T, scope="x", status="ERROR",
        attrs={"openinference.span.kind": "CHAIN"})  # fmt: skip
    add(b, "agent", "root", "invoke_agent worker", 5, 95, trace_id=T, scope="x", status="ERROR",
        attrs={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "worker"})  # fmt: skip
    add(b, "retry", "agent", "execute_tool fetch", 10, 30, trace_id=T, scope="x", status="OK",
        attrs={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "fetch"})  # fmt: skip
    add(b, "try1", "retry", "http GET", 11, 15, trace_id=T, scope="x", status="ERROR",
        attrs={"error.type": "ConnectionError"})  # fmt: skip
    add(b, "llm", "agent", "chat gpt-4o", 40, 90, trace_id=T, scope="x", status="ERROR",
        attrs={"gen_ai.operation.name": "chat", "error.type": "BadRequestError"},
        message="context too long")  # fmt: skip
    write(db, b)
    err = {r[0]: r[1:] for r in collector.query(
        "SELECT span_id, role, cause_span_id, error_type FROM errors", db).rows()}  # fmt: skip
    assert err[sid("llm")] == ("origin", None, "BadRequestError")
    assert err[sid("try1")] == ("origin", None, "ConnectionError")
    assert err[sid("retry")] == ("recovered", sid("try1"), "ConnectionError")
    assert err[sid("agent")][:2] == ("propagated", sid("llm"))  # latest-ending ERROR child
    assert err[sid("root")][:2] == ("propagated", sid("llm"))
    run = collector.query(
        "SELECT status, root_cause_agent, root_cause_error, root_cause_message FROM runs", db
    )
    assert run.row(0) == ("ERROR", "worker", "BadRequestError", "context too long")


def test_unknown_model_cost_is_null_known_model_computed(db: Path) -> None:
    b = SpanBatch()
    add(b, "a", None, "chat mystery", 0, 1, trace_id=T,
        attrs={"gen_ai.operation.name": "chat", "gen_ai.request.model": "mystery-model-9000",
               "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 10})  # fmt: skip
    for i, model in enumerate(
        ["openai/gpt-4o-mini", "gemini/gemini-2.5-flash", "claude-sonnet-4-5-20250929"]
    ):
        add(b, f"k{i}", None, f"chat {model}", 0, 1, trace_id=T,
            attrs={"gen_ai.operation.name": "chat", "gen_ai.request.model": model,
                   "gen_ai.usage.input_tokens": 1_000_000, "gen_ai.usage.output_tokens": 0})  # fmt: skip
    write(db, b)
    s = spans(db)
    assert (s[sid("a")]["cost_usd"], s[sid("a")]["cost_source"]) == (None, None)
    assert [s[sid(f"k{i}")]["cost_usd"] for i in range(3)] == pytest.approx([0.15, 0.30, 3.0])
    prices = collector.query(
        "SELECT input_cost_per_token FROM model_prices WHERE model = 'gpt-4o-mini'", db)  # fmt: skip
    assert prices.row(0) == (pytest.approx(0.15e-6),)


@pytest.mark.parametrize("mode", ["pass_control", "return_to_caller"])
def test_otel_genai_upstream_transfer_tool(db: Path, mode: str) -> None:
    """`execute_tool` + gen_ai.transfer.target.name: one handoff edge whichever the shape."""
    b = SpanBatch()
    add(b, "wf", None, "invoke_workflow ship", 0, 100, trace_id=T, scope="x",
        attrs={"gen_ai.operation.name": "invoke_workflow"})  # fmt: skip
    add(b, "planner", "wf", "invoke_agent planner", 1, 50, trace_id=T, scope="x",
        attrs={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"})  # fmt: skip
    add(b, "xfer", "planner", "execute_tool transfer_to_coder", 10, 45, trace_id=T, scope="x",
        attrs={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "transfer_to_coder",
               "gen_ai.transfer.mode": mode, "gen_ai.transfer.target.name": "coder"})  # fmt: skip
    parent, start = ("xfer", 20) if mode == "return_to_caller" else ("wf", 60)
    add(b, "coder", parent, "invoke_agent coder", start, start + 20, trace_id=T, scope="x",
        attrs={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "coder"})  # fmt: skip
    write(db, b)
    h = collector.query("SELECT from_agent, to_agent, from_span_id, to_span_id FROM handoffs", db)
    assert h.rows() == [("planner", "coder", sid("planner"), sid("coder"))]
