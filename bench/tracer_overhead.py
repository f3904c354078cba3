"""Per-call overhead of hoptrace's decorators against raw OpenTelemetry.

Run: `.venv/bin/python bench/tracer_overhead.py [--pending] [--calls N] [--repeat R]`

All traced figures use ONE TracerProvider whose processor hands spans to an
exporter that drops them, so the comparison is tracer work only. Default
processor: `SimpleSpanProcessor` (synchronous, no queue effects); with
`--pending`, hoptrace's `PendingSpanProcessor` around it (a pending copy of
every span is exported at its start, as the zero-config sink does). Prints microseconds per call (best of
R repeats) and the ratios to the raw-OTel figure. Targets: `@agent` no-op at
most 1.25x raw OTel, `@agent` with a 1 KB argument and capture on at most 2x.

Model-call rows (`--no-llm` skips them): a litellm `completion(mock_response=...)` with
a system prompt, a 1 KB user message and a tool definition, untraced, then inside an
`@agent` with message content capture off and on; printed as microseconds and as the
ratio to the untraced litellm call (litellm's own work dominates; the on/off gap is
what recording the content costs).
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from tracer import Hoptrace, PendingSpanProcessor


class NullExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def measure(
    cases: list[tuple[str, Callable[[], None]]], calls: int, repeat: int
) -> dict[str, float]:
    """Best microseconds per call of each case.

    Rounds are interleaved (every case once per round), so a burst of load on
    a shared machine hits all cases alike instead of skewing one ratio, and
    time is the process's CPU time, which does not count the time the
    process spends descheduled while other processes run.
    """
    best = {name: float("inf") for name, _ in cases}
    for _ in range(repeat):
        for name, fn in cases:
            gc.collect()
            start = time.process_time()
            for _ in range(calls):
                fn()
            best[name] = min(best[name], (time.process_time() - start) / calls * 1e6)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--pending", action="store_true", help="use PendingSpanProcessor")
    parser.add_argument("--no-llm", action="store_true", help="skip the litellm model-call rows")
    args = parser.parse_args(argv)

    provider = TracerProvider(shutdown_on_exit=False)
    if args.pending:
        # Pending copies exported synchronously too: no batch queue to overflow.
        provider.add_span_processor(PendingSpanProcessor(SimpleSpanProcessor(NullExporter())))
    else:
        provider.add_span_processor(SimpleSpanProcessor(NullExporter()))
    otel = provider.get_tracer("bench")
    ht = Hoptrace()
    ht.configure(tracer_provider=provider, instrument_litellm=False, instrument_threads=False)
    payload = "x" * 1024

    def plain() -> None:
        return None

    def raw_otel() -> None:
        with otel.start_as_current_span("invoke_agent noop"):
            plain()

    @ht.agent
    def agent_noop() -> None:
        return None

    @ht.agent
    def agent_1kb(text: str) -> None:
        return None

    # Distinct 1 KB prompts (more than the redaction memo holds), as when every
    # call gets a different one.
    prose = (
        "Summarise the findings of the 2024 survey on agent reliability, listing each "
        "failure mode with its frequency and a short example. "
    ) * 9
    fresh = [(f"Request {i}: " + prose)[:1024] for i in range(1000)]
    fresh_iter = itertools.cycle(fresh)

    cases: list[tuple[str, Callable[[], None]]] = [
        ("plain call", plain),
        ("raw OTel start_as_current_span", raw_otel),
        ("@agent no-op", agent_noop),
        ("@agent 1 KB str arg, capture on", lambda: agent_1kb(payload)),
        ("  a different 1 KB prompt per call", lambda: agent_1kb(next(fresh_iter))),
    ]
    for _, fn in cases:  # warm up (first call configures, caches fill)
        for _ in range(1000):
            fn()
    results = measure(cases, args.calls, args.repeat)
    reference = results["raw OTel start_as_current_span"]
    processor = "PendingSpanProcessor" if args.pending else "SimpleSpanProcessor"
    print(
        f"processor: {processor} -> null exporter; "
        f"best of {args.repeat} x {args.calls} calls (process CPU time)"
    )
    print(f"{'case':<36}{'us/call':>10}{'x raw OTel':>12}")
    for name, us in results.items():
        print(f"{name:<36}{us:>10.2f}{us / reference:>12.2f}")
    noop = results["@agent no-op"] / reference
    cap = results["@agent 1 KB str arg, capture on"] / reference
    print(
        f"targets: no-op <= 1.25x -> {noop:.2f}x {'OK' if noop <= 1.25 else 'MISSED'}; "
        f"capture <= 2x -> {cap:.2f}x {'OK' if cap <= 2 else 'MISSED'}"
    )
    if not args.no_llm:
        model_call_rows(provider, args.calls, args.repeat)
    provider.shutdown()


def model_call_rows(provider: TracerProvider, calls: int, repeat: int) -> None:
    """litellm mock calls untraced, traced with content off, traced with content on."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    on, off = Hoptrace(), Hoptrace()
    on.configure(tracer_provider=provider, instrument_threads=False)
    off.configure(tracer_provider=provider, instrument_threads=False, capture=False)
    tools = [{"type": "function", "function": {"name": "lookup", "description": "Find facts",
              "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}]  # fmt: skip
    prompt = ("Compare the two drafts below and list every factual disagreement. " * 16)[:1024]
    kwargs: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are a careful reviewer."},
            {"role": "user", "content": prompt},
        ],
        "tools": tools,
        "temperature": 0.1,
        "mock_response": "The drafts disagree on the founding year and the headcount. " * 4,
    }

    def untraced() -> None:
        litellm.completion(**kwargs)

    @off.agent
    def content_off() -> None:
        litellm.completion(**kwargs)

    @on.agent
    def content_on() -> None:
        litellm.completion(**kwargs)

    from opentelemetry.trace import INVALID_SPAN

    from tracer._capture import Previewer
    from tracer._redact_messages import Content

    response = litellm.completion(**kwargs)
    previewer = Previewer()

    def content_alone() -> None:
        # what content on adds: convert, bound, redact and encode input and output once
        content = Content(previewer)
        content.record(INVALID_SPAN, input=kwargs["messages"], tools=tools)
        content.record_output(INVALID_SPAN, response)

    cases: list[tuple[str, Callable[[], None]]] = [
        ("litellm mock call, untraced", untraced),
        ("  @agent + model call, content off", content_off),
        ("  @agent + model call, content on", content_on),
    ]
    for _, fn in cases:
        for _ in range(20):
            fn()
    n, r = max(20, calls // 20), max(5, repeat // 4)
    results = measure(cases, n, r)
    reference = results["litellm mock call, untraced"]
    print(f"model calls: best of {r} x {n} calls")
    print(f"{'case':<36}{'us/call':>10}{'x untraced':>12}")
    for name, us in results.items():
        print(f"{name:<36}{us:>10.2f}{us / reference:>12.2f}")
    alone = measure([("content", content_alone)], calls, max(5, repeat // 4))["content"]
    print(
        f"{'  recording that content alone':<36}{alone:>10.2f}{alone / reference:>12.2f}"
        "  (system + 1 KB prompt + tool definition + reply)"
    )


if __name__ == "__main__":
    main()
