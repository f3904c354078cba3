"""Sections of the span detail screen, as plain text (tested without Textual)."""

from __future__ import annotations

import json
from typing import Any

from collector.queries import SpanConversation, SpanDetail

from .fmt import fmt_cost, fmt_duration, fmt_time
from .transcript import params_line

__all__ = ["CONVERSATION", "detail_sections", "handoff_producers"]

CONVERSATION = "Conversation"
"""Title of the placeholder section the screen replaces with the transcript."""
MAX_VALUE = 2000
_CONTENT_ATTRIBUTES = frozenset(
    {
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.definitions",
    }
)  # a huge attribute must not turn the screen into a wall of text


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE] + f"… ({len(text)} chars)"


def _pretty(preview: str | None) -> str:
    if not preview:
        return "(none)"
    try:
        return _value(json.dumps(json.loads(preview), indent=2, ensure_ascii=False))
    except ValueError:
        return _value(preview)


def handoff_producers(detail: SpanDetail) -> list[tuple[str, str]]:
    """(producer span id, description) of every handoff into this span; data / explicit first."""
    out: dict[str, str] = {}
    for h in detail.handoffs_in:
        if h.from_span_id:
            out.setdefault(h.from_span_id, f"{h.kind} from {h.from_agent or '?'}")
    for link in detail.links:
        attrs = link.get("attributes") or {}
        if isinstance(attrs, str):
            attrs = json.loads(attrs)
        if attrs.get("hoptrace.link.type") == "handoff" and link.get("span_id"):
            kind = attrs.get("hoptrace.handoff.kind", "handoff")
            out.setdefault(
                str(link["span_id"]), f"{kind} from {attrs.get('hoptrace.handoff.from_agent', '?')}"
            )
    delegated = detail.attributes.get("hoptrace.handoff.from_span_id")
    if delegated:
        out.setdefault(
            str(delegated),
            f"delegate from {detail.attributes.get('hoptrace.handoff.from_agent', '?')}",
        )
    # the producer of the data is the more useful jump than the delegating parent
    return sorted(out.items(), key=lambda kv: kv[1].startswith("delegate"))


def _usage_line(detail: SpanDetail, conversation: SpanConversation | None) -> str | None:
    # a model call shows its own usage; any other span the sum of the model calls it made
    own = detail.input_tokens is not None or detail.output_tokens is not None
    calls = conversation.calls if conversation is not None else ()
    is_call = any(c.span_id == detail.span_id for c in calls) or (own and not calls)
    if is_call:
        return (
            f"model       {detail.model or '?'}   tokens {detail.input_tokens or 0} in / "
            f"{detail.output_tokens or 0} out   cost {fmt_cost(detail.cost_usd)}"
        )
    if conversation is not None and calls:
        models = ", ".join(dict.fromkeys(c.model or "?" for c in calls))
        return (
            f"model calls {len(calls)} ({models})   tokens {conversation.input_tokens or 0} in / "
            f"{conversation.output_tokens or 0} out   cost {fmt_cost(conversation.cost_usd)}"
        )
    if detail.model:
        return f"model       {detail.model}   (no model calls recorded under this span)"
    return None


def _error_section(
    detail: SpanDetail, conversation: SpanConversation | None
) -> tuple[str, str] | None:
    rejected = detail.error_role == "rejected" or (
        conversation is not None and conversation.rejected_by is not None
    )
    if rejected:
        by = conversation.rejected_by if conversation is not None else None
        reason = (conversation.reject_reason if conversation is not None else None) or (
            detail.error_message
        )
        lines = [f"Rejected by {by or 'a reviewer'}: {reason or '(no reason given)'}"]
        lines.append("this span's output was declared wrong; errors after it are blamed here")
        return ("Rejected", "\n".join(lines))
    if detail.error_type or detail.exception_stacktrace or detail.error_role:
        lines = [f"{detail.error_type or 'error'}: {detail.error_message or ''}"]
        if detail.error_role:
            lines.append(f"role {detail.error_role}")
        if detail.cause_span_id:
            lines.append(f"origin span {detail.cause_span_id}")
        if detail.exception_stacktrace:
            lines += ["", detail.exception_stacktrace.rstrip()]
        return ("Exception", "\n".join(lines))
    return None


def detail_sections(
    detail: SpanDetail, conversation: SpanConversation | None = None
) -> list[tuple[str, str]]:
    """(title, body) pairs: overview, handoffs in, exception, input, output, attributes, events, links."""
    duration = "pending" if detail.pending else fmt_duration(detail.duration_ms)
    overview = [
        f"name        {detail.name}",
        f"span / trace {detail.span_id} / {detail.trace_id}",
        f"parent      {detail.parent_span_id or '(root)'}",
        f"operation   {detail.operation or ''}   agent {detail.agent_name or ''}",
        f"start       {fmt_time(detail.start_ns)} UTC   duration {duration}",
        f"status      {detail.status}"
        + (f": {detail.status_message}" if detail.status_message else ""),
    ]
    usage = _usage_line(detail, conversation)
    if usage:
        overview.append(usage)
    tools = [
        m.tool_name or "?"
        for m in (conversation.messages if conversation is not None else ())
        if m.direction == "tools" and m.span_id == detail.span_id
    ]
    params = params_line(detail.attributes, tools)
    if params:
        overview.append(f"params      {params}")
    sections = [("Span", "\n".join(overview))]
    producers = handoff_producers(detail)
    if producers:
        lines = [f"{kind}  ← span {sid}" for sid, kind in producers]
        for lin in conversation.lineage if conversation is not None else ():
            excerpt = lin.excerpt if len(lin.excerpt) <= 60 else lin.excerpt[:60] + "…"
            lines.append(
                f"content: this agent's first prompt contains {lin.from_agent or '?'}'s last"
                f' model reply ("{excerpt}", call {lin.from_call_span_id})'
            )
        sections.append(("Handoffs in (p: jump to the producer)", "\n".join(lines)))
    error = _error_section(detail, conversation)
    if error is not None:
        sections.append(error)
    has_calls = conversation is not None and bool(conversation.calls)
    own_call = has_calls and any(c.span_id == detail.span_id for c in conversation.calls)  # type: ignore[union-attr]
    if not own_call:  # a model call's input and output are its transcript
        sections.append(("Input", _pretty(detail.input_preview)))
        sections.append(("Output", _pretty(detail.output_preview)))
    if has_calls:
        sections.append((CONVERSATION, ""))  # the screen puts the transcript widget here
    shown = _CONTENT_ATTRIBUTES if own_call else frozenset()
    attrs = "\n".join(
        f"{k} = {'(in the conversation above)' if k in shown else _value(v)}"
        for k, v in sorted(detail.attributes.items())
    )
    sections.append(("Attributes", attrs or "(none)"))
    events = []
    for e in detail.events:
        offset = ""
        if isinstance(e.get("time_ns"), int):
            offset = f" +{fmt_duration((e['time_ns'] - detail.start_ns) / 1e6)}"
        events.append(f"{e.get('name', '?')}{offset}")
        attributes = e.get("attributes") or {}
        if isinstance(attributes, dict):
            events += [f"    {k} = {_value(v)}" for k, v in sorted(attributes.items())]
    sections.append(("Events", "\n".join(events) or "(none)"))
    links = [
        f"→ span {link.get('span_id')} (trace {link.get('trace_id')})  {_value(link.get('attributes') or {})}"
        for link in detail.links
    ]
    sections.append(("Links", "\n".join(links) or "(none)"))
    return sections
