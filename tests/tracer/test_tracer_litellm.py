"""Behaviour 6: litellm calls become `chat {model}` spans under the calling agent."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from opentelemetry.trace import SpanKind

import tracer
from tracer import Hoptrace, semconv
from tracer.testing import CapturedSpans, by_name, error_role, find, span_id

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
litellm = pytest.importorskip("litellm")

# litellm's own pydantic models warn at first use; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:.*`ReadOnly` qualifier:UserWarning")

MESSAGES = [{"role": "user", "content": "hi"}]


def _chat(spans: list[Any]) -> list[Any]:
    return [s for s in spans if s.attributes.get(semconv.HOPTRACE_KIND) == "llm"]


def test_sync_completion(ht: Hoptrace, captured: CapturedSpans) -> None:
    @ht.agent
    def asker() -> str:
        response = litellm.completion(model="gpt-4o-mini", messages=MESSAGES, mock_response="Paris")
        return str(response.choices[0].message.content)

    assert asker() == "Paris"
    ht.flush()  # right after the call: nothing may be missing
    [chat] = _chat(captured.spans)
    agent = find(captured.spans, "asker")
    assert chat.name == "chat gpt-4o-mini"
    assert chat.kind is SpanKind.CLIENT
    assert chat.parent is not None
    assert chat.parent.span_id == agent.context.span_id
    attributes = chat.attributes
    assert attributes[semconv.GEN_AI_OPERATION_NAME] == "chat"
    assert attributes[semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert attributes[semconv.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini"
    assert attributes[semconv.GEN_AI_PROVIDER_NAME] == "openai"
    assert attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 10
    assert attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 20
    assert attributes[semconv.COST_USD] == pytest.approx(1.35e-05)
    assert attributes[semconv.GEN_AI_AGENT_NAME] == "asker"
    assert attributes[semconv.AGENT_SPAN_ID] == span_id(agent)


def test_async_completion_and_gather(ht: Hoptrace, captured: CapturedSpans) -> None:
    @ht.agent
    async def asker(i: int) -> str:
        response = await litellm.acompletion(
            model="gpt-4o-mini", messages=MESSAGES, mock_response=f"answer {i}"
        )
        return str(response.choices[0].message.content)

    async def main() -> list[str]:
        return list(await asyncio.gather(asker(0), asker(1)))

    assert asyncio.run(main()) == ["answer 0", "answer 1"]
    chats = _chat(captured.spans)
    agents = by_name(captured.spans, "asker")
    assert len(chats) == 2
    assert {c.parent.span_id for c in chats} == {a.context.span_id for a in agents}
    assert all(c.attributes[semconv.COST_USD] == pytest.approx(1.35e-05) for c in chats)


def test_sync_and_async_streaming(ht: Hoptrace, captured: CapturedSpans) -> None:
    @ht.agent
    def streamer() -> str:
        stream = litellm.completion(
            model="gpt-4o-mini", messages=MESSAGES, mock_response="streamed text", stream=True
        )
        return "".join(c.choices[0].delta.content or "" for c in stream)

    @ht.agent
    async def astreamer() -> str:
        stream = await litellm.acompletion(
            model="gpt-4o-mini", messages=MESSAGES, mock_response="streamed text", stream=True
        )
        return "".join([c.choices[0].delta.content or "" async for c in stream])

    assert streamer() == "streamed text"
    assert asyncio.run(astreamer()) == "streamed text"
    chats = _chat(captured.spans)
    assert len(chats) == 2
    for chat, agent in zip(
        chats, [find(captured.spans, "streamer"), find(captured.spans, "astreamer")], strict=False
    ):
        assert chat.parent.span_id == agent.context.span_id
        assert chat.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 8
        assert chat.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 3
        assert chat.attributes[semconv.COST_USD] == pytest.approx(3e-06)
        assert chat.end_time <= agent.end_time


def test_failure_is_the_origin_and_a_retrying_agent_recovers(
    ht: Hoptrace, captured: CapturedSpans
) -> None:
    @ht.agent
    def retrier() -> str:
        with contextlib.suppress(litellm.RateLimitError):
            litellm.completion(
                model="gpt-4o-mini",
                messages=MESSAGES,
                mock_response=litellm.RateLimitError(
                    "mock 429", llm_provider="openai", model="gpt-4o-mini"
                ),
            )
        return "fallback"

    @ht.agent
    def gives_up() -> None:
        litellm.completion(
            model="gpt-4o-mini",
            messages=MESSAGES,
            mock_response=litellm.RateLimitError("mock 429", llm_provider="openai", model="x"),
        )

    @ht.workflow
    def pipeline() -> None:
        gives_up()

    assert retrier() == "fallback"
    with pytest.raises(litellm.RateLimitError):
        pipeline()
    first, second = _chat(captured.spans)
    for chat in (first, second):
        assert not chat.status.is_ok
        assert error_role(chat) == "origin"
        assert chat.attributes[semconv.ERROR_TYPE] == "RateLimitError"
        assert [e.name for e in chat.events] == ["exception"]
    agent = find(captured.spans, "retrier")
    assert error_role(agent) == "recovered"
    assert list(agent.attributes[semconv.RECOVERED_SPAN_IDS]) == [span_id(first)]
    for span in (find(captured.spans, "gives_up"), find(captured.spans, "pipeline")):
        assert error_role(span) == "propagated"
        assert span.attributes[semconv.ERROR_CAUSE_SPAN_ID] == span_id(second)


def test_unknown_model_has_no_cost(ht: Hoptrace, captured: CapturedSpans) -> None:
    @ht.agent
    def asker() -> None:
        litellm.completion(model="openai/my-unknown-model", messages=MESSAGES, mock_response="x")

    asker()
    [chat] = _chat(captured.spans)
    assert chat.name == "chat openai/my-unknown-model"
    assert semconv.COST_USD not in chat.attributes
    assert chat.attributes[semconv.GEN_AI_PROVIDER_NAME] == "openai"
    assert chat.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 10


def test_completion_in_a_worker_thread_nests(ht: Hoptrace, captured: CapturedSpans) -> None:
    @ht.agent
    def fan_out() -> list[str]:
        def ask(i: int) -> str:
            r = litellm.completion(model="gpt-4o-mini", messages=MESSAGES, mock_response=str(i))
            return str(r.choices[0].message.content)

        with ThreadPoolExecutor(2) as pool:
            return list(pool.map(ask, range(3)))

    assert fan_out() == ["0", "1", "2"]
    agent = find(captured.spans, "fan_out")
    chats = _chat(captured.spans)
    assert len(chats) == 3
    assert all(c.parent.span_id == agent.context.span_id for c in chats)


def test_calls_outside_any_span_are_not_traced(ht: Hoptrace, captured: CapturedSpans) -> None:
    litellm.completion(model="gpt-4o-mini", messages=MESSAGES, mock_response="x")
    assert captured.spans == []


def test_litellm_imported_after_tracer_is_patched_by_the_import_hook() -> None:
    code = textwrap.dedent(
        """
        import os, sys
        os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
        import tracer
        from tracer.testing import capture_spans
        assert "litellm" not in sys.modules
        with capture_spans() as captured:
            @tracer.agent
            def asker():
                import litellm  # first import happens here, after configure()
                litellm.completion(model="gpt-4o-mini",
                                   messages=[{"role": "user", "content": "hi"}],
                                   mock_response="ok")
            asker()
        print(sorted(s.name for s in captured.spans))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "['chat gpt-4o-mini', 'invoke_agent asker']"


def test_llm_call_for_other_sdks(ht: Hoptrace, captured: CapturedSpans) -> None:
    @ht.agent
    def asker() -> None:
        with ht.llm_call("claude-sonnet-4", provider="anthropic") as call:
            call.record_usage(
                input_tokens=120, output_tokens=30, response_model="claude-sonnet-4-x"
            )
        with ht.llm_call("local-model") as call:
            call.record_usage(input_tokens=1, output_tokens=2, cost_usd=0.5)
        with pytest.raises(ConnectionError), ht.llm_call("flaky"):
            raise ConnectionError("down")

    asker()
    chats = _chat(captured.spans)
    assert [c.name for c in chats] == ["chat claude-sonnet-4", "chat local-model", "chat flaky"]
    first, second, third = chats
    assert first.attributes[semconv.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert first.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 120
    assert first.attributes[semconv.GEN_AI_RESPONSE_MODEL] == "claude-sonnet-4-x"
    assert semconv.COST_USD not in first.attributes  # left to the collector's price table
    assert second.attributes[semconv.COST_USD] == 0.5
    assert error_role(third) == "origin"
    assert first.attributes[semconv.GEN_AI_AGENT_NAME] == "asker"


def test_instrument_litellm_is_explicit_and_idempotent(
    ht: Hoptrace, captured: CapturedSpans
) -> None:
    tracer.instrument_litellm()
    tracer.instrument_litellm()
    assert getattr(litellm.completion, "__hoptrace_wrapped__", False)
    assert not getattr(litellm.completion.__wrapped__, "__hoptrace_wrapped__", False)

    @ht.agent
    def asker() -> None:
        litellm.completion(model="gpt-4o-mini", messages=MESSAGES, mock_response="x")

    asker()
    assert len(_chat(captured.spans)) == 1  # one span, not one per patch
