"""`chat {model}` spans: `llm_call()` for any SDK, shared with the litellm integration.

What a model call saw and said is recorded in the OTel GenAI content attributes
(`gen_ai.system_instructions`, `gen_ai.input.messages`, `gen_ai.output.messages`,
`gen_ai.tool.definitions`), JSON text in the shapes of the schemas in
open-telemetry/semantic-conventions-genai@11069855 (development; the same shapes as
semantic-conventions v1.37.0): `{"role", "parts": [...], "name"?}` messages whose parts
are `text`, `tool_call` (`id`, `name`, `arguments`), `tool_call_response` (`id`,
`response`), `reasoning`, `uri`, `blob`; output messages add `finish_reason`. A
chat-completions history keeps its leading system messages in
`gen_ai.system_instructions` (the rest of the history, including any later system
turn, in `gen_ai.input.messages`), so they are stored once.

Content is on unless `configure(capture=False)`, the OTel switch
`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=false` (or `NO_CONTENT`), the call is
made inside an `@agent`/`@tool`/`@workflow(capture=False)`, or, for one call,
`llm_call(..., capture=False)` / litellm's `metadata={"hoptrace": {"capture": False}}`.
It is bounded (one text part at most `MAX_PART_CHARS`, all text of a call at most
`MAX_CONTENT_CHARS`, both settable per call kind in `configure()`); the cut is marked in the text and by `hoptrace.messages.truncated` /
`.original_chars`), redacted like argument previews, and serialised once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import Span, SpanKind

from . import semconv
from ._redact_messages import Content, record_request
from ._state import Frame, log_once
from ._wrappers import Spec

if TYPE_CHECKING:
    from ._hoptrace import Hoptrace


class LlmCall:
    """Handle on one model-call span; record what was sent and what the provider reported."""

    __slots__ = ("_content", "span")

    def __init__(self, span: Span, content: Content | None = None) -> None:
        self.span = span
        """The underlying OTel span (set more attributes on it if you like)."""
        self._content = content

    def record_messages(
        self,
        input: Any = None,
        output: Any = None,
        *,
        system: Any = None,
        tools: Any = None,
        finish_reason: str | None = None,
        **request: Any,
    ) -> None:
        """Record the conversation of a call made with another SDK (OpenAI, Anthropic, …).

        ```py
        with tracer.llm_call("claude-sonnet-4", provider="anthropic") as call:
            call.record_messages(messages, system=system_prompt, tools=tools, max_tokens=1024)
            reply = client.messages.create(model=..., system=system_prompt, messages=messages, ...)
            call.record_messages(output=reply)
            call.record_usage(reply.usage.input_tokens, reply.usage.output_tokens)
        ```

        Record the input before the call, so a call that fails keeps what it was sent.
        Accepted shapes: OpenAI chat messages (incl. `tool_calls` and `tool` turns),
        Anthropic content blocks (`text`, `tool_use`, `tool_result`, `thinking`), GenAI
        `{"role", "parts"}` messages, plain strings, and as `output` a response object
        (an OpenAI `ChatCompletion`, an Anthropic `Message`) or a string. The content
        switches, caps and redaction of litellm calls apply.

        Args:
            input: The messages sent (list) or one prompt string.
            output: The reply: a response object, a message list or a string.
            system: System instructions (a string, content blocks or messages).
            tools: Tool definitions offered (OpenAI `tools` list or Anthropic's).
            finish_reason: Why the output ended, when `output` does not say.
            **request: Request parameters: temperature, max_tokens, top_p, seed, stop, n, ...
        """
        try:
            content = self._content
            if content is None:
                return
            if request:
                record_request(self.span, request)
            if not content.enabled:
                return
            content.record(self.span, system=system, input=input, tools=tools)
            if output is not None:
                content.record_output(self.span, output, finish_reason)
        except Exception as exc:
            log_once("record_messages() failed", exc)

    def record_usage(
        self,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cost_usd: float | None = None,
        response_model: str | None = None,
    ) -> None:
        """Record token usage (and cost, if you know it) on the span.

        Args:
            input_tokens: Prompt tokens (`gen_ai.usage.input_tokens`).
            output_tokens: Completion tokens (`gen_ai.usage.output_tokens`).
            cost_usd: Cost in USD; leave None to let the collector price it at ingest.
            response_model: The model that answered (`gen_ai.response.model`).
        """
        try:
            record(self.span, input_tokens, output_tokens, cost_usd, response_model)
        except Exception as exc:
            log_once("record_usage() failed", exc)


def record(
    span: Span,
    input_tokens: int | None,
    output_tokens: int | None,
    cost_usd: float | None,
    response_model: str | None,
    provider: str | None = None,
) -> None:
    if input_tokens is not None:
        span.set_attribute(semconv.GEN_AI_USAGE_INPUT_TOKENS, int(input_tokens))
    if output_tokens is not None:
        span.set_attribute(semconv.GEN_AI_USAGE_OUTPUT_TOKENS, int(output_tokens))
    if cost_usd is not None:
        span.set_attribute(semconv.COST_USD, float(cost_usd))
    if response_model:
        span.set_attribute(semconv.GEN_AI_RESPONSE_MODEL, str(response_model))
    if provider:
        span.set_attribute(semconv.GEN_AI_PROVIDER_NAME, str(provider))


def llm_spec(model: str, provider: str | None, operation: str = semconv.OP_CHAT) -> Spec:
    attributes: dict[str, Any] = {
        semconv.GEN_AI_OPERATION_NAME: operation,
        semconv.HOPTRACE_KIND: "llm",
        semconv.GEN_AI_REQUEST_MODEL: model,
    }
    if provider:
        attributes[semconv.GEN_AI_PROVIDER_NAME] = provider
    # CLIENT, as the GenAI conventions say for a call to a model service.
    return Spec(
        "llm", model, f"{operation} {model}", attributes, capture=False, otel_kind=SpanKind.CLIENT
    )


def start_llm(
    owner: Hoptrace, model: str, provider: str | None, operation: str = semconv.OP_CHAT
) -> Frame | None:
    """Start a model-call span as a child of the current span."""
    return owner._enter(llm_spec(model, provider, operation), (), {})


@contextmanager
def llm_call(
    owner: Hoptrace, model: str, provider: str | None, operation: str, capture: bool = True
) -> Iterator[LlmCall]:
    frame = start_llm(owner, model, provider, operation)
    if frame is None:
        from opentelemetry.trace import INVALID_SPAN

        yield LlmCall(INVALID_SPAN)
        return
    try:
        yield LlmCall(frame.span, owner._message_content(frame, operation, capture))
    except BaseException as exc:
        owner._exit_error(frame, exc)
        raise
    owner._exit_ok(frame, None, False)
