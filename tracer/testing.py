"""Assert on hoptrace spans in your own tests.

```py
import tracer
from tracer.testing import capture_spans, find, tree

def test_pipeline() -> None:
    with capture_spans() as captured:
        my_pipeline("question")
    assert find(captured.spans, "writer").attributes["gen_ai.agent.name"] == "writer"
    print(tree(captured.spans))
```

`capture_spans()` points a `Hoptrace` instance (the default one unless given)
at a fresh SDK `TracerProvider` with an `InMemorySpanExporter`, a
`SimpleSpanProcessor` and `IncrementalIdGenerator` (span ids 1, 2, 3…), and
restores the previous configuration on exit. Nothing global is installed.
With pytest, `from tracer.testing import hoptrace_spans` in a conftest gives
the same as a fixture.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import StatusCode

from . import DEFAULT_INSTANCE, semconv
from ._hoptrace import Hoptrace
from ._pending import PendingSpanProcessor, is_pending

__all__ = [
    "CapturedSpans",
    "InMemorySpanExporter",
    "IncrementalIdGenerator",
    "by_name",
    "capture_spans",
    "error_role",
    "find",
    "handoff_links",
    "span_id",
    "tree",
]


class IncrementalIdGenerator(IdGenerator):
    """Trace and span ids 1, 2, 3… so assertions and printed trees are deterministic."""

    def __init__(self) -> None:
        self._span_ids = itertools.count(1)
        self._trace_ids = itertools.count(1)
        self._lock = threading.Lock()

    def generate_span_id(self) -> int:
        with self._lock:
            return next(self._span_ids)

    def generate_trace_id(self) -> int:
        with self._lock:
            return next(self._trace_ids)


class CapturedSpans:
    """What `capture_spans()` yields: the exporter, the provider and helpers."""

    def __init__(
        self, exporter: InMemorySpanExporter, provider: TracerProvider, instance: Hoptrace
    ) -> None:
        self.exporter = exporter
        self.provider = provider
        self.instance = instance

    @property
    def spans(self) -> list[ReadableSpan]:
        """Finished spans (pending copies excluded), in end order."""
        return [s for s in self.exporter.get_finished_spans() if not is_pending(s)]

    @property
    def pending(self) -> list[ReadableSpan]:
        """Pending copies (only with `capture_spans(pending=True)`)."""
        return [s for s in self.exporter.get_finished_spans() if is_pending(s)]

    def find(self, name: str) -> ReadableSpan:
        return find(self.spans, name)

    def tree(self) -> str:
        return tree(self.spans)

    def clear(self) -> None:
        self.exporter.clear()


@contextmanager
def capture_spans(
    instance: Hoptrace | None = None, *, pending: bool = False, **configure: Any
) -> Iterator[CapturedSpans]:
    """Capture the spans of an instance (default: the module-level one) in memory.

    Args:
        instance: The `Hoptrace` to capture (default `tracer.DEFAULT_INSTANCE`).
        pending: Also keep the pending copies emitted at span start.
        **configure: More `configure()` arguments (e.g. `max_preview_bytes=64`).
    """
    instance = instance or DEFAULT_INSTANCE
    exporter = InMemorySpanExporter()
    provider = TracerProvider(id_generator=IncrementalIdGenerator())
    processor = SimpleSpanProcessor(exporter)
    provider.add_span_processor(PendingSpanProcessor(processor) if pending else processor)
    saved = instance._snapshot()
    instance.configure(tracer_provider=provider, **configure)
    try:
        yield CapturedSpans(exporter, provider, instance)
    finally:
        instance.flush()
        instance._restore(saved)
        provider.shutdown()


def span_id(span: ReadableSpan) -> str:
    """Hex span id, as hoptrace writes it into attributes."""
    assert span.context is not None
    return format(span.context.span_id, "016x")


def _matches(span: ReadableSpan, name: str) -> bool:
    return span.name == name or span.name.partition(" ")[2] == name


def by_name(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    """Spans whose name is `name`, or `<operation> name` (e.g. "writer" for "invoke_agent writer")."""
    return [s for s in spans if _matches(s, name)]


def find(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    """The one span matching `name` (see `by_name`).

    Raises:
        LookupError: none or several match.
    """
    found = by_name(spans, name)
    if len(found) != 1:
        names = sorted({s.name for s in spans})
        raise LookupError(f"{len(found)} spans match {name!r}; spans: {names}")
    return found[0]


def error_role(span: ReadableSpan) -> str | None:
    """hoptrace.error.role of a span (origin, propagated, recovered) or None."""
    value = (span.attributes or {}).get(semconv.ERROR_ROLE)
    return str(value) if value is not None else None


def handoff_links(span: ReadableSpan) -> list[dict[str, Any]]:
    """The span's handoff links as dicts of link attributes plus `from_span_id`."""
    out: list[dict[str, Any]] = []
    for link in span.links:
        attributes = dict(link.attributes or {})
        if attributes.get(semconv.LINK_TYPE) == semconv.LINK_TYPE_HANDOFF:
            attributes["from_span_id"] = format(link.context.span_id, "016x")
            out.append(attributes)
    return out


def tree(spans: Sequence[ReadableSpan]) -> str:
    """An ASCII tree of spans by parent, children in start order; `!` marks ERROR.

    ```text
    invoke_workflow pipeline
    └─ invoke_agent writer
       ├─ chat gpt-4o-mini
       └─ execute_tool search !
    ```
    """
    ids = {s.context.span_id for s in spans if s.context is not None}
    children: dict[int | None, list[ReadableSpan]] = {}
    for s in sorted(spans, key=lambda s: s.start_time or 0):
        parent = s.parent.span_id if s.parent is not None else None
        children.setdefault(parent if parent in ids else None, []).append(s)
    lines: list[str] = []

    def label(s: ReadableSpan) -> str:
        text = s.name
        if s.status.status_code is StatusCode.ERROR:
            text += " !"
        if is_pending(s):
            text += " (pending)"
        return text

    def walk(s: ReadableSpan, prefix: str, last: bool, root: bool) -> None:
        lines.append(label(s) if root else f"{prefix}{'└─ ' if last else '├─ '}{label(s)}")
        kids = children.get(s.context.span_id if s.context else None, [])
        inner = "" if root else prefix + ("   " if last else "│  ")
        for i, kid in enumerate(kids):
            walk(kid, inner, i == len(kids) - 1, False)

    for root in children.get(None, []):
        walk(root, "", True, True)
    return "\n".join(lines)


try:
    import pytest
except ImportError:  # pytest is optional: the helpers above work without it
    pass
else:

    @pytest.fixture
    def hoptrace_spans() -> Iterator[CapturedSpans]:
        """pytest fixture: the default instance's spans, captured in memory."""
        with capture_spans() as captured:
            yield captured

    __all__ += ["hoptrace_spans"]
