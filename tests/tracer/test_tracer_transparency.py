"""Behaviour 2: exceptions pass through unchanged; hoptrace's own failures never reach user code."""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Iterator, Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from tracer import Hoptrace, PendingSpanProcessor, semconv
from tracer.testing import CapturedSpans, find


class Boom(Exception):
    pass


def test_same_exception_object_and_traceback(ht: Hoptrace, captured: CapturedSpans) -> None:
    raised: list[BaseException] = []

    @ht.agent
    def fails() -> None:
        exc = Boom("bad")
        raised.append(exc)
        raise exc  # USER-RAISE-LINE

    with pytest.raises(Boom) as info:
        fails()
    assert info.value is raised[0]
    frames = traceback.extract_tb(info.value.__traceback__)
    assert any("USER-RAISE-LINE" in (f.line or "") for f in frames)
    assert frames[-1].name == "fails"  # the innermost frame is the user's raise
    # nothing in hoptrace raised a copy: no chained exception was added
    assert info.value.__cause__ is None
    assert info.value.__context__ is None


def test_async_exception_same_object(ht: Hoptrace, captured: CapturedSpans) -> None:
    err = Boom("async")

    @ht.agent
    async def fails() -> None:
        await asyncio.sleep(0)
        raise err

    with pytest.raises(Boom) as info:
        asyncio.run(fails())
    assert info.value is err


def test_keyboard_interrupt_passes_and_span_ends(ht: Hoptrace, captured: CapturedSpans) -> None:
    @ht.agent
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    span = find(captured.spans, "interrupted")
    assert span.end_time is not None
    assert span.attributes[semconv.ERROR_TYPE] == "KeyboardInterrupt"


def test_cancelled_error_passes_and_span_ends(ht: Hoptrace, captured: CapturedSpans) -> None:
    started = asyncio.Event

    @ht.agent
    async def slow() -> None:
        await asyncio.sleep(10)

    async def main() -> None:
        task = asyncio.create_task(slow())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    del started
    span = find(captured.spans, "slow")
    assert span.end_time is not None
    assert span.attributes[semconv.ERROR_TYPE] == "CancelledError"


def test_generator_exit_on_close(ht: Hoptrace, captured: CapturedSpans) -> None:
    closed = []

    @ht.agent
    def gen() -> Iterator[int]:
        try:
            yield 1
            yield 2
        except GeneratorExit:
            closed.append(True)
            raise

    g = gen()
    next(g)
    g.close()
    assert closed == [True]
    assert find(captured.spans, "gen").end_time is not None


class Unpreviewable:
    """An argument whose repr and attributes all explode."""

    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")

    def __getattribute__(self, name: str) -> object:
        if name in ("__class__", "__repr__"):
            return object.__getattribute__(self, name)
        raise RuntimeError(f"no {name}")


def test_unpreviewable_argument_is_logged_once_never_raised(
    ht: Hoptrace, captured: CapturedSpans, caplog: pytest.LogCaptureFixture
) -> None:
    @ht.agent
    def takes(x: object) -> str:
        return "ok"

    with caplog.at_level(logging.WARNING, logger="hoptrace"):
        assert takes(Unpreviewable()) == "ok"
        assert takes(Unpreviewable()) == "ok"
    assert len([r for r in caplog.records if "preview" in r.getMessage()]) <= 1
    spans = [s for s in captured.spans if s.name == "invoke_agent takes"]
    assert len(spans) == 2  # the calls are still traced


def test_return_value_whose_preview_fails(
    ht: Hoptrace, captured: CapturedSpans, caplog: pytest.LogCaptureFixture
) -> None:
    class BadJson:
        __slots__ = ()

        def __repr__(self) -> str:
            raise ValueError("nope")

    bad = BadJson()

    @ht.agent
    def give() -> object:
        return bad

    assert give() is bad
    assert "repr failed" in find(captured.spans, "give").attributes[semconv.OUTPUT]


class CollectorDown(ConnectionError):
    pass


class RaisingExporter(SpanExporter):
    def __init__(self) -> None:
        self.calls = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.calls += 1
        raise CollectorDown("collector down")

    def shutdown(self) -> None:
        raise CollectorDown("collector down")


def test_exporter_failure_is_logged_once_never_raised(
    ht: Hoptrace, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = RaisingExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(PendingSpanProcessor(exporter, schedule_delay_millis=10))
    ht.configure(tracer_provider=provider, instrument_litellm=False)

    @ht.agent
    def work(i: int) -> int:
        return i

    with caplog.at_level(logging.WARNING, logger="hoptrace"):
        assert [work(i) for i in range(5)] == list(range(5))
        assert ht.flush() in (True, False)
        provider.shutdown()
    assert exporter.calls >= 1
    failures = [r for r in caplog.records if "RaisingExporter failed (" in r.getMessage()]
    assert len(failures) == 1  # five exports failed, one log line


def test_exporter_failure_with_simple_processor_never_raises(ht: Hoptrace) -> None:
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(RaisingExporter()))
    ht.configure(tracer_provider=provider, instrument_litellm=False)

    @ht.agent
    def work() -> str:
        return "done"

    assert work() == "done"


def test_internal_failure_runs_the_call_untraced(
    ht: Hoptrace, caplog: pytest.LogCaptureFixture
) -> None:
    class TracerBroken(RuntimeError):
        pass

    class BrokenProvider(TracerProvider):
        def get_tracer(self, *args: object, **kwargs: object):  # type: ignore[no-untyped-def,override]
            class T:
                def start_span(self, *a: object, **k: object) -> None:
                    raise TracerBroken("tracer broken")

            return T()

    ht.configure(tracer_provider=BrokenProvider(), instrument_litellm=False)

    @ht.agent
    def work(x: int) -> int:
        return x + 1

    with caplog.at_level(logging.WARNING, logger="hoptrace"):
        assert work(1) == 2
        assert work(2) == 3
    assert len([r for r in caplog.records if "could not start a span" in r.getMessage()]) == 1
