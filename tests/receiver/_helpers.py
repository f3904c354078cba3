"""Shared helpers for the receiver tests: OTLP bodies built by the real SDK encoder."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from collector.ingest._batch import SpanBatch

# examples/trace.json of open-telemetry/opentelemetry-proto (uppercase hex ids)
SPEC_EXAMPLE: dict[str, Any] = {
    "resourceSpans": [
        {
            "resource": {
                "attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]
            },
            "scopeSpans": [
                {
                    "scope": {
                        "name": "my.library",
                        "version": "1.0.0",
                        "attributes": [
                            {
                                "key": "my.scope.attribute",
                                "value": {"stringValue": "some scope attribute"},
                            }
                        ],
                    },
                    "spans": [
                        {
                            "traceId": "5B8EFFF798038103D269B633813FC60C",
                            "spanId": "EEE19B7EC3C1B174",
                            "parentSpanId": "EEE19B7EC3C1B173",
                            "name": "I'm a server span",
                            "startTimeUnixNano": "1544712660000000000",
                            "endTimeUnixNano": "1544712661000000000",
                            "kind": 2,
                            "attributes": [
                                {"key": "my.span.attr", "value": {"stringValue": "some value"}}
                            ],
                        }
                    ],
                }
            ],
        }
    ]
}


def sdk_spans(n_traces: int = 2, children: int = 3, service: str = "svc") -> list[ReadableSpan]:
    """Real SDK spans: per trace one agent span with `children` chat spans (one with an error)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.receiver", "1.2.3")
    for t in range(n_traces):
        with tracer.start_as_current_span(
            "invoke_agent planner",
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "planner",
                "run": t,
            },
        ) as root:
            for c in range(children):
                with tracer.start_as_current_span(
                    "chat gpt-4o",
                    kind=SpanKind.CLIENT,
                    links=[Link(root.get_span_context(), {"hoptrace.link.type": "handoff"})],
                    attributes={
                        "gen_ai.request.model": "gpt-4o",
                        "gen_ai.usage.input_tokens": 10 + c,
                        "gen_ai.response.finish_reasons": ("stop",),
                        "temperature": 0.5,
                        "stream": False,
                    },
                ) as span:
                    span.add_event("gen_ai.choice", {"index": c})
                    if c == children - 1:
                        span.set_status(Status(StatusCode.ERROR, "boom"))
    provider.shutdown()
    return list(exporter.get_finished_spans())


def proto_body(spans: list[ReadableSpan] | None = None) -> bytes:
    """A binary ExportTraceServiceRequest exactly as the OTLP exporter encodes it."""
    return encode_spans(spans if spans is not None else sdk_spans()).SerializeToString()


def json_body(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def span_ids(batches: list[SpanBatch]) -> list[str]:
    return [sid for b in batches for sid in b.span_id]


@contextmanager
def connection(endpoint: str) -> Iterator[http.client.HTTPConnection]:
    host_port = endpoint.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        yield conn
    finally:
        conn.close()


def post(
    endpoint: str,
    body: bytes,
    content_type: str = "application/x-protobuf",
    headers: dict[str, str] | None = None,
    path: str = "/v1/traces",
    method: str = "POST",
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection; returns (status, headers, body)."""
    with connection(endpoint) as conn:
        hdrs = {"Content-Type": content_type, **(headers or {})}
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
