"""Behaviour 8: pending spans are exported at start; a SIGKILLed run stays visible."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tracer import Hoptrace, PendingSpanProcessor, semconv, span_processor
from tracer.testing import capture_spans

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from _tracer_jsonl import read  # type: ignore[import-not-found]  # noqa: E402


def test_pending_copy_has_same_ids_and_start_attributes(ht: Hoptrace) -> None:
    @ht.agent
    def worker(task: str) -> str:
        return "done"

    with capture_spans(ht, pending=True) as captured:
        worker("plan")
    [pending] = captured.pending
    [final] = captured.spans
    assert pending.context.span_id == final.context.span_id
    assert pending.context.trace_id == final.context.trace_id
    assert pending.attributes[semconv.PENDING] is True
    assert pending.end_time == pending.start_time == final.start_time
    assert pending.attributes[semconv.INPUT] == '{"task":"plan"}'
    assert pending.attributes[semconv.GEN_AI_AGENT_NAME] == "worker"
    assert semconv.OUTPUT not in pending.attributes
    assert semconv.PENDING not in final.attributes


def test_pending_copy_dropped_when_final_span_is_in_the_same_batch(ht: Hoptrace) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(PendingSpanProcessor(exporter, schedule_delay_millis=60_000))
    ht.configure(tracer_provider=provider, instrument_litellm=False)

    @ht.agent
    def quick() -> None:
        return None

    @ht.agent
    def slow_parent() -> None:
        quick()
        ht.flush()  # exports the parent's pending copy while it still runs

    slow_parent()
    ht.flush()
    exported = exporter.get_finished_spans()
    names = [(s.name, bool(s.attributes.get(semconv.PENDING))) for s in exported]
    assert names == [
        ("invoke_agent slow_parent", True),  # first batch: parent still running
        ("invoke_agent quick", False),  # quick's pending copy dropped: same batch
        ("invoke_agent slow_parent", False),
    ]
    provider.shutdown()


def test_span_processor_rejects_other_things() -> None:
    with pytest.raises(TypeError, match="SpanExporter or a SpanProcessor"):
        PendingSpanProcessor("not an exporter")  # type: ignore[arg-type]
    assert isinstance(span_processor(InMemorySpanExporter()), PendingSpanProcessor)


@pytest.mark.slow
def test_sigkilled_process_leaves_its_running_spans_as_pending(tmp_path: Path) -> None:
    out = tmp_path / "spans.jsonl"
    code = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(HERE)!r})
        from opentelemetry.sdk.trace import TracerProvider
        from _tracer_jsonl import JsonLinesExporter
        import tracer

        provider = TracerProvider()
        provider.add_span_processor(tracer.PendingSpanProcessor(JsonLinesExporter({str(out)!r})))
        tracer.configure(tracer_provider=provider)

        @tracer.tool
        def finished_tool():
            return "ok"

        @tracer.agent
        def hung_agent(task):
            finished_tool()
            print("ready", flush=True)
            time.sleep(3600)

        @tracer.workflow
        def pipeline():
            hung_agent("never finishes")

        pipeline()
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        # The live batch delay is 500 ms; wait (bounded) until the running
        # agent's pending copy is out, as a live viewer would, then kill.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
            r["name"] == "invoke_agent hung_agent" for r in read(out)
        ):
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    records = read(out)
    by_name: dict[str, list[dict[str, object]]] = {}
    for r in records:
        by_name.setdefault(str(r["name"]), []).append(r)
    assert [r["pending"] for r in by_name["invoke_agent hung_agent"]] == [True]
    assert [r["pending"] for r in by_name["invoke_workflow pipeline"]] == [True]
    assert by_name["invoke_agent hung_agent"][0]["attributes"][semconv.INPUT] == (  # type: ignore[index]
        '{"task":"never finishes"}'
    )
    # the tool finished before the kill: its final span made it
    assert [r["pending"] for r in by_name["execute_tool finished_tool"]] == [False]
