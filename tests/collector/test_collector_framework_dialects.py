"""The multi-agent frameworks' span shapes (issue 12), as tests/frameworks records them from the
real libraries, land as the right agents, transfers, runtime noise and run outcomes. These run
in the default environment; tests/frameworks runs the libraries themselves."""

from __future__ import annotations

import json
from pathlib import Path

from collector_helpers import add, sid

import collector
from collector import SpanBatch, SpanStore
from tracer import semconv as sc

T = "2" * 32
OI = "openinference.span.kind"


def q(db: Path, sql: str) -> list[tuple]:
    return collector.query(sql, db).rows()


def lg(node: str, ns: str, inner: bool = False, **extra: str) -> str:
    md = {"langgraph_node": node, "langgraph_checkpoint_ns": ns, **extra}
    if inner:
        md["checkpoint_ns"] = ns.split("|")[0]
    return json.dumps(md)


def test_langgraph_supervisor_nodes_transfers_and_parent_command(db: Path) -> None:
    parent_command = [{"name": "exception", "time_ns": 1,
                       "attributes": {"exception.type": "langgraph.errors.ParentCommand",
                                      "exception.message": "Command(graph='__parent__')"}}]  # fmt: skip
    b = SpanBatch()
    add(b, "root", None, "LangGraph", 0, 100, trace_id=T, scope="oi", attrs={OI: "CHAIN"})
    add(b, "sup", "root", "supervisor", 1, 30, trace_id=T, scope="oi", status="OK", events=parent_command,
        attrs={OI: "CHAIN", "metadata": lg("supervisor", "supervisor:1")})  # fmt: skip
    add(b, "sup2", "sup", "supervisor", 2, 29, trace_id=T, scope="oi", status="OK",
        attrs={OI: "CHAIN", "metadata": lg("supervisor", "supervisor:1", inner=True)})  # fmt: skip
    add(b, "node", "sup2", "agent", 3, 20, trace_id=T, scope="oi",
        attrs={OI: "AGENT", "metadata": lg("agent", "supervisor:1|agent:2", inner=True)})  # fmt: skip
    add(b, "llm", "node", "ChatOpenAI", 4, 19, trace_id=T, scope="oi",
        attrs={OI: "LLM", "llm.model_name": "gpt-4o-mini", "llm.token_count.prompt": 10,
               "llm.token_count.completion": 2})  # fmt: skip
    add(b, "tools", "sup2", "tools", 21, 28, trace_id=T, scope="oi", status="OK", events=parent_command,
        attrs={OI: "CHAIN", "metadata": lg("tools", "supervisor:1|tools:3", inner=True)})  # fmt: skip
    add(b, "xfer", "tools", "transfer_to_researcher", 22, 27, trace_id=T, scope="oi", status="OK",
        attrs={OI: "TOOL", "tool.name": "transfer_to_researcher",
               "metadata": lg("tools", "supervisor:1|tools:3", inner=True,
                              __handoff_destination="researcher")})  # fmt: skip
    add(b, "res", "root", "researcher", 31, 99, trace_id=T, scope="oi",
        attrs={OI: "CHAIN", "metadata": lg("researcher", "researcher:4")})  # fmt: skip
    SpanStore(db).write(b)
    kinds = dict(q(db, "SELECT span_id, hoptrace_kind FROM spans"))
    assert [kinds[sid(s)] for s in ("sup", "sup2", "node", "tools", "xfer", "res")] == [
        "agent", "span", "workflow", "span", "handoff", "agent"]  # fmt: skip
    assert q(db, "SELECT agent_name, invocations, llm_calls FROM agents ORDER BY agent_name") == [
        ("researcher", 1, 0), ("supervisor", 1, 1)]  # fmt: skip
    assert q(db, "SELECT from_agent, to_agent, kind, from_span_id, to_span_id FROM handoffs") == [
        ("supervisor", "researcher", "transfer", sid("sup"), sid("res"))]  # fmt: skip
    assert q(db, "SELECT count(*) FROM spans WHERE error_type IS NOT NULL") == [(0,)]
    assert q(db, "SELECT status, incomplete FROM runs") == [("OK", False)]


def test_autogen_named_agents_runtime_noise_and_create_agent(db: Path) -> None:
    b = SpanBatch()
    add(b, "mk", None, "create_agent planner", 0, 1, trace_id="3" * 32, scope="autogen-core",
        attrs={"gen_ai.operation.name": "create_agent", "gen_ai.agent.name": "planner"})  # fmt: skip
    add(b, "team", None, "Swarm.run_stream", 0, 100, trace_id=T, scope="oi", status="ERROR",
        attrs={OI: "CHAIN"}, message="InternalServerError: boom")  # fmt: skip
    add(b, "inv", "team", "invoke_agent planner", 1, 40, trace_id=T, scope="autogen-core",
        attrs={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"})  # fmt: skip
    add(b, "oi", "inv", "planner.on_messages_stream", 2, 39, trace_id=T, scope="oi", status="OK",
        attrs={OI: "AGENT", "graph.node.id": "planner", "graph.node.parent_id": "start"})  # fmt: skip
    add(b, "t_oi", "oi", "planner.transfer_to_researcher", 10, 20, trace_id=T, scope="oi", status="OK",
        attrs={OI: "TOOL", "tool.name": "transfer_to_researcher", "tool.description": "Handoff to researcher.",
               "output.value": "Transferred to researcher, adopting the role of researcher immediately."})  # fmt: skip
    add(b, "t_nat", "t_oi", "execute_tool transfer_to_researcher", 11, 19, trace_id=T, scope="autogen-core",
        attrs={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "transfer_to_researcher",
               "gen_ai.tool.description": "Handoff to researcher."})  # fmt: skip
    add(b, "pub", "team", "autogen publish researcher_x", 41, 99, trace_id=T, scope="autogen core",
        attrs={"messaging.operation": "publish"})  # fmt: skip
    add(b, "proc", "pub", "autogen process researcher_x", 42, 98, trace_id=T, scope="autogen core",
        status="ERROR", attrs={"messaging.operation": "process"})  # fmt: skip
    add(b, "res", "proc", "researcher.on_messages_stream", 43, 60, trace_id=T, scope="oi",
        status="ERROR", attrs={OI: "AGENT", "graph.node.id": "researcher"})  # fmt: skip
    add(b, "llm", "res", "OpenAIChatCompletionClient.create", 44, 50, trace_id=T, scope="oi",
        status="ERROR", attrs={OI: "LLM", "error.type": "openai.InternalServerError"})  # fmt: skip
    add(b, "pub2", "team", "autogen publish group_topic", 61, 99, trace_id=T, scope="autogen core",
        attrs={"messaging.operation": "publish"})  # fmt: skip
    add(b, "late", "pub2", "autogen process planner_x", 62, 70, trace_id=T, scope="autogen core",
        status="ERROR", attrs={"messaging.operation": "process", "error.type": "ValueError"})  # fmt: skip
    SpanStore(db).write(b)
    # the construction trace is no run; its span names no agent at work
    assert q(db, "SELECT name FROM runs") == [("Swarm.run_stream",)]
    assert q(db, "SELECT agent_name, invocations FROM agents ORDER BY agent_name") == [
        ("planner", 1), ("researcher", 1)]  # fmt: skip
    assert q(db, "SELECT DISTINCT hoptrace_kind FROM spans WHERE name LIKE 'autogen %'") == [
        ("runtime",)
    ]
    # one transfer, traced twice
    assert q(db, "SELECT from_agent, to_agent, kind, to_span_id FROM handoffs") == [
        ("planner", "researcher", "transfer", sid("res"))]  # fmt: skip
    # the earliest causal error, not the later ValueError about it
    assert q(db, "SELECT status, root_cause_agent, root_cause_error FROM runs") == [
        ("ERROR", "researcher", "openai.InternalServerError")]  # fmt: skip
    roles = dict(q(db, "SELECT span_id, role FROM errors"))
    assert roles.get(sid("pub")) is None  # runtime spans do not recover


def test_adk_transfer_to_agent_goes_to_the_next_agent(db: Path) -> None:
    b = SpanBatch()
    add(b, "wf", None, "invoke_workflow coordinator", 0, 100, trace_id=T, scope="gcp.vertex.agent",
        attrs={"gen_ai.operation.name": "invoke_workflow", "gen_ai.workflow.name": "coordinator"})  # fmt: skip
    add(b, "co", "wf", "invoke_agent coordinator", 1, 30, trace_id=T, scope="gcp.vertex.agent",
        attrs={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "coordinator"})  # fmt: skip
    add(b, "x", "co", "execute_tool transfer_to_agent", 20, 21, trace_id=T, scope="gcp.vertex.agent",
        attrs={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "transfer_to_agent",
               "gen_ai.tool.type": "TransferToAgentTool", "gen_ai.agent.name": "coordinator"})  # fmt: skip
    add(b, "re", "wf", "invoke_agent researcher", 31, 99, trace_id=T, scope="gcp.vertex.agent",
        attrs={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "researcher"})  # fmt: skip
    add(b, "t2", "re", "execute_tool transfer_to_agent", 40, 41, trace_id=T, scope="gcp.vertex.agent",
        attrs={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "transfer_to_agent",
               "gen_ai.tool.type": "TransferToAgentTool", "gen_ai.agent.name": "researcher",
               "gen_ai.tool.description": "Transfer the question to another agent.",
               "gen_ai.tool.call.arguments": '{"agent_name": "coordinator"}'})  # fmt: skip
    SpanStore(db).write(b)
    assert q(db, "SELECT from_agent, to_agent, kind, from_span_id, to_span_id FROM handoffs ORDER BY start_ns") == [
        ("coordinator", "researcher", "transfer", sid("co"), sid("re")),
        ("researcher", "coordinator", "transfer", sid("re"), None),  # named, never ran again
    ]  # fmt: skip


def test_pr98_handoff_attributes(db: Path) -> None:
    b = SpanBatch()
    add(b, "a", None, "invoke_agent triage", 0, 10, trace_id=T, scope="x",
        attrs={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "triage"})  # fmt: skip
    add(b, "h", "a", "execute_tool transfer_to_billing", 5, 6, trace_id=T, scope="x",
        attrs={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "transfer_to_billing",
               sc.GEN_AI_HANDOFF_SOURCE_NAME: "triage", sc.GEN_AI_HANDOFF_TARGET_NAME: "billing"})  # fmt: skip
    add(b, "b", None, "invoke_agent billing", 11, 20, trace_id=T, scope="x",
        attrs={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "billing"})  # fmt: skip
    SpanStore(db).write(b)
    assert q(db, "SELECT from_agent, to_agent, kind, to_span_id FROM handoffs") == [
        ("triage", "billing", "transfer", sid("b"))]  # fmt: skip


def test_root_never_arrived_and_ok_root_over_a_failed_agent(db: Path) -> None:
    # smolagents: the manager's run span never ends when run() raises
    b = SpanBatch()
    add(b, "s1", "missing", "Step 1", 0, 10, trace_id=T, scope="oi", service="smol-app",
        attrs={OI: "CHAIN"})  # fmt: skip
    add(b, "s2", "missing", "Step 2", 11, 20, trace_id=T, scope="oi", service="smol-app",
        status="ERROR", attrs={OI: "CHAIN", "error.type": "AgentGenerationError"})  # fmt: skip
    add(b, "g", "s2", "OpenAIModel.generate", 12, 19, trace_id=T, scope="oi", service="smol-app",
        status="ERROR", attrs={OI: "LLM", "error.type": "openai.InternalServerError"})  # fmt: skip
    # the OpenAI Agents SDK: the workflow ends OK after an agent failed, with a message only
    u = "4" * 32
    add(
        b,
        "wf",
        None,
        "Agent workflow",
        0,
        50,
        trace_id=u,
        scope="oi",
        status="OK",
        attrs={OI: "AGENT"},
    )
    add(b, "ag", "wf", "billing", 1, 49, trace_id=u, scope="oi", status="ERROR",
        attrs={OI: "AGENT", "agent.name": "billing"}, message="Error in agent run")  # fmt: skip
    add(b, "ge", "ag", "generation", 2, 48, trace_id=u, scope="oi", status="ERROR",
        attrs={OI: "LLM"}, message="Error code: 500")  # fmt: skip
    SpanStore(db).write(b)
    runs = {r[0]: r[1:] for r in q(db, "SELECT trace_id, name, status, incomplete, root_cause_span_id, "
                                       "root_cause_agent, root_cause_message FROM runs")}  # fmt: skip
    assert runs[T] == ("smol-app", "ERROR", True, sid("g"), None, None)
    assert runs[u] == ("Agent workflow", "ERROR", False, sid("ge"), "billing", "Error code: 500")
    roles = dict(q(db, f"SELECT span_id, role FROM errors WHERE trace_id = '{u}'"))
    assert roles == {sid("ge"): "origin", sid("ag"): "propagated", sid("wf"): "propagated"}


def test_hoptrace_handoff_emits_pr98_attributes() -> None:
    from tracer import Hoptrace
    from tracer.testing import capture_spans

    ht = Hoptrace()

    @ht.agent
    def reviewer(draft: str) -> str:
        return "ok"

    @ht.agent
    def writer() -> str:
        ht.handoff("reviewer", "v1")
        return "v1"

    @ht.workflow
    def pipeline() -> None:
        reviewer(writer())

    with capture_spans(ht) as captured:
        pipeline()
    spans = {s.name: s for s in captured.spans}
    [event] = [e for e in spans["invoke_agent writer"].events if e.name == sc.EVENT_HANDOFF]
    assert (event.attributes[sc.GEN_AI_HANDOFF_SOURCE_NAME],
            event.attributes[sc.GEN_AI_HANDOFF_TARGET_NAME]) == ("writer", "reviewer")  # fmt: skip
    links = [dict(ln.attributes) for ln in spans["invoke_agent reviewer"].links
             if ln.attributes.get(sc.HANDOFF_KIND) == sc.KIND_EXPLICIT]  # fmt: skip
    assert [(ln[sc.GEN_AI_HANDOFF_SOURCE_NAME], ln[sc.GEN_AI_HANDOFF_TARGET_NAME]) for ln in links] == [
        ("writer", "reviewer")]  # fmt: skip


def test_transfer_tools_need_a_handoff_description(db: Path) -> None:
    """Strands' generic handoff tool is a transfer; a bank's `transfer_to_savings` is a tool."""
    b = SpanBatch()
    add(b, "sw", None, "invoke_swarm", 0, 100, trace_id=T, scope="strands",
        attrs={"gen_ai.operation.name": "invoke_swarm"})  # fmt: skip
    add(b, "p", "sw", "invoke_agent planner", 1, 40, trace_id=T, scope="strands",
        attrs={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"})  # fmt: skip
    add(b, "bank", "p", "execute_tool transfer_to_savings", 5, 6, trace_id=T, scope="strands",
        attrs={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "transfer_to_savings",
               "gen_ai.tool.description": "Move money to the savings account."})  # fmt: skip
    add(b, "h", "p", "execute_tool handoff_to_agent", 10, 11, trace_id=T, scope="strands",
        attrs={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "handoff_to_agent",
               "gen_ai.tool.description": "Transfer control to another agent in the swarm."})  # fmt: skip
    add(b, "r", "sw", "invoke_agent researcher", 41, 99, trace_id=T, scope="strands",
        attrs={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "researcher"})  # fmt: skip
    SpanStore(db).write(b)
    kinds = dict(q(db, "SELECT span_id, hoptrace_kind FROM spans"))
    assert (kinds[sid("bank")], kinds[sid("h")]) == ("tool", "handoff")
    assert q(db, "SELECT from_agent, to_agent, kind, to_span_id FROM handoffs") == [
        ("planner", "researcher", "transfer", sid("r"))]  # fmt: skip


def test_crewai_delegation_and_message_only_errors(db: Path) -> None:
    # CrewAI (OpenInference, event-listener mode): `<role>.<task>.execute` AGENT spans named
    # by graph.node.id, the coworker running inside `delegate_work_to_coworker`, errors as a
    # status message only. The researcher's failure came back to the manager as the tool's
    # output; the manager's own model failing is what failed the run.
    scope = "openinference.instrumentation.crewai"
    llm = {OI: "LLM", "llm.model_name": "gpt-4o-mini"}
    b = SpanBatch()
    add(b, "crew", None, "crew.kickoff", 0, 100, trace_id=T, scope=scope, status="ERROR",
        message="Error code: 500", attrs={OI: "CHAIN"})  # fmt: skip
    add(b, "mgr", "crew", "manager.What is it?.execute", 1, 99, trace_id=T, scope=scope,
        status="ERROR", message="Error code: 500",
        attrs={OI: "AGENT", "graph.node.id": "manager"})  # fmt: skip
    add(b, "m1", "mgr", "gpt-4o-mini.llm_call", 2, 10, trace_id=T, scope=scope, status="OK",
        attrs=llm | {"llm.token_count.prompt": 100, "llm.token_count.completion": 20})  # fmt: skip
    add(b, "del", "mgr", "delegate_work_to_coworker.run", 11, 60, trace_id=T, scope=scope,
        status="OK", attrs={OI: "TOOL", "tool.name": "delegate_work_to_coworker",
                            "tool.description": "Delegate a specific task to one of the following coworkers: researcher"})  # fmt: skip
    add(b, "res", "del", "researcher.Find it..execute", 12, 59, trace_id=T, scope=scope,
        status="ERROR", message="Error code: 500",
        attrs={OI: "AGENT", "graph.node.id": "researcher"})  # fmt: skip
    add(b, "r1", "res", "gpt-4o-mini.llm_call", 13, 58, trace_id=T, scope=scope, status="ERROR",
        message="OpenAI API call failed: Error code: 500", attrs=llm)  # fmt: skip
    add(b, "m2", "mgr", "gpt-4o-mini.llm_call", 61, 98, trace_id=T, scope=scope, status="ERROR",
        message="OpenAI API call failed: Error code: 500", attrs=llm)  # fmt: skip
    SpanStore(db).write(b)
    kinds = dict(q(db, "SELECT span_id, hoptrace_kind FROM spans"))
    assert [kinds[sid(s)] for s in ("crew", "mgr", "del", "res", "r1")] == [
        "span", "agent", "tool", "agent", "llm"]  # fmt: skip
    assert q(db, "SELECT agent_name, invocations, llm_calls FROM agents ORDER BY agent_name") == [
        ("manager", 1, 2), ("researcher", 1, 1)]  # fmt: skip
    # a delegation, not a transfer: the coworker runs inside the tool
    assert q(db, "SELECT from_agent, to_agent, kind, from_span_id, to_span_id FROM handoffs") == [
        ("manager", "researcher", "delegate", sid("mgr"), sid("res"))]  # fmt: skip
    assert q(db, "SELECT span_id, role FROM errors ORDER BY start_ns") == [
        (sid("crew"), "propagated"), (sid("mgr"), "propagated"), (sid("del"), "recovered"),
        (sid("res"), "propagated"), (sid("r1"), "origin"), (sid("m2"), "origin")]  # fmt: skip
    assert q(db, "SELECT status, root_cause_agent, root_cause_span_id, root_cause_error FROM runs") == [
        ("ERROR", "manager", sid("m2"), None)]  # fmt: skip
