"""Which attribute of which tool fills which hoptrace column: the dialect table.

Every GenAI tool spells the same facts differently (../shared/reference/dialects.md).
The tables below are the whole mapping, read top to bottom: for each promoted
column, the attribute names tried in order, first present wins. hoptrace's own
names (tracer.semconv) come first, then the OTel GenAI conventions (current, then
legacy spellings), then OpenInference, litellm, pydantic-ai and the two OpenAI
Agents mappings. `promotion_sql()` turns them into one vectorised SELECT that runs
inside DuckDB at ingest (one JSON parse per span, no per-span Python), so the views
never parse JSON. Events and links are read in Python (`event_facts`), and only for
the few spans that have any.

Span classes (`span_class`, shown as `hoptrace_kind` in the `spans` view): agent |
llm | tool | workflow | handoff | span, decided by `_classify` below.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from collector.ingest import _frameworks as fw
from tracer import semconv as sc

# --- the table ------------------------------------------------------------------

STRING_ATTRS: dict[str, tuple[str, ...]] = {
    "operation": (sc.GEN_AI_OPERATION_NAME,),
    # name of the agent (on an agent span: itself; elsewhere: the running agent)
    "agent_attr": (
        sc.GEN_AI_AGENT_NAME,  # OTel GenAI, hoptrace, pydantic-ai, OTel contrib OpenAI Agents
        "agent.name",  # OpenInference (OpenAI Agents via OI)
        "agent_name",  # pydantic-ai agent run span
    ),
    "agent_span_attr": (sc.AGENT_SPAN_ID,),
    "tool_name": (sc.GEN_AI_TOOL_NAME, "tool.name"),  # GenAI / OpenInference
    "workflow_name": (sc.GEN_AI_WORKFLOW_NAME, "traceloop.workflow.name"),
    "conversation_id": (sc.GEN_AI_CONVERSATION_ID, "session.id"),  # GenAI / OpenInference
    "model": (
        sc.GEN_AI_REQUEST_MODEL,  # GenAI, litellm, pydantic-ai chat spans, OTel contrib
        "llm.request.model_name",  # OpenInference (unreleased)
        "llm.model_name",  # OpenInference
        sc.GEN_AI_RESPONSE_MODEL,
        "llm.response.model_name",
        "model_name",  # pydantic-ai agent run span
        "litellm.provider.model",
    ),
    "response_model": (sc.GEN_AI_RESPONSE_MODEL, "llm.response.model_name", "llm.model_name"),
    "provider": (
        sc.GEN_AI_PROVIDER_NAME,  # GenAI current
        sc.GEN_AI_SYSTEM,  # GenAI legacy, litellm default mode
        "llm.provider",  # OpenInference
        "llm.system",
    ),
    "error_message": (sc.ERROR_MESSAGE, "error.message"),  # hoptrace / litellm
    "exception_stacktrace": ("error.stack_trace",),  # litellm; else the exception event
    "marker_role": (sc.ERROR_ROLE,),
    "marker_cause": (sc.ERROR_CAUSE_SPAN_ID,),
    "input_preview": (
        sc.INPUT,
        "input.value",  # OpenInference
        sc.GEN_AI_TOOL_CALL_ARGUMENTS,
        sc.GEN_AI_INPUT_MESSAGES,
        "traceloop.entity.input",
        "tool_arguments",  # pydantic-ai v2
    ),
    "output_preview": (
        sc.OUTPUT,
        "output.value",
        sc.GEN_AI_TOOL_CALL_RESULT,
        sc.GEN_AI_OUTPUT_MESSAGES,
        "final_result",  # pydantic-ai agent run span
        "traceloop.entity.output",
        "tool_response",
    ),
    "handoff_from_agent": (
        sc.HANDOFF_FROM_AGENT,
        sc.GEN_AI_HANDOFF_SOURCE_NAME,  # semantic-conventions-genai PR 98
        "gen_ai.handoff.from_agent",
    ),
    "handoff_from_span_id": (sc.HANDOFF_FROM_SPAN_ID,),
    "handoff_to_agent": (
        sc.GEN_AI_HANDOFF_TARGET_NAME,  # semantic-conventions-genai PR 98
        "gen_ai.handoff.to_agent",
        "gen_ai.transfer.target.name",
    ),
    "handoff_payload": (sc.HANDOFF_PAYLOAD,),
}

INT_ATTRS: dict[str, tuple[str, ...]] = {
    "input_tokens": (
        sc.GEN_AI_USAGE_INPUT_TOKENS,  # GenAI, litellm, pydantic-ai chat, OTel contrib
        "gen_ai.usage.prompt_tokens",  # GenAI legacy / openllmetry
        "llm.token_count.prompt",  # OpenInference
        "gen_ai.aggregated_usage.input_tokens",  # pydantic-ai agent run span
        "llm.usage.prompt_tokens",
    ),
    "output_tokens": (
        sc.GEN_AI_USAGE_OUTPUT_TOKENS,
        "gen_ai.usage.completion_tokens",
        "llm.token_count.completion",
        "gen_ai.aggregated_usage.output_tokens",
        "llm.usage.completion_tokens",
    ),
    "cache_read_tokens": (
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",
        "llm.token_count.prompt_details.cache_read",
    ),
}

COST_ATTRS: tuple[str, ...] = (
    sc.COST_USD,  # hoptrace (litellm's map, at call time)
    "gen_ai.cost.total_cost",  # litellm OTel callback
    "llm.cost.total",  # OpenInference
    "operation.cost",  # pydantic-ai with real providers
)

LLM_OPERATIONS = frozenset(
    {"chat", "text_completion", "generate_content", "embeddings", "acompletion", "completion"}
)
LLM_SPAN_NAMES = frozenset({"litellm_request"})  # litellm default mode
HANDOFF_OPERATIONS = frozenset({"agent_handoff"})  # OTel contrib OpenAI Agents
OI_KIND = "openinference.span.kind"
PREVIEW_LIMIT = 4000

# --- applying it: attributes in SQL ---------------------------------------------

_PREVIEWS = frozenset({"input_preview", "output_preview", "handoff_payload"})
# attributes read by the rules below besides the tables
_EXTRA = (sc.HOPTRACE_KIND, OI_KIND, "traceloop.span.kind", "graph.node.id", sc.ERROR_TYPE,
          "input.value", "output.value", "agent_name", "agent.name", *fw.ATTRS)  # fmt: skip


def _attr_names() -> tuple[str, ...]:
    names: dict[str, None] = {}
    for group in (*STRING_ATTRS.values(), *INT_ATTRS.values(), COST_ATTRS, _EXTRA):
        names.update(dict.fromkeys(group))
    return tuple(names)


ATTR_NAMES = _attr_names()
"""Every attribute name the store reads, in the order of `promotion_sql`'s JSON path list."""


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class _Names:
    """SQL for reading attributes, knowing which names occur in the batch at all.

    `v` is each span's attributes parsed once into a STRUCT of the names that occur
    in the batch (a hoptrace batch uses ~12 of the ~70 names the tables list), so
    DuckDB neither extracts nor tests the others.
    """

    def __init__(self, present: frozenset[str]) -> None:
        self.present = present

    def val(self, name: str) -> str:
        # a present, non-empty value as text (non-strings as compact JSON)
        if name not in self.present:
            return "NULL::VARCHAR"
        return "nullif(v." + '"' + name + '"' + ", '')"

    def first(self, names: tuple[str, ...]) -> str:
        vals = [self.val(n) for n in names if n in self.present]
        if not vals:
            return "NULL::VARCHAR"
        return f"coalesce({', '.join(vals)})" if len(vals) > 1 else vals[0]


def _preview(expr: str) -> str:
    return f"CASE WHEN length({expr}) > {PREVIEW_LIMIT} THEN left({expr}, {PREVIEW_LIMIT}) || '…' ELSE {expr} END"


def _without_prefix(expr: str, prefix: str) -> str:
    return f"CASE WHEN starts_with({expr}, {_lit(prefix)}) THEN substr({expr}, {len(prefix) + 1}) ELSE {expr} END"


def _in(values: frozenset[str]) -> str:
    return ", ".join(_lit(v) for v in sorted(values))


def _classify(n: _Names) -> str:
    return f"""CASE
    WHEN a_hk IS NOT NULL THEN a_hk
    WHEN {fw.is_runtime()} THEN 'runtime'
    WHEN {fw.is_transfer("a_oi")} THEN 'handoff'
    WHEN operation = {_lit(sc.OP_AGENT)} THEN
        CASE WHEN coalesce({n.val(sc.GEN_AI_AGENT_NAME)}, {n.val("agent_name")}) IS NOT NULL
             THEN 'agent' ELSE 'workflow' END
    WHEN operation = {_lit(sc.OP_WORKFLOW)} THEN 'workflow'
    WHEN operation = {_lit(sc.OP_TOOL)} THEN 'tool'
    WHEN operation IN ({_in(LLM_OPERATIONS)}) THEN 'llm'
    WHEN operation IN ({_in(HANDOFF_OPERATIONS)}) THEN 'handoff'
    WHEN upper(a_oi) = 'AGENT' THEN
        CASE WHEN {fw.is_named_agent(n.val)} THEN 'agent'
             WHEN {fw.is_graph_node_agent("a_oi")} THEN 'agent' ELSE 'workflow' END
    WHEN {fw.is_graph_node_agent("a_oi")} THEN 'agent'
    WHEN upper(a_oi) IN ('LLM', 'EMBEDDING') THEN 'llm'
    WHEN upper(a_oi) = 'TOOL' THEN
        CASE WHEN starts_with(name, 'handoff to ') THEN 'handoff' ELSE 'tool' END
    WHEN name IN ({_in(LLM_SPAN_NAMES)}) THEN 'llm'
    WHEN {n.val("traceloop.span.kind")} IN ('workflow', 'agent', 'tool') THEN {n.val("traceloop.span.kind")}
    ELSE 'span'
END"""


@functools.lru_cache(maxsize=64)
def promotion_sql(source: str, columns: tuple[str, ...], present: frozenset[str]) -> str:
    """SELECT producing every raw and promoted span_t column from a staged batch.

    `source` has the raw columns (but `ingested_ns`) plus the Python-side facts of `staged_facts()`
    (`service_name`, `x_exc_type`, `x_exc_message`, `x_exc_stack`, `x_rec_type`,
    `x_rec_message`, `x_rec_cause`, `rejects`, `handoff_links`, `handoff_events`).
    The cost of a model call that reports none is filled in later (collector.store._prices).
    `present` is the set of attribute names occurring in the batch (any superset
    works; the SQL is cached per set). Only `columns` come out: carrying the intermediate a_* columns would make DuckDB
    materialise twice as much per span.
    """
    n = _Names(present & frozenset(ATTR_NAMES))
    shape = _lit(json.dumps(dict.fromkeys(sorted(n.present) or ATTR_NAMES[:1], "VARCHAR")))
    cols = [f"{n.first(names)} AS a_{c}" for c, names in STRING_ATTRS.items()]
    cols += [
        f"TRY_CAST(trunc(TRY_CAST({n.first(names)} AS DOUBLE)) AS BIGINT) AS {c}"
        for c, names in INT_ATTRS.items()
    ]
    cols += [
        f"TRY_CAST({n.first(COST_ATTRS)} AS DOUBLE) AS a_cost",
        f"{n.val(sc.HOPTRACE_KIND)} AS a_hk",
        f"{n.val(OI_KIND)} AS a_oi",
        f"{n.val('graph.node.id')} AS a_node",
        f"{n.val(sc.ERROR_TYPE)} AS a_error_type",
        f"{n.val('input.value')} AS a_in_value",
        f"{n.val('output.value')} AS a_out_value",
        *fw.columns(n.val),
    ]
    strings = {c: f"a_{c}" for c in STRING_ATTRS}
    for c in _PREVIEWS:
        strings[c] = _preview(f"a_{c}")
    handoff_oi = "span_class = 'handoff' AND a_oi IS NOT NULL AND NOT a_x_transfer_like"
    out = {
        **{
            c: strings[c]
            for c in (
                "tool_name",
                "workflow_name",
                "conversation_id",
                "model",
                "response_model",
                "provider",
                "agent_span_attr",
                "marker_role",
                "input_preview",
                "output_preview",
                "handoff_from_span_id",
                "handoff_payload",
            )
        },
        # a create_agent span builds an agent, it is not the agent at work
        "agent_attr": f"CASE WHEN operation = 'create_agent' THEN NULL "
        f"WHEN span_class = 'agent' AND a_agent_attr IS NULL THEN "
        f"coalesce(a_node, CASE WHEN upper(a_oi) = 'AGENT' THEN {fw.agent_name_from_span_name()} END, "
        f"{_without_prefix('name', 'invoke_agent ')}) ELSE a_agent_attr END",
        "handoff_from_agent": f"CASE WHEN {handoff_oi} THEN coalesce(a_handoff_from_agent, "
        f"{_preview('a_in_value')}) ELSE a_handoff_from_agent END",
        "handoff_to_agent": "CASE WHEN span_class = 'handoff' AND a_x_transfer_like THEN "
        "coalesce(a_handoff_to_agent, a_x_transfer_to) "
        f"WHEN {handoff_oi} THEN coalesce(a_handoff_to_agent, "
        f"{_preview('a_out_value')}, {_without_prefix('name', 'handoff to ')}) "
        "ELSE a_handoff_to_agent END",
        "cost_usd": "a_cost",
        "cost_source": "CASE WHEN a_cost IS NOT NULL THEN 'reported' END",
        "error_type": "coalesce(a_error_type, x_exc_type, x_rec_type)",
        "error_message": "coalesce(a_error_message, x_exc_message, CASE WHEN status = 'ERROR' "
        "THEN nullif(status_message, '') END, x_rec_message)",
        "exception_stacktrace": "coalesce(a_exception_stacktrace, x_exc_stack)",
        "marker_cause": "coalesce(a_marker_cause, x_rec_cause)",
        # the write's transaction time, not the time the batch was staged: writes are
        # serialised by the file lock, so `max(ingested_ns)` (the TUI's "anything
        # new?" poll) moves with every commit, whichever process staged what when
        "ingested_ns": "epoch_ns(get_current_timestamp())",
    }
    select = ",\n    ".join(f"{out[c]} AS {c}" if c in out else c for c in columns)
    return f"""
SELECT {select}
FROM (
    SELECT *, {_classify(n)} AS span_class, a_hk IS NOT NULL AS native
    FROM (
        SELECT *, a_operation AS operation
        FROM (SELECT *, {", ".join(cols)}
              FROM (SELECT *, from_json(attributes, {shape}) AS v FROM {source}))
    )
)"""


# --- applying it: events, links and recovery markers in Python ---------------------

STAGED_FACTS = ("x_exc_type", "x_exc_message", "x_exc_stack", "rejects", "handoff_events",
                "handoff_links", "x_rec_type", "x_rec_message", "x_rec_cause")  # fmt: skip
"""Columns `staged_facts` fills (None for the many spans without events, links or markers)."""


def _text(v: Any) -> str | None:
    if v is None:
        return None
    s = v if isinstance(v, str) else json.dumps(v, default=str)
    return s if len(s) <= PREVIEW_LIMIT else s[:PREVIEW_LIMIT] + "…"


def _joined(v: Any, sep: str) -> str | None:
    if not v:
        return None
    return sep.join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)


def staged_facts(
    attrs: dict[str, Any], events: list[dict[str, Any]], links: list[dict[str, Any]]
) -> tuple[Any, ...] | None:
    """The STAGED_FACTS of one span, or None when it has no events, links or recovery marker."""
    recovered = attrs.get(sc.ERROR_ROLE) == sc.ROLE_RECOVERED
    if not events and not links and not recovered:
        return None
    exc = None
    rejects: list[dict[str, Any]] = []
    hevents: list[dict[str, Any]] = []
    for ev in events:
        ename = ev.get("name")
        if ename == "exception":
            ea = ev.get("attributes") or {}
            if ea.get("exception.type") not in fw.CONTROL_FLOW_EXCEPTIONS:
                exc = ea
        elif ename == sc.EVENT_REJECT:
            ea = ev.get("attributes") or {}
            rejects.append({"span_id": ea.get(sc.REJECT_SPAN_ID), "agent": ea.get(sc.REJECT_AGENT),
                            "reason": ea.get(sc.REJECT_REASON), "time_ns": ev.get("time_ns")})  # fmt: skip
        elif ename == sc.EVENT_HANDOFF:
            ea = ev.get("attributes") or {}
            hevents.append({"to_agent": ea.get(sc.HANDOFF_TO_AGENT),
                            "payload": _text(ea.get(sc.HANDOFF_PAYLOAD)),
                            "id": ea.get(sc.HANDOFF_ID), "time_ns": ev.get("time_ns")})  # fmt: skip
    hlinks = []
    for ln in links:
        la = ln.get("attributes") or {}
        if la.get(sc.LINK_TYPE) == sc.LINK_TYPE_HANDOFF:
            hlinks.append({"span_id": ln.get("span_id"), "kind": la.get(sc.HANDOFF_KIND) or sc.KIND_DATA,
                           "from_agent": la.get(sc.HANDOFF_FROM_AGENT),
                           "payload": _text(la.get(sc.HANDOFF_PAYLOAD)),
                           "argument": la.get(sc.HANDOFF_ARGUMENT), "id": la.get(sc.HANDOFF_ID)})  # fmt: skip
    exc = exc or {}
    ids = attrs.get(sc.RECOVERED_SPAN_IDS) if recovered else None
    return (
        _str(exc.get("exception.type")),
        _str(exc.get("exception.message")),
        _str(exc.get("exception.stacktrace")),
        json.dumps(rejects) if rejects else None,
        json.dumps(hevents) if hevents else None,
        json.dumps(hlinks) if hlinks else None,
        _joined(attrs.get(sc.RECOVERED_TYPES), ", ") if recovered else None,
        _joined(attrs.get(sc.RECOVERED_MESSAGES), "; ") if recovered else None,
        (ids[0] if isinstance(ids, (list, tuple)) else str(ids)) if ids else None,
    )


def _str(v: Any) -> str | None:
    return None if v is None or v == "" else str(v)
