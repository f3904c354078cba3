"""Behaviour 1: every callable shape, both decorator forms, metadata preserved."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Iterator

import pytest

from tracer import Hoptrace, semconv
from tracer.testing import CapturedSpans, find


def test_bare_and_called_forms_name_the_spans(ht: Hoptrace, captured: CapturedSpans) -> None:
    @ht.agent
    def planner(task: str) -> str:
        return task.upper()

    @ht.agent(name="Writer", model="gpt-4o-mini", role="writer")
    def write(task: str) -> str:
        return task

    @ht.tool
    def search(q: str) -> list[str]:
        return [q]

    @ht.tool(name="web_search")
    def search2(q: str) -> list[str]:
        return [q]

    @ht.workflow
    def pipeline() -> None:
        planner("a")
        write("b")
        search("c")
        search2("d")

    @ht.workflow(name="Flow")
    def flow() -> None:
        return None

    pipeline()
    flow()
    names = sorted(s.name for s in captured.spans)
    assert names == [
        "execute_tool search",
        "execute_tool web_search",
        "invoke_agent Writer",
        "invoke_agent planner",
        "invoke_workflow Flow",
        "invoke_workflow pipeline",
    ]
    writer = find(captured.spans, "Writer").attributes
    assert writer[semconv.GEN_AI_OPERATION_NAME] == "invoke_agent"
    assert writer[semconv.GEN_AI_AGENT_NAME] == "Writer"
    assert writer[semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert writer[semconv.AGENT_ROLE] == "writer"
    assert writer[semconv.HOPTRACE_KIND] == "agent"
    tool = find(captured.spans, "web_search").attributes
    assert tool[semconv.GEN_AI_TOOL_NAME] == "web_search"
    assert tool[semconv.GEN_AI_OPERATION_NAME] == "execute_tool"
    assert tool[semconv.HOPTRACE_KIND] == "tool"
    wf = find(captured.spans, "pipeline").attributes
    assert wf[semconv.GEN_AI_OPERATION_NAME] == "invoke_workflow"
    assert wf[semconv.GEN_AI_WORKFLOW_NAME] == "pipeline"


def test_metadata_is_preserved(ht: Hoptrace) -> None:
    def plain(a: int, b: str = "x", *rest: int, flag: bool = False) -> str:
        """Plain doc."""
        return b

    async def coro(a: int) -> int:
        """Coro doc."""
        return a

    def gen(n: int) -> Iterator[int]:
        yield from range(n)

    async def agen(n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i

    for func, check in [
        (plain, inspect.isfunction),
        (coro, inspect.iscoroutinefunction),
        (gen, inspect.isgeneratorfunction),
        (agen, inspect.isasyncgenfunction),
    ]:
        for decorated in (ht.agent(func), ht.tool(name="t")(func), ht.workflow(func)):
            assert decorated.__name__ == func.__name__
            assert decorated.__doc__ == func.__doc__
            assert decorated.__wrapped__ is func  # type: ignore[attr-defined]
            assert inspect.signature(decorated) == inspect.signature(func)
            assert check(decorated)
    assert not inspect.iscoroutinefunction(ht.agent(plain))
    assert not inspect.isgeneratorfunction(ht.agent(coro))


def test_async_function(ht: Hoptrace, captured: CapturedSpans) -> None:
    @ht.agent
    async def answer(q: str) -> str:
        await asyncio.sleep(0)
        return q + "!"

    assert asyncio.run(answer("hi")) == "hi!"
    span = find(captured.spans, "answer")
    assert span.attributes[semconv.OUTPUT] == '"hi!"'
    assert span.end_time is not None
    assert span.end_time >= span.start_time


def test_generator_span_covers_iteration_and_not_the_consumer(
    ht: Hoptrace, captured: CapturedSpans
) -> None:
    @ht.tool
    def inner() -> int:
        return 1

    @ht.agent
    def produce(n: int) -> Iterator[int]:
        for i in range(n):
            inner()
            yield i
        return None

    consumer_parents = []
    gen = produce(3)
    out = []
    for item in gen:
        out.append(item)
        with captured.instance.span("consumer"):
            pass
        consumer_parents.append(item)
    assert out == [0, 1, 2]
    agent = find(captured.spans, "produce")
    assert agent.attributes[semconv.OUTPUT] == "[0,1,2]"
    for tool in [s for s in captured.spans if s.name == "execute_tool inner"]:
        assert tool.parent is not None
        assert tool.parent.span_id == agent.context.span_id
    for consumer in [s for s in captured.spans if s.name == "consumer"]:
        # the consumer's code between items is not inside the generator's span
        assert consumer.parent is None


def test_generator_send_throw_and_close(ht: Hoptrace, captured: CapturedSpans) -> None:
    @ht.agent
    def echo() -> Iterator[str]:
        received = "start"
        while True:
            try:
                received = yield received
            except ValueError:
                received = "recovered"

    gen = echo()
    assert next(gen) == "start"
    assert gen.send("a") == "a"
    assert gen.throw(ValueError("x")) == "recovered"
    gen.close()
    span = find(captured.spans, "echo")
    assert span.end_time is not None
    assert span.status.is_ok  # closing early is not an error
    assert span.attributes[semconv.GENERATOR_CLOSED] is True


def test_generator_return_value_and_error(ht: Hoptrace, captured: CapturedSpans) -> None:
    @ht.agent
    def gen() -> Iterator[int]:
        yield 1
        return 7

    @ht.agent
    def bad() -> Iterator[int]:
        yield 1
        raise KeyError("k")

    def drive() -> int:
        return (yield from gen())

    g = drive()
    assert next(g) == 1
    with pytest.raises(StopIteration) as stop:
        next(g)
    assert stop.value.value == 7
    with pytest.raises(KeyError):
        list(bad())
    assert not find(captured.spans, "bad").status.is_ok


def test_async_generator(ht: Hoptrace, captured: CapturedSpans) -> None:
    @ht.agent
    async def stream(n: int) -> AsyncIterator[int]:
        for i in range(n):
            await asyncio.sleep(0)
            yield i

    async def main() -> list[int]:
        out = [i async for i in stream(3)]
        agen = stream(10)
        out.append(await agen.__anext__())
        await agen.aclose()
        return out

    assert asyncio.run(main()) == [0, 1, 2, 0]
    spans = [s for s in captured.spans if s.name == "invoke_agent stream"]
    assert len(spans) == 2
    assert spans[0].attributes[semconv.OUTPUT] == "[0,1,2]"
    assert all(s.end_time is not None for s in spans)


@pytest.mark.parametrize("order", ["above", "below"])
def test_methods_classmethods_staticmethods(
    ht: Hoptrace, captured: CapturedSpans, order: str
) -> None:
    if order == "above":

        class Team:
            factor = 3

            @ht.agent
            def method(self, x: int) -> int:
                return x * 2

            @ht.agent
            @classmethod
            def cm(cls, x: int) -> int:
                return x * cls.factor

            @ht.tool
            @staticmethod
            def sm(x: int) -> int:
                return x + 1

    else:

        class Team:  # type: ignore[no-redef]
            factor = 3

            @ht.agent
            def method(self, x: int) -> int:
                return x * 2

            @classmethod
            @ht.agent
            def cm(cls, x: int) -> int:
                return x * cls.factor

            @staticmethod
            @ht.tool
            def sm(x: int) -> int:
                return x + 1

    team = Team()
    assert team.method(2) == 4
    assert Team.cm(2) == 6
    assert team.cm(2) == 6
    assert Team.sm(2) == 3
    assert team.sm(2) == 3
    method = find(captured.spans, "method")
    assert method.attributes[semconv.INPUT] == '{"x":2}'  # no `self` dump
    assert len([s for s in captured.spans if s.name == "invoke_agent cm"]) == 2
    assert all(
        s.attributes[semconv.INPUT] == '{"x":2}'
        for s in captured.spans
        if s.name == "invoke_agent cm"
    )
    assert len([s for s in captured.spans if s.name == "execute_tool sm"]) == 2


def test_return_value_is_the_same_object(ht: Hoptrace, captured: CapturedSpans) -> None:
    sentinel = object()

    @ht.agent
    def give() -> object:
        return sentinel

    assert give() is sentinel


def test_span_context_manager(ht: Hoptrace, captured: CapturedSpans) -> None:
    @ht.agent
    def worker() -> None:
        with ht.span("retrieve", k=5, filters={"lang": "en"}) as s:
            s.set_attribute("hits", 3)

    worker()
    span = find(captured.spans, "retrieve")
    assert span.attributes["k"] == 5
    assert span.attributes["hits"] == 3
    assert span.attributes["filters"] == '{"lang":"en"}'
    assert span.attributes[semconv.GEN_AI_AGENT_NAME] == "worker"
    assert span.attributes[semconv.HOPTRACE_KIND] == "span"
    agent = find(captured.spans, "worker")
    assert span.attributes[semconv.AGENT_SPAN_ID] == format(agent.context.span_id, "016x")


def test_warns_when_placed_above_contextmanager(ht: Hoptrace, captured: CapturedSpans) -> None:
    import contextlib

    with pytest.warns(UserWarning, match="on top of @contextmanager"):

        @ht.tool
        @contextlib.contextmanager
        def wrong() -> Iterator[None]:
            yield

    @contextlib.contextmanager
    @ht.tool
    def right() -> Iterator[int]:
        yield 1

    with right() as value:
        assert value == 1
    assert find(captured.spans, "right").end_time is not None


def test_pydantic_models_are_previewed_by_field(ht: Hoptrace, captured: CapturedSpans) -> None:
    pydantic = pytest.importorskip("pydantic")

    class Query(pydantic.BaseModel):  # type: ignore[misc,name-defined]
        text: str
        api_key: str

    @ht.tool
    def run(q: object) -> None:
        return None

    run(Query(text="cats", api_key="k"))
    preview = find(captured.spans, "run").attributes[semconv.INPUT]
    assert '"text":"cats"' in preview
    assert '"api_key":"[REDACTED]"' in preview
