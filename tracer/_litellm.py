"""litellm integration: `completion`/`acompletion` become `chat {model}` spans.

Mechanism (checked against litellm 1.106.2): hoptrace wraps the module-level
`litellm.completion` and `litellm.acompletion`. The span is started and ended
in the caller's own thread/task, so it nests under the calling agent and is
finished before the call returns (nothing waits on litellm's background
success-callback thread, and `flush()` right after a call loses nothing). A
failed call is an ERROR span and, being the first span that sees the
exception, its origin. Streams are wrapped: the span ends when the stream is
exhausted, with usage from the last chunk (or counted with litellm's
tokenizer) and the cost litellm computed for the stream.

Content (tracer._llm): the request's system instructions, messages and tools are
recorded when the call starts (so a failed call keeps them), request parameters
always, and the reply when it returns; a stream's reply once assembled from its
chunks (text, tool-call fragments, finish reason), also when it fails midway.

Only calls made inside a traced span are recorded. `import tracer` never
imports litellm: `install()` patches it if it is already imported, else adds a
one-shot import hook that patches it right after it is first imported.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, cast

from . import semconv
from ._llm import record, start_llm
from ._redact_messages import Content, StreamedReply, record_request
from ._state import Frame, current_frame, log_once

_MARK = "__hoptrace_wrapped__"


def instrument_litellm() -> None:
    """Trace litellm model calls now (imports litellm). Usually automatic."""
    import litellm

    patch(litellm)


def install() -> None:
    """Patch litellm now if imported, else as soon as it is imported. Idempotent."""
    module = sys.modules.get("litellm")
    if module is not None and hasattr(module, "completion"):
        patch(module)
        return
    if not any(isinstance(f, _ImportHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _ImportHook())


class _ImportHook(importlib.abc.MetaPathFinder):
    """Finds nothing itself; wraps litellm's loader so the module is patched once loaded."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "litellm":
            return None
        sys.meta_path.remove(self)  # one-shot, and no recursion into ourselves below
        try:
            spec: importlib.machinery.ModuleSpec | None = None
            for finder in sys.meta_path:
                find = getattr(finder, "find_spec", None)
                if find is not None:
                    spec = cast(
                        "importlib.machinery.ModuleSpec | None", find(fullname, path, target)
                    )
                if spec is not None:
                    break
            if spec is None:
                return None
            loader = spec.loader
            exec_module = getattr(loader, "exec_module", None)
            if loader is None or exec_module is None:
                return spec

            def exec_and_patch(module: ModuleType) -> None:
                exec_module(module)
                patch(module)

            loader.exec_module = exec_and_patch  # type: ignore[method-assign]
            return spec
        except Exception as exc:
            log_once("litellm import hook failed; litellm calls are not traced", exc)
            return None


def patch(module: Any) -> None:
    """Wrap `module.completion` and `module.acompletion` (idempotent, never raises)."""
    try:
        completion = module.completion
        if not getattr(completion, _MARK, False):
            module.completion = _traced_completion(completion)
        acompletion = module.acompletion
        if not getattr(acompletion, _MARK, False):
            module.acompletion = _traced_acompletion(acompletion)
    except Exception as exc:
        log_once("could not instrument litellm", exc)


def _model_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    model = kwargs.get("model", args[0] if args else None)
    return str(model) if model else "unknown"


def _provider_hint(model: str, kwargs: dict[str, Any]) -> str | None:
    provider = kwargs.get("custom_llm_provider")
    if provider:
        return str(provider)
    if "/" in model:
        return model.split("/", 1)[0]
    return None


def _start(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Frame, Content] | None:
    parent = current_frame()
    if parent is None:
        return None
    model = _model_of(args, kwargs)
    frame = start_llm(parent.owner, model, _provider_hint(model, kwargs))
    if frame is None:
        return None
    content = frame.owner._message_content(frame, semconv.OP_CHAT, _call_capture(kwargs))
    try:
        record_request(frame.span, kwargs)
        if content.enabled:
            messages = kwargs.get("messages", args[1] if len(args) > 1 else None)
            content.record(frame.span, input=messages, tools=kwargs.get("tools"))
    except Exception as exc:
        log_once("could not record a litellm request", exc)
    return frame, content


def _call_capture(kwargs: dict[str, Any]) -> bool:
    # per call: completion(..., metadata={"hoptrace": {"capture": False}})
    metadata = kwargs.get("metadata")
    options = metadata.get("hoptrace") if isinstance(metadata, dict) else None
    return not (isinstance(options, dict) and options.get("capture") is False)


def _traced_completion(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def completion(*args: Any, **kwargs: Any) -> Any:
        started = _start(args, kwargs)
        if started is None:
            return original(*args, **kwargs)
        try:
            response = original(*args, **kwargs)
        except BaseException as exc:
            _fail(started[0], exc)
            raise
        return _finish(started, response, args, kwargs)

    setattr(completion, _MARK, True)
    return completion


def _traced_acompletion(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def acompletion(*args: Any, **kwargs: Any) -> Any:
        started = _start(args, kwargs)
        if started is None:
            return await original(*args, **kwargs)
        try:
            response = await original(*args, **kwargs)
        except BaseException as exc:
            _fail(started[0], exc)
            raise
        return _finish(started, response, args, kwargs)

    setattr(acompletion, _MARK, True)
    return acompletion


def _fail(frame: Frame, exc: BaseException) -> None:
    try:
        provider = getattr(exc, "llm_provider", None)
        if provider:
            frame.span.set_attribute(semconv.GEN_AI_PROVIDER_NAME, str(provider))
    except Exception as inner:
        log_once("could not read a litellm error", inner)
    frame.owner._exit_error(frame, exc)


def _finish(
    started: tuple[Frame, Content], response: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    frame, content = started
    if kwargs.get("stream") and _is_stream(response):
        # The span stays open while the caller consumes the stream, but its
        # context must not stay attached to the caller's code.
        try:
            from opentelemetry import context as otel_context

            otel_context.detach(frame.token)  # type: ignore[arg-type]
            frame.token = None
        except Exception as exc:
            log_once("could not detach a stream span", exc)
        return _TracedStream(response, frame, content, args, kwargs)
    try:
        _record_response(frame, response)
        if content.enabled:
            content.record_output(frame.span, response)
    except Exception as exc:
        log_once("could not read a litellm response", exc)
    frame.owner._exit_ok(frame, None, False)
    return response


def _is_stream(response: Any) -> bool:
    return hasattr(response, "__next__") or hasattr(response, "__anext__")


def _record_response(frame: Frame, response: Any) -> None:
    usage = getattr(response, "usage", None)
    hidden = getattr(response, "_hidden_params", None) or {}
    record(
        frame.span,
        getattr(usage, "prompt_tokens", None),
        getattr(usage, "completion_tokens", None),
        hidden.get("response_cost"),
        getattr(response, "model", None),
        hidden.get("custom_llm_provider"),
    )
    response_id = getattr(response, "id", None)
    if response_id:
        frame.span.set_attribute(semconv.GEN_AI_RESPONSE_ID, str(response_id))
    reasons = [
        str(c.finish_reason)
        for c in getattr(response, "choices", None) or ()
        if getattr(c, "finish_reason", None)
    ]
    if reasons:
        frame.span.set_attribute(semconv.GEN_AI_RESPONSE_FINISH_REASONS, reasons)


class _TracedStream:
    """Iterates a litellm stream and ends the chat span when it is exhausted or fails."""

    def __init__(
        self,
        stream: Any,
        frame: Frame,
        content: Content,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self._stream = stream
        self._frame: Frame | None = frame
        self._content = content
        self._args = args
        self._kwargs = kwargs
        self._usage: Any = None
        self._model: str | None = None
        self._text: list[str] = []
        self._calls = StreamedReply()
        self._finish: str | None = None
        self._id: str | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __iter__(self) -> _TracedStream:
        return self

    def __aiter__(self) -> _TracedStream:
        return self

    def __next__(self) -> Any:
        try:
            chunk = next(self._stream)
        except StopIteration:
            self._end(None)
            raise
        except BaseException as exc:
            self._end(exc)
            raise
        self._see(chunk)
        return chunk

    async def __anext__(self) -> Any:
        try:
            chunk = await self._stream.__anext__()
        except StopAsyncIteration:
            self._end(None)
            raise
        except BaseException as exc:
            self._end(exc)
            raise
        self._see(chunk)
        return chunk

    def _see(self, chunk: Any) -> None:
        try:
            usage = getattr(chunk, "usage", None)
            if usage is not None:
                self._usage = usage
            self._model = getattr(chunk, "model", None) or self._model
            self._id = self._id or getattr(chunk, "id", None)
            for choice in getattr(chunk, "choices", None) or ():
                delta = getattr(choice, "delta", None)
                content = getattr(delta, "content", None)
                if content and len(self._text) < 10_000:
                    self._text.append(content)
                for tc in getattr(delta, "tool_calls", None) or ():
                    self._calls.see(tc)
                self._finish = getattr(choice, "finish_reason", None) or self._finish
        except Exception as exc:
            log_once("could not read a litellm stream chunk", exc)

    def _end(self, exc: BaseException | None) -> None:
        frame, self._frame = self._frame, None
        if frame is None:
            return
        try:
            from opentelemetry import context as otel_context

            # Re-attach so ending runs with the span current (exit detaches it).
            frame.token = otel_context.attach(otel_context.get_current())
            self._record_content(frame, exc)
            if exc is not None:
                _fail(frame, exc)
                return
            self._record(frame)
        except Exception as inner:
            log_once("could not end a litellm stream span", inner)
        frame.owner._exit_ok(frame, None, False)

    def _record_content(self, frame: Frame, exc: BaseException | None) -> None:
        span = frame.span
        if self._id:
            span.set_attribute(semconv.GEN_AI_RESPONSE_ID, str(self._id))
        finish = self._finish or ("error" if exc is not None else None)
        if finish:
            span.set_attribute(semconv.GEN_AI_RESPONSE_FINISH_REASONS, [str(finish)])
        if self._content.enabled and (self._text or self._calls):
            message = self._calls.message("".join(self._text))
            self._content.record_output(span, [message], finish or "stop")

    def _record(self, frame: Frame) -> None:
        input_tokens = getattr(self._usage, "prompt_tokens", None)
        output_tokens = getattr(self._usage, "completion_tokens", None)
        model = _model_of(self._args, self._kwargs)
        if self._usage is None:
            import litellm

            messages = self._kwargs.get("messages") or []
            input_tokens = litellm.token_counter(model=model, messages=messages)
            output_tokens = litellm.token_counter(
                model=model, text="".join(self._text), count_response_tokens=True
            )
        # litellm computes a stream's cost in its success handler, which may run
        # on a background thread after the last chunk: use it if it is already
        # there, else price the counted tokens from the same price map.
        details = getattr(getattr(self._stream, "logging_obj", None), "model_call_details", None)
        cost = details.get("response_cost") if isinstance(details, dict) else None
        provider = getattr(self._stream, "custom_llm_provider", None)
        if cost is None and input_tokens is not None and output_tokens is not None:
            cost = _price(self._model or model, provider, input_tokens, output_tokens)
        record(frame.span, input_tokens, output_tokens, cost, self._model, provider)


def _price(model: str, provider: str | None, input_tokens: int, output_tokens: int) -> float | None:
    """Cost from litellm's price map; None for a model it does not know (never 0)."""
    import litellm

    try:
        prompt, completion = litellm.cost_per_token(
            model=model,
            custom_llm_provider=provider,
            prompt_tokens=input_tokens,
            completion_tokens=output_tokens,
        )
    except Exception:
        return None
    return float(prompt + completion)
