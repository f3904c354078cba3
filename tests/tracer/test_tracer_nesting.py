"""Behaviour 3: parents are right across await, gather, TaskGroup, to_thread and threads."""

from __future__ import annotations

import asyncio
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from opentelemetry.sdk.trace import ReadableSpan

from tracer import Hoptrace, semconv
from tracer.testing import CapturedSpans, by_name, find, span_id, tree


def _parent_id(span: ReadableSpan) -> str | None:
    return format(span.parent.span_id, "016x") if span.parent else None


def _assert_tools_under_their_agents(spans: list[ReadableSpan]) -> None:
    for tool in by_name(spans, "lookup"):
        agent_name = tool.attributes[semconv.GEN_AI_AGENT_NAME]
        [agent] = [s for s in by_name(spans, str(agent_name)) if span_id(s) == _parent_id(tool)]
        assert tool.attributes[semconv.AGENT_SPAN_ID] == span_id(agent)


def test_gather_and_await(ht: Hoptrace, captured: CapturedSpans) -> None:
    @ht.tool
    async def lookup(x: int) -> int:
        await asyncio.sleep(0.001 * (3 - x))
        return x

    @ht.agent
    async def worker(x: int) -> int:
        await asyncio.sleep(0.001 * x)
        return await lookup(x)

    @ht.workflow
    async def pipeline() -> list[int]:
        return list(await asyncio.gather(*(worker(i) for i in range(3))))

    assert asyncio.run(pipeline()) == [0, 1, 2]
    root = find(captured.spans, "pipeline")
    workers = by_name(captured.spans, "worker")
    assert len(workers) == 3
    assert all(_parent_id(w) == span_id(root) for w in workers)
    assert {_parent_id(t) for t in by_name(captured.spans, "lookup")} == {
        span_id(w) for w in workers
    }
    assert len({s.context.trace_id for s in captured.spans}) == 1


@pytest.mark.skipif(sys.version_info < (3, 11), reason="TaskGroup is 3.11+")
def test_task_group_and_to_thread(ht: Hoptrace, captured: CapturedSpans) -> None:
    @ht.tool
    def lookup(x: int) -> int:
        return x

    @ht.agent
    async def threaded(x: int) -> int:
        return await asyncio.to_thread(lookup, x)

    @ht.workflow
    async def pipeline() -> None:
        async with asyncio.TaskGroup() as tg:
            for i in range(2):
                tg.create_task(threaded(i))

    asyncio.run(pipeline())
    assert len(by_name(captured.spans, "lookup")) == 2
    _assert_tools_under_their_agents(captured.spans)
    print(tree(captured.spans))


def test_thread_pool_executor_and_thread(ht: Hoptrace, captured: CapturedSpans) -> None:
    @ht.tool
    def lookup(x: int) -> int:
        return x

    @ht.agent
    def fan_out() -> list[int]:
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(lookup, range(4)))
        t = threading.Thread(target=lookup, args=(9,))
        t.start()
        t.join()
        return results

    assert fan_out() == [0, 1, 2, 3]
    tools = by_name(captured.spans, "lookup")
    assert len(tools) == 5
    _assert_tools_under_their_agents(captured.spans)


def test_sibling_runs_get_separate_traces(ht: Hoptrace, captured: CapturedSpans) -> None:
    @ht.agent
    def solo() -> None:
        return None

    solo()
    solo()
    a, b = by_name(captured.spans, "solo")
    assert a.context.trace_id != b.context.trace_id
    assert a.parent is None
    assert b.parent is None
