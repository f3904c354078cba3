"""Shared pieces of the framework tests: the OTLP provider, store reads, ground-truth checks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from collector import query


def provider_to(endpoint: str, service: str) -> TracerProvider:
    """A provider exporting every span on its own request (children before parents)."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return provider


def rows(db: Path, sql: str) -> list[dict[str, Any]]:
    return query(sql, db=db).to_dicts()


def price(db: Path, model: str) -> tuple[float, float]:
    row = rows(db, "SELECT input_cost_per_token AS i, output_cost_per_token AS o "
                   f"FROM model_prices WHERE model = '{model}'")[0]  # fmt: skip
    return row["i"], row["o"]


def dump(db: Path) -> str:
    """The spans as one line each (for assertion messages)."""
    out = []
    for s in rows(db, "SELECT span_id, parent_span_id, name, hoptrace_kind, agent_name, status, "
                      "error_type, error_role, tool_name, attributes FROM spans ORDER BY start_ns"):  # fmt: skip
        attrs = json.loads(s.pop("attributes") or "{}")
        keep = {k: (v if len(str(v)) < 80 else str(v)[:80]) for k, v in attrs.items()
                if not k.startswith(("llm.input_messages", "llm.output_messages", "llm.tools",
                                     "llm.invocation", "input.value", "output.value"))}  # fmt: skip
        out.append(f"{s} {keep}")
    return "\n".join(out)


class _Forward(SpanProcessor):
    """The global provider's one processor, forwarding to the current test's exporter.

    Frameworks that trace through the global provider (AutoGen's runtime and agents, Google
    ADK) can only have it set once a process; each test points it at its own receiver.
    """

    def __init__(self) -> None:
        self.target: SpanProcessor | None = None

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if self.target is not None:
            self.target.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if self.target is not None:
            self.target.on_end(span)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.target.force_flush(timeout_millis) if self.target is not None else True


_FORWARD = _Forward()


@contextmanager
def global_provider_to(endpoint: str, service: str) -> Iterator[TracerProvider]:
    """The process-wide provider, exporting to `endpoint` until the block ends."""
    current = trace.get_tracer_provider()
    if not isinstance(current, TracerProvider):
        current = TracerProvider(resource=Resource.create({"service.name": service}))
        trace.set_tracer_provider(current)
    if _FORWARD not in current._active_span_processor._span_processors:
        current.add_span_processor(_FORWARD)
    _FORWARD.target = SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint))
    try:
        yield current
    finally:
        target, _FORWARD.target = _FORWARD.target, None
        target.shutdown()
