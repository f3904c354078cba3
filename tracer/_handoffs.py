"""Data-flow and explicit handoffs, and rejections (the per-run bookkeeping behind them)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from opentelemetry.trace import Link

from . import semconv
from ._state import Producer, Run, current_frame, log_once
from ._wrappers import Spec

Preview = Callable[[Any], str]

_handoff_ids = itertools.count(1)


def handoff_links(
    preview: Preview, spec: Spec, run: Run, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> list[Link] | None:
    """Links to record on an agent span starting now: data flow, then a waiting explicit handoff."""
    links: list[Link] = []
    if run.registry:
        seen: set[str] = set()
        for argument, value in spec.iter_values(args, kwargs):
            producer = run.producer_of(value)
            if producer is None or producer.span_id in seen:
                continue
            seen.add(producer.span_id)  # one link per producer span, first argument wins
            links.append(
                Link(
                    producer.context,
                    {
                        semconv.LINK_TYPE: semconv.LINK_TYPE_HANDOFF,
                        semconv.HANDOFF_KIND: semconv.KIND_DATA,
                        semconv.HANDOFF_FROM_AGENT: producer.agent,
                        semconv.HANDOFF_ARGUMENT: argument,
                        semconv.HANDOFF_PAYLOAD: preview(value),
                    },
                )
            )
    explicit = None
    if run.explicit.get(spec.name):
        with run.lock:  # another thread may be taking the same handoff
            waiting = run.explicit.get(spec.name)
            if waiting:
                explicit = waiting.pop(0)
    if explicit is not None:
        handoff_id, producer, payload = explicit
        attributes = {
            semconv.LINK_TYPE: semconv.LINK_TYPE_HANDOFF,
            semconv.HANDOFF_KIND: semconv.KIND_EXPLICIT,
            semconv.HANDOFF_FROM_AGENT: producer.agent,
            semconv.HANDOFF_ID: handoff_id,
            semconv.GEN_AI_HANDOFF_SOURCE_NAME: producer.agent,
            semconv.GEN_AI_HANDOFF_TARGET_NAME: spec.name,
        }
        if payload is not None:
            attributes[semconv.HANDOFF_PAYLOAD] = payload
        links.append(Link(producer.context, attributes))
    return links or None


def record_handoff(preview: Preview, to: str | Callable[..., Any], payload: Any) -> str | None:
    """Event on the sender now; the receiver's next span in this run links back. Never raises."""
    try:
        frame = current_frame()
        to_name = to if isinstance(to, str) else getattr(to, "__hoptrace_name__", None)
        if to_name is None:
            to_name = getattr(to, "__name__", str(to))
        if frame is None:
            log_once("handoff() called outside a traced run; ignored")
            return None
        handoff_id = f"h{next(_handoff_ids)}"
        payload_preview = None if payload is None else preview(payload)
        sender = frame.agent or frame
        event: dict[str, Any] = {
            semconv.HANDOFF_TO_AGENT: to_name,
            semconv.HANDOFF_ID: handoff_id,
            # the open GenAI proposal's names (semantic-conventions-genai PR 98), for other tools
            semconv.GEN_AI_HANDOFF_SOURCE_NAME: sender.name,
            semconv.GEN_AI_HANDOFF_TARGET_NAME: to_name,
        }
        if payload_preview is not None:
            event[semconv.HANDOFF_PAYLOAD] = payload_preview
        frame.span.add_event(semconv.EVENT_HANDOFF, event)
        producer = Producer(sender.name, sender.span.get_span_context(), sender.span_id)
        with frame.run.lock:
            frame.run.explicit.setdefault(to_name, []).append(
                (handoff_id, producer, payload_preview)
            )
        return handoff_id
    except Exception as exc:
        log_once("handoff() failed", exc)
        return None


def record_reject(preview: Preview, text: Callable[[str], str], value: Any, reason: str) -> None:
    """Event `hoptrace.reject` on the current span, blame kept for later errors. Never raises."""
    try:
        frame = current_frame()
        if frame is None:
            log_once("reject() called outside a traced run; ignored")
            return
        producer = frame.run.producer_of(value)
        event: dict[str, Any] = {
            semconv.REJECT_REASON: text(str(reason)),
            semconv.REJECT_VALUE: preview(value),
        }
        if producer is not None:
            event[semconv.REJECT_SPAN_ID] = producer.span_id
            event[semconv.REJECT_AGENT] = producer.agent
            with frame.run.lock:
                frame.run.rejections.append((frame, producer.span_id))
        frame.span.add_event(semconv.EVENT_REJECT, event)
    except Exception as exc:
        log_once("reject() failed", exc)
