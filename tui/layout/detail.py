"""Sections of the span detail screen, as plain text (tested without Textual)."""

from __future__ import annotations

import json
from typing import Any

from collector.queries import SpanDetail

from .fmt import fmt_cost, fmt_duration, fmt_time

__all__ = ["detail_sections", "handoff_producers"]

MAX_VALUE = 2000  # a huge attribute must not turn the screen into a wall of text


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


def detail_sections(detail: SpanDetail) -> list[tuple[str, str]]:
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
    if detail.model:
        overview.append(
            f"model       {detail.model}   tokens {detail.input_tokens or 0} in / "
            f"{detail.output_tokens or 0} out   cost {fmt_cost(detail.cost_usd)}"
        )
    sections = [("Span", "\n".join(overview))]
    producers = handoff_producers(detail)
    if producers:
        body = "\n".join(f"{kind}  ← span {sid}" for sid, kind in producers)
        sections.append(("Handoffs in (p: jump to the producer)", body))
    if detail.error_type or detail.exception_stacktrace or detail.error_role:
        lines = [f"{detail.error_type or 'error'}: {detail.error_message or ''}"]
        if detail.error_role:
            lines.append(f"role {detail.error_role}")
        if detail.cause_span_id:
            lines.append(f"origin span {detail.cause_span_id}")
        if detail.exception_stacktrace:
            lines += ["", detail.exception_stacktrace.rstrip()]
        sections.append(("Exception", "\n".join(lines)))
    sections.append(("Input", _pretty(detail.input_preview)))
    sections.append(("Output", _pretty(detail.output_preview)))
    attrs = "\n".join(f"{k} = {_value(v)}" for k, v in sorted(detail.attributes.items()))
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
