"""`chat {model}` spans: `llm_call()` for any SDK, shared with the litellm integration."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import Span, SpanKind

from . import semconv
from ._state import Frame, log_once
from ._wrappers import Spec

if TYPE_CHECKING:
    from ._hoptrace import Hoptrace


class LlmCall:
    """Handle on one model-call span; record what the provider reported."""

    __slots__ = ("span",)

    def __init__(self, span: Span) -> None:
        self.span = span
        """The underlying OTel span (set more attributes on it if you like)."""

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
    owner: Hoptrace, model: str, provider: str | None, operation: str
) -> Iterator[LlmCall]:
    frame = start_llm(owner, model, provider, operation)
    if frame is None:
        from opentelemetry.trace import INVALID_SPAN

        yield LlmCall(INVALID_SPAN)
        return
    try:
        yield LlmCall(frame.span)
    except BaseException as exc:
        owner._exit_error(frame, exc)
        raise
    owner._exit_ok(frame, None, False)
