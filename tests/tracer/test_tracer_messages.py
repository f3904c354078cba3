"""Model calls record what they saw and said: GenAI content attributes, bounded and redacted."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from tracer import Hoptrace, semconv
from tracer.testing import CapturedSpans, capture_spans, find

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
litellm = pytest.importorskip("litellm")

pytestmark = pytest.mark.filterwarnings("ignore:.*`ReadOnly` qualifier:UserWarning")

SECRET = "sk-proj-Abcdefghijklmnop1234567890"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Find a city",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
]
HISTORY: list[dict[str, Any]] = [
    {"role": "system", "content": f"You are terse. Internal key: {SECRET}"},
    {"role": "user", "content": "Capital of France?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "lookup", "arguments": '{"q": "France", "api_key": "k-123"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "Paris"},
]


def _chat(spans: Any) -> Any:
    [chat] = [s for s in spans if s.attributes.get(semconv.HOPTRACE_KIND) == "llm"]
    return chat


def _json(span: Any, key: str) -> Any:
    return json.loads(span.attributes[key])


def test_sync_call_records_all_four_content_attributes(
    ht: Hoptrace, captured: CapturedSpans
) -> None:
    @ht.agent
    def asker() -> str:
        r = litellm.completion(
            model="gpt-4o-mini",
            messages=HISTORY,
            tools=TOOLS,
            tool_choice="auto",
            temperature=0.2,
            max_tokens=64,
            stop="END",
            seed=7,
            mock_response="Paris.",
        )
        return str(r.choices[0].message.content)

    assert asker() == "Paris."
    chat = _chat(captured.spans)
    assert _json(chat, semconv.GEN_AI_SYSTEM_INSTRUCTIONS) == [
        {"type": "text", "content": "You are terse. Internal key: [REDACTED]"}
    ]
    assert _json(chat, semconv.GEN_AI_INPUT_MESSAGES) == [
        {"role": "user", "parts": [{"type": "text", "content": "Capital of France?"}]},
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "call_1",
                    "name": "lookup",
                    "arguments": {"q": "France", "api_key": "[REDACTED]"},
                }
            ],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "call_1", "response": "Paris"}],
        },
    ]
    assert _json(chat, semconv.GEN_AI_OUTPUT_MESSAGES) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Paris."}],
            "finish_reason": "stop",
        }
    ]
    assert _json(chat, semconv.GEN_AI_TOOL_DEFINITIONS) == [
        {
            "type": "function",
            "name": "lookup",
            "description": "Find a city",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        }
    ]
    a = chat.attributes
    assert a[semconv.GEN_AI_REQUEST_TEMPERATURE] == 0.2
    assert a[semconv.GEN_AI_REQUEST_MAX_TOKENS] == 64
    assert a[semconv.GEN_AI_REQUEST_SEED] == 7
    assert list(a[semconv.GEN_AI_REQUEST_STOP_SEQUENCES]) == ["END"]
    assert a[semconv.TOOL_CHOICE] == "auto"
    assert list(a[semconv.GEN_AI_RESPONSE_FINISH_REASONS]) == ["stop"]
    assert a[semconv.GEN_AI_RESPONSE_ID].startswith("chatcmpl-")
    assert SECRET not in json.dumps(dict(a))


def test_async_call_and_tool_call_output(ht: Hoptrace, captured: CapturedSpans) -> None:
    calls = [
        {
            "id": "call_7",
            "type": "function",
            "function": {"name": "lookup", "arguments": '{"q": "Rome", "password": 1234}'},
        }
    ]

    @ht.agent
    async def asker() -> Any:
        return await litellm.acompletion(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "where?"}],
            mock_tool_calls=calls,
        )

    asyncio.run(asker())
    out = _json(_chat(captured.spans), semconv.GEN_AI_OUTPUT_MESSAGES)
    [message] = out
    assert message["role"] == "assistant"
    assert message["parts"][-1] == {
        "type": "tool_call",
        "id": "call_7",
        "name": "lookup",
        "arguments": {"q": "Rome", "password": "[REDACTED]"},  # a numeric password too
    }


def test_stream_is_recorded_once_assembled(ht: Hoptrace, captured: CapturedSpans) -> None:
    @ht.agent
    def asker() -> str:
        stream = litellm.completion(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "greet"}],
            stream=True,
            mock_response="Hello there, friend",
        )
        return "".join(c.choices[0].delta.content or "" for c in stream)

    assert asker() == "Hello there, friend"
    chat = _chat(captured.spans)
    assert _json(chat, semconv.GEN_AI_OUTPUT_MESSAGES) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Hello there, friend"}],
            "finish_reason": "stop",
        }
    ]
    assert chat.attributes[semconv.GEN_AI_REQUEST_STREAM] is True


@pytest.fixture
def streaming_tool_provider() -> Iterator[str]:
    """A litellm custom provider that streams one tool call in two fragments."""
    from litellm import CustomLLM
    from litellm.types.utils import GenericStreamingChunk

    class Provider(CustomLLM):
        def streaming(self, *args: Any, **kwargs: Any) -> Iterator[GenericStreamingChunk]:
            fragments = ['{"q": ', '"Paris"}']
            for i, arguments in enumerate(fragments):
                yield GenericStreamingChunk(
                    text="",
                    tool_use={
                        "id": "call_9" if i == 0 else None,
                        "type": "function",
                        "function": {"name": "lookup" if i == 0 else None, "arguments": arguments},
                        "index": 0,
                    },
                    is_finished=i == 1,
                    finish_reason="tool_calls" if i == 1 else "",
                    usage=None,
                    index=0,
                )

    saved = litellm.custom_provider_map
    litellm.custom_provider_map = [{"provider": "hoptracefake", "custom_handler": Provider()}]
    try:
        yield "hoptracefake/model"
    finally:
        litellm.custom_provider_map = saved


def test_streamed_tool_call_fragments_are_joined(
    ht: Hoptrace, captured: CapturedSpans, streaming_tool_provider: str
) -> None:
    @ht.agent
    def asker() -> None:
        for _ in litellm.completion(
            model=streaming_tool_provider, messages=[{"role": "user", "content": "x"}], stream=True
        ):
            pass

    asker()
    [message] = _json(_chat(captured.spans), semconv.GEN_AI_OUTPUT_MESSAGES)
    assert message["finish_reason"] == "tool_calls"
    assert message["parts"] == [
        {"type": "tool_call", "id": "call_9", "name": "lookup", "arguments": {"q": "Paris"}}
    ]


def test_failed_call_keeps_its_input_and_redacts_the_error(
    ht: Hoptrace, captured: CapturedSpans
) -> None:
    @ht.agent
    def asker() -> None:
        litellm.completion(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "will fail"}],
            mock_response=Exception(f"Incorrect API key provided: {SECRET}"),
        )

    with pytest.raises(Exception, match="Incorrect API key"):
        asker()
    chat = _chat(captured.spans)
    assert _json(chat, semconv.GEN_AI_INPUT_MESSAGES) == [
        {"role": "user", "parts": [{"type": "text", "content": "will fail"}]}
    ]
    assert semconv.GEN_AI_OUTPUT_MESSAGES not in chat.attributes
    for span in (chat, find(captured.spans, "asker")):
        texts = [span.status.description or "", str(span.attributes.get(semconv.ERROR_MESSAGE))]
        for event in span.events:
            texts += [str(v) for v in (event.attributes or {}).values()]
        assert all(SECRET not in t for t in texts)
        assert any("[REDACTED]" in t for t in texts)


def test_big_prompt_is_cut_with_its_size_noted(ht: Hoptrace, captured: CapturedSpans) -> None:
    prompt = "word " * 40_000  # 200 KB

    @ht.agent
    def asker() -> None:
        litellm.completion(
            model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}], mock_response="ok"
        )

    asker()
    chat = _chat(captured.spans)
    raw = chat.attributes[semconv.GEN_AI_INPUT_MESSAGES]
    assert len(raw) < 20_000
    text = json.loads(raw)[0]["parts"][0]["content"]
    assert text.endswith(f"…(+{len(prompt) - 16_384} chars)")
    assert chat.attributes[semconv.MESSAGES_TRUNCATED] is True
    assert chat.attributes[semconv.MESSAGES_ORIGINAL_CHARS] == len(prompt) + len("ok")


def _content_keys(span: Any) -> set[str]:
    keys = {
        semconv.GEN_AI_INPUT_MESSAGES,
        semconv.GEN_AI_OUTPUT_MESSAGES,
        semconv.GEN_AI_SYSTEM_INSTRUCTIONS,
        semconv.GEN_AI_TOOL_DEFINITIONS,
    }
    return keys & set(span.attributes)


def _one_call(ht: Hoptrace, **kwargs: Any) -> None:
    @ht.agent
    def asker() -> None:
        litellm.completion(
            model="gpt-4o-mini", messages=HISTORY, tools=TOOLS, mock_response="ok", **kwargs
        )

    asker()


def test_content_switches(ht: Hoptrace, monkeypatch: pytest.MonkeyPatch) -> None:
    with capture_spans(ht, capture=False) as captured:
        _one_call(ht, temperature=0.5)
    chat = _chat(captured.spans)
    assert _content_keys(chat) == set()
    assert chat.attributes[semconv.GEN_AI_REQUEST_TEMPERATURE] == 0.5  # not content
    with capture_spans(ht) as captured:
        _one_call(ht, metadata={"hoptrace": {"capture": False}})
        _one_call(ht)
    chats = [s for s in captured.spans if s.attributes.get(semconv.HOPTRACE_KIND) == "llm"]
    assert [len(_content_keys(c)) for c in chats] == [0, 4]
    for value in ("false", "NO_CONTENT"):
        monkeypatch.setenv(semconv.CAPTURE_CONTENT_ENV, value)
        with capture_spans(ht) as captured:
            _one_call(ht)
        assert _content_keys(_chat(captured.spans)) == set()
    monkeypatch.setenv(semconv.CAPTURE_CONTENT_ENV, "true")
    with capture_spans(ht) as captured:
        _one_call(ht)
    assert len(_content_keys(_chat(captured.spans))) == 4


def test_record_messages_for_other_sdks(ht: Hoptrace, captured: CapturedSpans) -> None:
    """Anthropic-shaped input and reply, recorded through `llm_call` by hand."""

    class Block:
        def __init__(self, **fields: Any) -> None:
            self.__dict__.update(fields)

    class Message:  # the fields of anthropic.types.Message that matter here
        role = "assistant"
        stop_reason = "tool_use"
        content: ClassVar[list[Block]] = [
            Block(type="text", text="Looking it up."),
            Block(type="tool_use", id="tu_1", name="lookup", input={"q": "Oslo"}),
        ]

    messages = [
        {"role": "user", "content": [{"type": "text", "text": "Capital of Norway?"}]},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "tu_0",
                    "content": [{"type": "text", "text": "Oslo"}],
                }
            ],
        },
    ]
    tools = [{"name": "lookup", "description": "d", "input_schema": {"type": "object"}}]

    @ht.agent
    def asker() -> None:
        with ht.llm_call("claude-sonnet-4", provider="anthropic") as call:
            call.record_messages(messages, system="Be brief.", tools=tools, max_tokens=100)
            call.record_messages(output=Message())

    asker()
    chat = _chat(captured.spans)
    assert _json(chat, semconv.GEN_AI_SYSTEM_INSTRUCTIONS) == [
        {"type": "text", "content": "Be brief."}
    ]
    assert _json(chat, semconv.GEN_AI_INPUT_MESSAGES)[1] == {
        "role": "user",
        "parts": [{"type": "tool_call_response", "id": "tu_0", "response": "Oslo"}],
    }
    assert _json(chat, semconv.GEN_AI_OUTPUT_MESSAGES) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "Looking it up."},
                {"type": "tool_call", "id": "tu_1", "name": "lookup", "arguments": {"q": "Oslo"}},
            ],
            "finish_reason": "tool_use",
        }
    ]
    assert _json(chat, semconv.GEN_AI_TOOL_DEFINITIONS) == [
        {"type": "function", "name": "lookup", "description": "d", "parameters": {"type": "object"}}
    ]
    assert chat.attributes[semconv.GEN_AI_REQUEST_MAX_TOKENS] == 100


def test_record_messages_openai_response_object(ht: Hoptrace, captured: CapturedSpans) -> None:
    response = litellm.completion(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], mock_response="Hi!"
    )  # outside any agent: untraced, just a ChatCompletion-shaped object

    @ht.agent
    def asker() -> None:
        with ht.llm_call("gpt-4o-mini", provider="openai") as call:
            call.record_messages([{"role": "user", "content": "x"}], output=response)

    asker()
    [chat] = [s for s in captured.spans if s.attributes.get(semconv.HOPTRACE_KIND) == "llm"]
    assert _json(chat, semconv.GEN_AI_OUTPUT_MESSAGES) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Hi!"}],
            "finish_reason": "stop",
        }
    ]
