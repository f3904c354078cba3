"""Behaviour 5: origin, propagated, cause pointers, recovered, reject."""

from __future__ import annotations

import asyncio
import builtins
import sys

import pytest

from tracer import Hoptrace, semconv
from tracer.testing import CapturedSpans, error_role, find, span_id


def test_origin_and_propagated_same_exception(ht: Hoptrace, captured: CapturedSpans) -> None:
    @ht.tool
    def fetch() -> None:
        raise TimeoutError("slow upstream")

    @ht.agent
    def researcher() -> None:
        fetch()

    @ht.workflow
    def pipeline() -> None:
        researcher()

    with pytest.raises(TimeoutError):
        pipeline()
    spans = captured.spans
    tool, agent, root = find(spans, "fetch"), find(spans, "researcher"), find(spans, "pipeline")
    assert error_role(tool) == "origin"
    assert semconv.ERROR_CAUSE_SPAN_ID not in tool.attributes
    for span in (agent, root):
        assert error_role(span) == "propagated"
        assert span.attributes[semconv.ERROR_CAUSE_SPAN_ID] == span_id(tool)
    for span in (tool, agent, root):
        assert not span.status.is_ok
        assert span.status.description == "TimeoutError: slow upstream"
        assert span.attributes[semconv.ERROR_TYPE] == "TimeoutError"
        assert [e.name for e in span.events] == ["exception"]
        assert span.events[0].attributes["exception.type"] == "TimeoutError"


def test_new_exception_raised_from_a_recorded_one(ht: Hoptrace, captured: CapturedSpans) -> None:
    @ht.tool
    def parse() -> None:
        raise ValueError("bad json")

    @ht.agent
    def explicit_cause() -> None:
        try:
            parse()
        except ValueError as exc:
            raise RuntimeError("could not parse") from exc

    @ht.agent
    def implicit_context() -> None:
        try:
            parse()
        except ValueError:
            raise LookupError("while handling")  # noqa: B904

    @ht.workflow
    def pipeline() -> None:
        explicit_cause()

    with pytest.raises(RuntimeError):
        pipeline()
    with pytest.raises(LookupError):
        implicit_context()
    parses = [s for s in captured.spans if s.name == "execute_tool parse"]
    first, second = parses
    explicit = find(captured.spans, "explicit_cause")
    assert error_role(explicit) == "propagated"
    assert explicit.attributes[semconv.ERROR_CAUSE_SPAN_ID] == span_id(first)
    assert explicit.attributes[semconv.ERROR_TYPE] == "RuntimeError"
    root = find(captured.spans, "pipeline")
    assert root.attributes[semconv.ERROR_CAUSE_SPAN_ID] == span_id(first)
    implicit = find(captured.spans, "implicit_context")
    assert implicit.attributes[semconv.ERROR_CAUSE_SPAN_ID] == span_id(second)


def test_recovered_lists_the_origins(ht: Hoptrace, captured: CapturedSpans) -> None:
    @ht.tool
    def flaky(i: int) -> int:
        if i < 2:
            raise ConnectionError(f"attempt {i}")
        return i

    @ht.agent
    def retrier() -> int:
        for i in range(3):
            try:
                return flaky(i)
            except ConnectionError:
                continue
        raise AssertionError("unreachable")

    @ht.workflow
    def pipeline() -> int:
        return retrier()

    assert pipeline() == 2
    failed = [s for s in captured.spans if s.name == "execute_tool flaky" and not s.status.is_ok]
    agent = find(captured.spans, "retrier")
    assert error_role(agent) == "recovered"
    assert agent.status.is_ok
    assert agent.status.status_code.name == "OK"
    assert list(agent.attributes[semconv.RECOVERED_SPAN_IDS]) == [span_id(s) for s in failed]
    assert list(agent.attributes[semconv.RECOVERED_TYPES]) == ["ConnectionError"] * 2
    assert list(agent.attributes[semconv.RECOVERED_MESSAGES]) == ["attempt 0", "attempt 1"]
    # the workflow saw no error: nothing to recover from
    assert error_role(find(captured.spans, "pipeline")) is None


def test_reject_blames_the_producer(ht: Hoptrace, captured: CapturedSpans) -> None:
    @ht.agent
    def writer(topic: str) -> str:
        return f"A draft about {topic} that is wrong"

    @ht.agent(role="reviewer")
    def reviewer(draft: str) -> str:
        ht.reject(draft, "cites a paper that does not exist")
        raise ValueError("review failed")

    @ht.workflow
    def pipeline() -> None:
        reviewer(writer("cats"))

    with pytest.raises(ValueError, match="review failed"):
        pipeline()
    writer_span = find(captured.spans, "writer")
    review = find(captured.spans, "reviewer")
    [event] = [e for e in review.events if e.name == semconv.EVENT_REJECT]
    assert event.attributes[semconv.REJECT_SPAN_ID] == span_id(writer_span)
    assert event.attributes[semconv.REJECT_AGENT] == "writer"
    assert event.attributes[semconv.REJECT_REASON] == "cites a paper that does not exist"
    assert event.attributes[semconv.REJECT_VALUE] == '"A draft about cats that is wrong"'
    assert error_role(review) == "propagated"
    assert review.attributes[semconv.ERROR_CAUSE_SPAN_ID] == span_id(writer_span)
    root = find(captured.spans, "pipeline")
    assert root.attributes[semconv.ERROR_CAUSE_SPAN_ID] == span_id(writer_span)
    assert writer_span.status.is_ok  # the producer itself did not fail


def test_ancestor_failing_after_a_rejection_points_to_the_producer(
    ht: Hoptrace, captured: CapturedSpans
) -> None:
    @ht.agent
    def writer() -> str:
        return "a draft that the reviewer rejects"

    @ht.agent
    def reviewer(draft: str) -> bool:
        ht.reject(draft, "wrong")
        return False

    @ht.workflow
    def pipeline() -> None:
        if not reviewer(writer()):
            raise RuntimeError("no acceptable draft")

    with pytest.raises(RuntimeError):
        pipeline()
    root = find(captured.spans, "pipeline")
    assert error_role(root) == "propagated"
    assert root.attributes[semconv.ERROR_CAUSE_SPAN_ID] == span_id(find(captured.spans, "writer"))


def test_unrelated_failure_after_rejection_elsewhere_is_an_origin(
    ht: Hoptrace, captured: CapturedSpans
) -> None:
    @ht.agent
    def writer() -> str:
        return "some draft long enough to track"

    @ht.agent
    def reviewer(draft: str) -> None:
        ht.reject(draft, "wrong")

    @ht.agent
    def publisher() -> None:
        raise OSError("disk full")

    @ht.workflow
    def pipeline() -> None:
        reviewer(writer())
        publisher()

    with pytest.raises(OSError, match="disk full"):
        pipeline()
    assert error_role(find(captured.spans, "publisher")) == "origin"


def test_reject_outside_a_run_is_ignored(ht: Hoptrace, captured: CapturedSpans) -> None:
    ht.reject("anything", "no run")  # must not raise
    assert captured.spans == []


def test_exception_that_refuses_attributes(ht: Hoptrace, captured: CapturedSpans) -> None:
    class Frozen(Exception):
        def __setattr__(self, name: str, value: object) -> None:
            raise AttributeError("frozen")

    @ht.tool
    def inner() -> None:
        raise Frozen("x")

    @ht.agent
    def outer() -> None:
        inner()

    with pytest.raises(Frozen):
        outer()
    assert find(captured.spans, "outer").attributes[semconv.ERROR_CAUSE_SPAN_ID] == span_id(
        find(captured.spans, "inner")
    )


@pytest.mark.skipif(sys.version_info < (3, 11), reason="TaskGroup/ExceptionGroup are 3.11+")
def test_task_group_failure_points_at_the_failing_task(
    ht: Hoptrace, captured: CapturedSpans
) -> None:
    @ht.agent
    async def fails() -> None:
        await asyncio.sleep(0.01)
        raise RuntimeError("model down")

    @ht.agent
    async def slow() -> None:
        await asyncio.sleep(10)  # cancelled by the TaskGroup when `fails` fails

    @ht.workflow
    async def pipeline() -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(slow())
            tg.create_task(fails())

    with pytest.raises(builtins.BaseExceptionGroup):  # a 3.11+ builtin; ruff targets 3.10
        asyncio.run(pipeline())
    root = find(captured.spans, "pipeline")
    assert error_role(root) == "propagated"
    assert root.attributes[semconv.ERROR_CAUSE_SPAN_ID] == span_id(find(captured.spans, "fails"))
    assert find(captured.spans, "slow").attributes[semconv.ERROR_TYPE] == "CancelledError"
