"""A producer process: N spans through the SDK's BatchSpanProcessor + real OTLPSpanExporter.

Usage: python _producer.py ENDPOINT PRODUCER_INDEX N_SPANS
Exits 1 if any export failed (the exporter itself retries 503s after Retry-After).
"""

from __future__ import annotations

import sys

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult


class CountingExporter(OTLPSpanExporter):
    failures = 0

    def export(self, spans):  # type: ignore[no-untyped-def]
        result = super().export(spans)
        if result != SpanExportResult.SUCCESS:
            CountingExporter.failures += 1
        return result


def main() -> int:
    endpoint, index, n_spans = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    provider = TracerProvider(resource=Resource.create({"service.name": f"producer-{index}"}))
    exporter = CountingExporter(endpoint=endpoint, compression=Compression.Gzip, timeout=60)
    provider.add_span_processor(
        BatchSpanProcessor(
            exporter, max_queue_size=n_spans, max_export_batch_size=512, schedule_delay_millis=100
        )
    )
    tracer = provider.get_tracer("producer")
    per_trace = 10
    for t in range(n_spans // per_trace):
        with tracer.start_as_current_span(
            f"invoke_agent agent{index}",
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": f"agent{index}",
                "t": t,
            },
        ):
            for c in range(per_trace - 1):
                with tracer.start_as_current_span(
                    "chat gpt-4o-mini",
                    attributes={
                        "gen_ai.operation.name": "chat",
                        "gen_ai.request.model": "gpt-4o-mini",
                        "gen_ai.usage.input_tokens": 10,
                        "gen_ai.usage.output_tokens": c,
                    },
                ):
                    pass
    provider.shutdown()
    return 1 if CountingExporter.failures else 0


if __name__ == "__main__":
    sys.exit(main())
