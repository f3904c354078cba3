"""A hoptrace-instrumented pipeline that sends its spans to a collector over OTLP/HTTP.

Usage: python _tracer_producer.py [ENDPOINT]
With ENDPOINT: `tracer.configure(endpoint=ENDPOINT)`; without: only the standard
`OTEL_EXPORTER_OTLP_ENDPOINT` environment variable says where to send.
"""

from __future__ import annotations

import sys

import tracer


@tracer.tool
def search(query: str) -> list[str]:
    return [f"{query} result {i}" for i in range(2)]


@tracer.agent(model="gpt-4o-mini")
def researcher(topic: str) -> str:
    hits = search(topic)
    with tracer.llm_call("gpt-4o-mini", provider="openai") as call:
        call.record_usage(input_tokens=120, output_tokens=30)
    return "; ".join(hits)


@tracer.agent(model="gpt-4o")
def planner(topic: str) -> str:
    with tracer.llm_call("gpt-4o", provider="openai") as call:
        call.record_usage(input_tokens=200, output_tokens=40)
    return researcher(topic)


@tracer.workflow
def pipeline(topic: str) -> str:
    return planner(topic)


def main() -> int:
    if len(sys.argv) > 1:
        tracer.configure(endpoint=sys.argv[1], service_name="tracer-producer")
    for i in range(3):
        pipeline(f"topic {i}")
    tracer.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
