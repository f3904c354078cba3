"""Pending spans: a copy of each span exported as soon as it starts.

A live view (or a post-mortem of a process killed with SIGKILL) then shows an
agent that is still running, or hung, instead of nothing. The technique is
Logfire's: at `on_start` a copy with the same trace and span ids, attribute
`hoptrace.pending=True` and `end_time == start_time` goes into the same queue
as finished spans; when a batch holds both the pending copy and the finished
span, the copy is dropped before export. The store's upsert on
(trace_id, span_id) keeps a finished span when a stale pending copy arrives later.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from . import semconv
from ._state import log_once

LIVE_SCHEDULE_DELAY_MILLIS = 500
"""Batch delay of the default sink, so the live view sees a span within ~2 s."""


class PendingSpanProcessor(SpanProcessor):
    """Span processor that also exports a pending copy of every span at its start.

    Give it an exporter (it batches through a `BatchSpanProcessor` with a short
    delay and drops pending copies whose finished span is in the same batch), or
    an existing span processor (pending copies are forwarded to it as ended spans).

    ```py
    from opentelemetry import trace
    from collector import DuckDBSpanExporter
    import tracer

    trace.get_tracer_provider().add_span_processor(
        tracer.PendingSpanProcessor(DuckDBSpanExporter())
    )
    ```

    Args:
        exporter_or_processor: Where spans go.
        schedule_delay_millis: Batch delay when an exporter is given.
    """

    def __init__(
        self,
        exporter_or_processor: SpanExporter | SpanProcessor,
        schedule_delay_millis: float = LIVE_SCHEDULE_DELAY_MILLIS,
    ) -> None:
        self._exporter: RemovePendingExporter | None = None
        if isinstance(exporter_or_processor, SpanProcessor):
            self._inner: SpanProcessor = exporter_or_processor
        elif isinstance(exporter_or_processor, SpanExporter):
            self._exporter = RemovePendingExporter(exporter_or_processor)
            self._inner = BatchSpanProcessor(
                self._exporter, schedule_delay_millis=schedule_delay_millis
            )
        else:
            raise TypeError(
                "PendingSpanProcessor needs a SpanExporter or a SpanProcessor, "
                f"got {type(exporter_or_processor).__name__}"
            )

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self._inner.on_start(span, parent_context)
        try:
            # mappingproxy.copy() reaches the SDK's plain-dict copy, several times
            # cheaper than dict() over its locked, validating mapping.
            source = span.attributes
            copy = getattr(source, "copy", None)
            attributes = copy() if copy is not None else dict(source or {})
            if not isinstance(attributes, dict):
                attributes = dict(attributes)
            attributes[semconv.PENDING] = True
            pending = ReadableSpan(
                name=span.name,
                context=span.context,
                parent=span.parent,
                resource=span.resource,
                attributes=attributes,
                links=span.links,
                kind=span.kind,
                status=span.status,
                start_time=span.start_time,
                end_time=span.start_time,
                instrumentation_scope=span.instrumentation_scope,
            )
            self._inner.on_end(pending)
        except Exception as exc:
            log_once("could not emit a pending span", exc)

    def on_end(self, span: ReadableSpan) -> None:
        self._inner.on_end(span)

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        done = self._inner.force_flush(timeout_millis)
        # BatchSpanProcessor hands the queue to the exporter but does not flush
        # the exporter itself; a buffering exporter (the DuckDB one) must be
        # told too, or `flush()` would return before the spans are stored.
        if self._exporter is not None:
            done = self._exporter.force_flush(timeout_millis) and done
        return done


def span_processor(exporter: SpanExporter) -> PendingSpanProcessor:
    """The processor hoptrace itself uses for `exporter`: pending spans + live batching."""
    return PendingSpanProcessor(exporter)


def is_pending(span: ReadableSpan) -> bool:
    """Whether `span` is a pending copy rather than a finished span."""
    attributes = span.attributes
    return bool(attributes and attributes.get(semconv.PENDING))


class RemovePendingExporter(SpanExporter):
    """Drops pending copies whose finished span is in the same batch; never raises."""

    def __init__(self, exporter: SpanExporter) -> None:
        self._exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            finished = {
                (s.context.trace_id, s.context.span_id)
                for s in spans
                if s.context is not None and not is_pending(s)
            }
            if finished and len(finished) < len(spans):
                spans = [
                    s
                    for s in spans
                    if not (
                        is_pending(s)
                        and s.context is not None
                        and (s.context.trace_id, s.context.span_id) in finished
                    )
                ]
            return self._exporter.export(spans)
        except Exception as exc:
            log_once(f"span exporter {type(self._exporter).__name__} failed", exc)
            return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        try:
            self._exporter.shutdown()
        except Exception as exc:
            log_once(f"span exporter {type(self._exporter).__name__} failed to shut down", exc)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        try:
            return self._exporter.force_flush(timeout_millis)
        except Exception as exc:
            log_once(f"span exporter {type(self._exporter).__name__} failed to flush", exc)
            return False
