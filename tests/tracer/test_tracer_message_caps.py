"""Model-call content: caps set in `configure()` (per call kind) and `capture=False` scopes."""

from __future__ import annotations

import asyncio
import json
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tracer import Hoptrace, semconv
from tracer.testing import CapturedSpans, capture_spans

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
litellm = pytest.importorskip("litellm")

pytestmark = pytest.mark.filterwarnings("ignore:.*`ReadOnly` qualifier:UserWarning")

CONTENT_KEYS = {
    semconv.GEN_AI_INPUT_MESSAGES,
    semconv.GEN_AI_OUTPUT_MESSAGES,
    semconv.GEN_AI_SYSTEM_INSTRUCTIONS,
    semconv.GEN_AI_TOOL_DEFINITIONS,
}
MESSAGES = [
    {"role": "system", "content": "Be terse."},
    {"role": "user", "content": "Capital of France?"},
]


def _chats(spans: Any) -> dict[str, Any]:
    """Model-call spans by the agent they ran in (one call per agent in these tests)."""
    out = {}
    for s in spans:
        if s.attributes.get(semconv.HOPTRACE_KIND) == "llm":
            out[s.attributes[semconv.GEN_AI_AGENT_NAME]] = s
    return out


def _content(span: Any) -> set[str]:
    return CONTENT_KEYS & set(span.attributes)


def _ask() -> None:
    litellm.completion(model="gpt-4o-mini", messages=MESSAGES, mock_response="Paris.")


def _texts(span: Any) -> list[str]:
    messages = json.loads(span.attributes[semconv.GEN_AI_INPUT_MESSAGES])
    return [p["content"] for m in messages for p in m["parts"]]


def test_configured_caps_cut_parts_and_the_call_total(ht: Hoptrace) -> None:
    prompts = ["a" * 300, "b" * 300, "c" * 300]

    @ht.agent
    def asker() -> None:
        litellm.completion(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": p} for p in prompts],
            mock_response="ok",
        )

    with capture_spans(ht, max_message_part_chars=100, max_message_chars=250) as captured:
        asker()
    chat = _chats(captured.spans)["asker"]
    assert _texts(chat) == [
        "a" * 100 + "…(+200 chars)",
        "b" * 100 + "…(+200 chars)",
        "c" * 50 + "…(+250 chars)",  # the call's budget is spent
    ]
    assert chat.attributes[semconv.MESSAGES_TRUNCATED] is True
    assert chat.attributes[semconv.MESSAGES_ORIGINAL_CHARS] == 900 + len("ok")
    # the defaults again once the capture is over: 300 chars fit one part
    with capture_spans(ht) as captured:
        asker()
    assert _texts(_chats(captured.spans)["asker"]) == prompts


def test_caps_per_call_kind(ht: Hoptrace) -> None:
    long = "z" * 500

    @ht.agent
    def asker() -> None:
        with ht.llm_call("gemini-2.0", provider="gcp.gemini", operation="generate_content") as c:
            c.record_messages(long, output="fine")
        litellm.completion(
            model="gpt-4o-mini", messages=[{"role": "user", "content": long}], mock_response="ok"
        )

    with capture_spans(ht, message_caps={"generate_content": (40, 1000)}) as captured:
        asker()
    by_op = {
        s.attributes[semconv.GEN_AI_OPERATION_NAME]: s
        for s in captured.spans
        if s.attributes.get(semconv.HOPTRACE_KIND) == "llm"
    }
    assert _texts(by_op["generate_content"]) == ["z" * 40 + "…(+460 chars)"]
    assert _texts(by_op["chat"]) == [long]  # other kinds keep the defaults
    assert semconv.MESSAGES_TRUNCATED not in by_op["chat"].attributes


@pytest.mark.parametrize(
    "bad",
    [
        {"max_message_part_chars": 0},
        {"max_message_chars": -5},
        {"max_message_chars": True},
        {"message_caps": {"chat": (10,)}},
        {"message_caps": {"chat": (10, 0)}},
    ],
)
def test_bad_caps_are_refused_and_nothing_changes(ht: Hoptrace, bad: dict[str, Any]) -> None:
    with capture_spans(ht, max_message_part_chars=100) as captured:
        with pytest.raises(ValueError, match="must be"):
            ht.configure(capture=False, **bad)
        assert ht._capture is True  # nothing half-set
        assert ht._message_caps.max_part == 100
        assert ht._tracer is not None
        assert captured.spans == []


def test_capture_false_on_a_decorator_silences_model_calls_inside(
    ht: Hoptrace, captured: CapturedSpans
) -> None:
    @ht.agent
    def loud() -> None:
        _ask()

    @ht.agent(capture=True)
    def nested() -> None:  # capture on, but inside a quiet scope
        _ask()

    @ht.tool(capture=False)
    def quiet_tool() -> None:
        _ask()

    @ht.agent(capture=False)
    def quiet() -> None:
        _ask()
        nested()
        quiet_tool_caller()
        with ThreadPoolExecutor(1) as pool:  # the scope follows the context into threads
            pool.submit(threaded).result()

    @ht.agent
    def quiet_tool_caller() -> None:
        quiet_tool()

    @ht.agent
    def threaded() -> None:
        _ask()

    @ht.workflow
    def run() -> None:
        loud()
        quiet()
        quiet_tool_caller()
        loud()

    run()
    chats = [s for s in captured.spans if s.attributes.get(semconv.HOPTRACE_KIND) == "llm"]
    seen = [(s.attributes[semconv.GEN_AI_AGENT_NAME], bool(_content(s))) for s in chats]
    assert seen == [
        ("loud", True),
        ("quiet", False),
        ("nested", False),
        ("quiet_tool_caller", False),
        ("threaded", False),
        ("quiet_tool_caller", False),  # a quiet tool is quiet wherever it is called
        ("loud", True),
    ]
    # only content is off: the calls are still traced with usage and parameters
    assert all(s.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] > 0 for s in chats)


def test_capture_false_on_a_workflow_and_async_agents(
    ht: Hoptrace, captured: CapturedSpans
) -> None:
    @ht.agent
    async def writer() -> None:
        await litellm.acompletion(model="gpt-4o-mini", messages=MESSAGES, mock_response="ok")

    @ht.workflow(capture=False)
    async def quiet_run() -> None:
        await asyncio.gather(writer(), writer())

    @ht.workflow
    async def loud_run() -> None:
        await writer()

    asyncio.run(quiet_run())
    asyncio.run(loud_run())
    chats = [s for s in captured.spans if s.attributes.get(semconv.HOPTRACE_KIND) == "llm"]
    assert [bool(_content(s)) for s in chats] == [False, False, True]


def test_llm_call_capture_false_keeps_usage_and_parameters(
    ht: Hoptrace, captured: CapturedSpans
) -> None:
    @ht.agent
    def asker() -> None:
        with ht.llm_call("claude-sonnet-4", provider="anthropic", capture=False) as call:
            call.record_messages(MESSAGES, output="Paris.", system="Be brief.", max_tokens=64)
            call.record_usage(12, 3)
        with ht.llm_call("claude-sonnet-4", provider="anthropic") as call:
            call.record_messages(MESSAGES, output="Paris.")

    asker()
    off, on = [s for s in captured.spans if s.attributes.get(semconv.HOPTRACE_KIND) == "llm"]
    assert _content(off) == set()
    assert off.attributes[semconv.GEN_AI_REQUEST_MAX_TOKENS] == 64
    assert off.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert _content(on) == {
        semconv.GEN_AI_INPUT_MESSAGES,
        semconv.GEN_AI_OUTPUT_MESSAGES,
        semconv.GEN_AI_SYSTEM_INSTRUCTIONS,
    }
