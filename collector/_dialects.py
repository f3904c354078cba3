"""Which attribute of which tool fills which hoptrace column: the dialect table.

Every GenAI tool spells the same facts differently (../shared/reference/dialects.md).
The tables below are the whole mapping, read top to bottom: for each promoted
column, the attribute names tried in order, first present wins. hoptrace's own
names (tracer.semconv) come first, then the OTel GenAI conventions (current, then
legacy spellings), then OpenInference, litellm, pydantic-ai and the two OpenAI
Agents mappings. `promote()` applies them to one span; it runs at ingest, so the
views never parse JSON.

Span classes (`span_class`, shown as `hoptrace_kind` in the `spans` view) are
decided by `classify()`: agent | llm | tool | workflow | handoff | span.
"""

from __future__ import annotations

import json
from typing import Any

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
    "handoff_from_agent": (sc.HANDOFF_FROM_AGENT, "gen_ai.handoff.from_agent"),
    "handoff_from_span_id": (sc.HANDOFF_FROM_SPAN_ID,),
    "handoff_to_agent": ("gen_ai.handoff.to_agent", "gen_ai.transfer.target.name"),
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

# --- applying it ------------------------------------------------------------------

_PREVIEWS = frozenset({"input_preview", "output_preview", "handoff_payload"})
_STRING_COLUMNS = tuple(STRING_ATTRS)
_INT_COLUMNS = tuple(INT_ATTRS)
_OUT_COLUMNS = (*STRING_ATTRS, *INT_ATTRS, "_cost")


def _build_index() -> dict[str, list[tuple[str, int]]]:
    """attribute name -> [(column, rank)]: the tables above, inverted (lower rank wins)."""
    index: dict[str, list[tuple[str, int]]] = {}
    tables: list[tuple[str, tuple[str, ...]]] = [
        *STRING_ATTRS.items(),
        *INT_ATTRS.items(),
        ("_cost", COST_ATTRS),
    ]
    for column, names in tables:
        for rank, name in enumerate(names):
            index.setdefault(name, []).append((column, rank))
    return index


_INDEX = _build_index()


def first(attrs: dict[str, Any], keys: tuple[str, ...]) -> Any:
    """Value of the first key present (and not empty) in `attrs`."""
    for k in keys:
        v = attrs.get(k)
        if v is not None and v != "":
            return v
    return None


def classify(name: str, attrs: dict[str, Any], operation: str | None) -> str:
    """agent | llm | tool | workflow | handoff | span."""
    hk = attrs.get(sc.HOPTRACE_KIND)
    if hk:
        return str(hk)
    if operation:
        if operation == sc.OP_AGENT:
            named = attrs.get(sc.GEN_AI_AGENT_NAME) or attrs.get("agent_name")
            return "agent" if named else "workflow"
        if operation == sc.OP_WORKFLOW:
            return "workflow"
        if operation == sc.OP_TOOL:
            return "tool"
        if operation in LLM_OPERATIONS:
            return "llm"
        if operation in HANDOFF_OPERATIONS:
            return "handoff"
    oi = attrs.get(OI_KIND)
    if oi:
        oi = str(oi).upper()
        if oi == "AGENT":
            return "agent" if attrs.get("agent.name") else "workflow"
        if oi in ("LLM", "EMBEDDING"):
            return "llm"
        if oi == "TOOL":
            if name.startswith("handoff to "):
                return "handoff"
            return "tool"
    if name in LLM_SPAN_NAMES:
        return "llm"
    tl = attrs.get("traceloop.span.kind")
    if tl in ("workflow", "agent", "tool"):
        return str(tl)
    return "span"


def _text(v: Any) -> str | None:
    if v is None:
        return None
    s = v if isinstance(v, str) else json.dumps(v, default=str)
    return s if len(s) <= PREVIEW_LIMIT else s[:PREVIEW_LIMIT] + "…"


def _as_int(v: Any) -> int | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _as_float(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def promote(
    name: str,
    status: str,
    status_message: str | None,
    attrs: dict[str, Any],
    events: list[dict[str, Any]],
    links: list[dict[str, Any]],
    resource: dict[str, Any],
) -> dict[str, Any]:
    """The promoted columns of one span (keys = the promoted part of span_t)."""
    # One pass over the span's own attributes through the reverse index of the
    # tables above (a span has ~10 attributes; the tables list ~70 names).
    found: dict[str, tuple[int, Any]] = {}
    for key, value in attrs.items():
        targets = _INDEX.get(key)
        if targets is None or value is None or value == "":
            continue
        for column, rank in targets:
            seen = found.get(column)
            if seen is None or rank < seen[0]:
                found[column] = (rank, value)
    out: dict[str, Any] = dict.fromkeys(_OUT_COLUMNS)
    for column, (_, value) in found.items():
        out[column] = value
    for k in _STRING_COLUMNS:
        v = out[k]
        if v is not None and (k in _PREVIEWS or not isinstance(v, str)):
            out[k] = _text(v)
    for k in _INT_COLUMNS:
        out[k] = _as_int(out[k])
    out["service_name"] = resource.get("service.name")
    cls = classify(name, attrs, out["operation"])
    out["span_class"] = cls
    out["native"] = sc.HOPTRACE_KIND in attrs
    if cls == "agent" and out["agent_attr"] is None:
        out["agent_attr"] = attrs.get("graph.node.id") or name.removeprefix("invoke_agent ")
    if cls == "handoff" and attrs.get(OI_KIND):
        # OpenInference's OpenAI Agents handoff: input.value=from, output.value=to
        out["handoff_from_agent"] = out["handoff_from_agent"] or _text(attrs.get("input.value"))
        out["handoff_to_agent"] = out["handoff_to_agent"] or _text(attrs.get("output.value"))
        if out["handoff_to_agent"] is None:
            out["handoff_to_agent"] = name.removeprefix("handoff to ")

    cost = _as_float(out.pop("_cost"))
    out["cost_usd"] = cost
    out["cost_source"] = "reported" if cost is not None else None

    # errors: error.type attribute, else the last `exception` event
    err_type = attrs.get(sc.ERROR_TYPE)
    exc = None
    rejects: list[dict[str, Any]] = []
    hevents: list[dict[str, Any]] = []
    for ev in events:
        ename = ev.get("name")
        if ename == "exception":
            exc = ev.get("attributes") or {}
        elif ename == sc.EVENT_REJECT:
            ea = ev.get("attributes") or {}
            rejects.append(
                {
                    "span_id": ea.get(sc.REJECT_SPAN_ID),
                    "agent": ea.get(sc.REJECT_AGENT),
                    "reason": ea.get(sc.REJECT_REASON),
                    "time_ns": ev.get("time_ns"),
                }
            )
        elif ename == sc.EVENT_HANDOFF:
            ea = ev.get("attributes") or {}
            hevents.append(
                {
                    "to_agent": ea.get(sc.HANDOFF_TO_AGENT),
                    "payload": _text(ea.get(sc.HANDOFF_PAYLOAD)),
                    "id": ea.get(sc.HANDOFF_ID),
                    "time_ns": ev.get("time_ns"),
                }
            )
    if exc is not None:
        err_type = err_type or exc.get("exception.type")
        out["error_message"] = out["error_message"] or exc.get("exception.message")
        out["exception_stacktrace"] = out["exception_stacktrace"] or exc.get("exception.stacktrace")
    if status == "ERROR":
        out["error_message"] = out["error_message"] or status_message
    if out["marker_role"] == sc.ROLE_RECOVERED:
        types = attrs.get(sc.RECOVERED_TYPES)
        msgs = attrs.get(sc.RECOVERED_MESSAGES)
        if err_type is None and types:
            err_type = (
                ", ".join(map(str, types)) if isinstance(types, (list, tuple)) else str(types)
            )
        if out["error_message"] is None and msgs:
            out["error_message"] = (
                "; ".join(map(str, msgs)) if isinstance(msgs, (list, tuple)) else msgs
            )
        ids = attrs.get(sc.RECOVERED_SPAN_IDS)
        if out["marker_cause"] is None and ids:
            out["marker_cause"] = ids[0] if isinstance(ids, (list, tuple)) else str(ids)
    out["error_type"] = None if err_type is None else str(err_type)
    if out["error_message"] is not None and not isinstance(out["error_message"], str):
        out["error_message"] = str(out["error_message"])

    hlinks = []
    for ln in links:
        la = ln.get("attributes") or {}
        if la.get(sc.LINK_TYPE) == sc.LINK_TYPE_HANDOFF:
            hlinks.append(
                {
                    "span_id": ln.get("span_id"),
                    "kind": la.get(sc.HANDOFF_KIND) or sc.KIND_DATA,
                    "from_agent": la.get(sc.HANDOFF_FROM_AGENT),
                    "payload": _text(la.get(sc.HANDOFF_PAYLOAD)),
                    "argument": la.get(sc.HANDOFF_ARGUMENT),
                    "id": la.get(sc.HANDOFF_ID),
                }
            )
    out["rejects"] = json.dumps(rejects) if rejects else None
    out["handoff_links"] = json.dumps(hlinks) if hlinks else None
    out["handoff_events"] = json.dumps(hevents) if hevents else None
    return out
