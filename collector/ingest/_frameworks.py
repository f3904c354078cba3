"""The multi-agent frameworks' dialects: agents, transfers and runtime noise (issue 12).

What each framework emits, as seen running it (tests/frameworks) and read in its code:

- OpenInference AGENT spans may carry no `agent.name`: AutoGen names them
  `<agent>.on_messages_stream` with `graph.node.id=<agent>`, smolagents `<agent>.run`,
  CrewAI `<role>.<task>.execute` with `graph.node.id=<role>`. CrewAI's coworker runs
  inside the manager's `delegate_work_to_coworker` tool, a child: a plain delegation, no
  rule needed. Its errors are a status message only (its events carry no type).
- LangGraph (OpenInference LangChain) graph nodes are CHAIN spans named after the node,
  the node only in the `metadata` JSON string: `langgraph_node`, and
  `langgraph_checkpoint_ns` (`<node>:<uuid>|<subnode>:<uuid>…`). A node of the outermost
  graph (one segment, no inner `checkpoint_ns`) is an agent; the prebuilt `tools` node
  only runs tools. Inside a subgraph the same node name repeats with `checkpoint_ns` set.
- Transfers are tools whose target runs next, as a sibling rather than a child:
  LangGraph `transfer_to_<agent>` (`metadata.__handoff_destination`), AutoGen
  `execute_tool transfer_to_<agent>` (native) inside `<agent>.transfer_to_<agent>`
  (OpenInference), ADK `execute_tool transfer_to_agent` with
  `gen_ai.tool.type=TransferToAgentTool` (the target in its arguments when captured, else
  the next agent to start), Strands' Swarm `execute_tool handoff_to_agent` (the same), and
  the GenAI proposal's (PR 98) `gen_ai.agent.handoff.source.name` / `.target.name`. A
  tool's name alone proves nothing (a bank's `transfer_to_savings`): name-based rules
  also need a description that speaks of agents or handoffs, as all of these have.
- AutoGen's runtime traces every message it routes (`autogen publish|process|create …`
  with `messaging.operation`): transport, not work. They are class `runtime`: no agent
  view counts them and error roles look through them.
- LangGraph raises `ParentCommand` to route a subgraph's `Command(graph=PARENT)` (every
  transfer does) and `GraphInterrupt` to pause: OpenInference records them as exception
  events on spans that end OK. Control flow, not errors.

Each helper returns a SQL fragment over the inner promotion SELECT (`val(name)` reads one
attribute as text, NULL when absent), so the mapping stays one vectorised statement.
"""

from __future__ import annotations

from collections.abc import Callable

from tracer import semconv as sc

Val = Callable[[str], str]

METADATA = "metadata"  # OpenInference LangChain: the run's metadata as a JSON string
MESSAGING_OPERATION = "messaging.operation"
TOOL_TYPE = "gen_ai.tool.type"
TOOL_DESCRIPTION = "gen_ai.tool.description"
TRANSFER_TOOL_TYPES = ("TransferToAgentTool",)  # Google ADK
# one tool for every target, the target its `agent_name` argument: Google ADK, Strands' Swarm
GENERIC_TRANSFER_TOOLS = ("transfer_to_agent", "handoff_to_agent")
TRANSFER_PREFIXES = ("transfer_back_to_", "transfer_to_")
HANDOFF_WORDS = r"hand ?off|agent"  # in a transfer tool's description
AGENT_NAME_SUFFIXES = (".on_messages_stream", ".on_messages", ".run")  # AutoGen, smolagents
NOT_AGENT_NODES = ("tools", "__start__", "__end__", "LangGraph")
RUNTIME_SCOPES = ("autogen",)  # scope names starting so: AutoGen core's runtime tracer
CONTROL_FLOW_EXCEPTIONS = frozenset(
    {
        "langgraph.errors.ParentCommand",
        "ParentCommand",
        "langgraph.errors.GraphInterrupt",
        "GraphInterrupt",
    }
)

ATTRS = (
    METADATA,
    MESSAGING_OPERATION,
    TOOL_TYPE,
    sc.GEN_AI_HANDOFF_SOURCE_NAME,
    sc.GEN_AI_HANDOFF_TARGET_NAME,
    sc.GEN_AI_TOOL_CALL_ARGUMENTS,
    TOOL_DESCRIPTION,
    "tool.description",
)
"""Attributes the rules below read (besides the dialect table's)."""


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _list(values: tuple[str, ...]) -> str:
    return ", ".join(_lit(v) for v in values)


def columns(val: Val) -> list[str]:
    """Inner-SELECT columns: LangGraph's node facts and the transfer target (a_x_*)."""
    md = val(METADATA)
    tname = f"coalesce({val(sc.GEN_AI_TOOL_NAME)}, {val('tool.name')}, {_strip_op('name')})"
    prefixed = " ".join(
        f"WHEN starts_with(a_x_tname, {_lit(p)}) THEN nullif(substr(a_x_tname, {len(p) + 1}), '')"
        for p in TRANSFER_PREFIXES
    )
    args = val(sc.GEN_AI_TOOL_CALL_ARGUMENTS)
    # a tool's name alone is no proof (a bank's `transfer_to_savings`): its description
    # must speak of agents or handoffs, as every framework's transfer tool's does
    desc = f"lower(coalesce({val(TOOL_DESCRIPTION)}, {val('tool.description')}, ''))"
    return [
        f"regexp_matches({desc}, {_lit(HANDOFF_WORDS)}) AS a_x_handoff_words",
        f"json_extract_string({md}, '$.langgraph_node') AS a_x_node",
        f"json_extract_string({md}, '$.langgraph_checkpoint_ns') AS a_x_ns",
        f"coalesce(json_exists({md}, '$.checkpoint_ns'), false) AS a_x_inner",
        f"{tname} AS a_x_tname",
        f"""coalesce({val(sc.GEN_AI_HANDOFF_TARGET_NAME)},
                 json_extract_string({md}, '$.__handoff_destination'),
                 CASE WHEN NOT a_x_handoff_words THEN NULL
                      WHEN a_x_tname IN ({_list(GENERIC_TRANSFER_TOOLS)})
                      THEN json_extract_string(try_cast({args} AS JSON), '$.agent_name')
                      {prefixed} END) AS a_x_transfer_to""",
        f"""coalesce({val(sc.GEN_AI_HANDOFF_TARGET_NAME)} IS NOT NULL
             OR {val(sc.GEN_AI_HANDOFF_SOURCE_NAME)} IS NOT NULL
             OR {val(TOOL_TYPE)} IN ({_list(TRANSFER_TOOL_TYPES)})
             OR json_extract_string({md}, '$.__handoff_destination') IS NOT NULL
             OR (a_x_tname IN ({_list(GENERIC_TRANSFER_TOOLS)}) AND a_x_handoff_words)
             OR a_x_transfer_to IS NOT NULL, false) AS a_x_transfer_like""",
        f"{val(MESSAGING_OPERATION)} AS a_x_msg",
    ]


def _strip_op(expr: str) -> str:
    return f"CASE WHEN starts_with({expr}, 'execute_tool ') THEN substr({expr}, 14) ELSE {expr} END"


def is_transfer(oi: str) -> str:
    """A tool span that hands control to another agent (before the generic tool rule)."""
    return f"(a_x_transfer_like AND (operation = {_lit(sc.OP_TOOL)} OR upper({oi}) = 'TOOL'))"


def is_runtime() -> str:
    """AutoGen's message routing spans."""
    scopes = " OR ".join(
        f"starts_with(coalesce(scope_name, ''), {_lit(s)})" for s in RUNTIME_SCOPES
    )
    return f"(a_x_msg IS NOT NULL AND operation IS NULL AND ({scopes}))"


def is_named_agent(val: Val) -> str:
    """An OpenInference AGENT span that names its agent one way or another."""
    suffixes = " OR ".join(f"ends_with(name, {_lit(s)})" for s in AGENT_NAME_SUFFIXES)
    return f"({val('agent.name')} IS NOT NULL OR {val('graph.node.id')} IS NOT NULL OR {suffixes})"


def is_graph_node_agent(oi: str) -> str:
    """A node of LangGraph's outermost graph (a supervisor's or swarm's agents)."""
    return f"""(a_x_node IS NOT NULL AND a_x_node = name AND NOT a_x_inner
        AND NOT contains(coalesce(a_x_ns, ''), '|')
        AND name NOT IN ({_list(NOT_AGENT_NODES)}) AND upper(coalesce({oi}, '')) IN ('CHAIN', 'AGENT'))"""


def agent_name_from_span_name() -> str:
    """`researcher.run` / `planner.on_messages_stream` -> the agent."""
    alts = "|".join(s.replace(".", "\\.") for s in AGENT_NAME_SUFFIXES)
    return f"nullif(regexp_replace(name, '({alts})$', ''), '')"
