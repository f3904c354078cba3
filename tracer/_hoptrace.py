"""The `Hoptrace` instance: decorators, the span lifecycle (hot path), run-level operations."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar, cast, overload

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span

from . import semconv
from ._error_marks import record_error, record_recovered
from ._handoffs import handoff_links, record_handoff, record_reject
from ._lifecycle import Lifecycle
from ._state import FRAME_KEY, Frame, Producer, Run, current_frame, log_once, trackable
from ._wrappers import Spec, make_spec, wrap

F = TypeVar("F", bound=Callable[..., Any])

# The key OTel stores the current span under, found through the public API.
(_SPAN_KEY,) = trace.set_span_in_context(trace.INVALID_SPAN, Context()).keys()


class Hoptrace(Lifecycle):
    """All tracer state. The module-level functions are bound methods of a default instance.

    Build your own instance to trace into a separate provider (tests do this
    through `tracer.testing`):

    ```py
    ht = Hoptrace()
    ht.configure(tracer_provider=my_provider)

    @ht.agent
    def planner(task: str) -> str: ...
    ```
    """

    # --- decorators ----------------------------------------------------------

    @overload
    def agent(self, func: F, /) -> F: ...
    @overload
    def agent(
        self,
        func: None = None,
        /,
        *,
        name: str | None = None,
        model: str | None = None,
        role: str | None = None,
        capture: bool = True,
    ) -> Callable[[F], F]: ...
    def agent(
        self,
        func: F | None = None,
        /,
        *,
        name: str | None = None,
        model: str | None = None,
        role: str | None = None,
        capture: bool = True,
    ) -> F | Callable[[F], F]:
        """Trace each call of the function as one agent invocation (`invoke_agent {name}`).

        ```py
        @tracer.agent(model="gpt-4o-mini", role="writer")
        def writer(brief: str) -> str:
            ...
        ```

        Args:
            func: The function (bare `@agent` form).
            name: Agent name (default: the function's `__name__`).
            model: The model this agent uses (`gen_ai.request.model`).
            role: Free-form role, e.g. "reviewer" (`hoptrace.agent.role`).
            capture: Record previews of arguments and return value, and the content of
                the model calls made inside (False turns both off).
        """

        def decorate(f: F) -> F:
            return wrap(self, f, make_spec("agent", f, name, capture, model=model, role=role))

        return decorate(func) if func is not None else decorate

    @overload
    def tool(self, func: F, /) -> F: ...
    @overload
    def tool(
        self, func: None = None, /, *, name: str | None = None, capture: bool = True
    ) -> Callable[[F], F]: ...
    def tool(
        self, func: F | None = None, /, *, name: str | None = None, capture: bool = True
    ) -> F | Callable[[F], F]:
        """Trace each call as a tool execution (`execute_tool {name}`).

        Args:
            func: The function (bare `@tool` form).
            name: Tool name (default: the function's `__name__`).
            capture: Record argument/return previews and the content of model calls inside.
        """

        def decorate(f: F) -> F:
            return wrap(self, f, make_spec("tool", f, name, capture))

        return decorate(func) if func is not None else decorate

    @overload
    def workflow(self, func: F, /) -> F: ...
    @overload
    def workflow(
        self, func: None = None, /, *, name: str | None = None, capture: bool = True
    ) -> Callable[[F], F]: ...
    def workflow(
        self, func: F | None = None, /, *, name: str | None = None, capture: bool = True
    ) -> F | Callable[[F], F]:
        """Trace each call as the root of one run (`invoke_workflow {name}`).

        Args:
            func: The function (bare `@workflow` form).
            name: Workflow name (default: the function's `__name__`).
            capture: Record argument/return previews and the content of model calls inside.
        """

        def decorate(f: F) -> F:
            return wrap(self, f, make_spec("workflow", f, name, capture))

        return decorate(func) if func is not None else decorate

    # --- span lifecycle (the hot path) -----------------------------------------

    def _enter(self, spec: Spec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Frame | None:
        """Start the span for one call; None if hoptrace itself failed (call runs untraced)."""
        try:
            tracer = self._tracer or self._setup()
            parent_ctx = otel_context.get_current()
            parent = cast("Frame | None", parent_ctx.get(FRAME_KEY))  # only we set this key
            # The SDK copies attributes into the span, so the precomputed dict is
            # passed as is unless this call adds something.
            attributes = spec.attributes
            links: list[Link] | None = None
            input_preview: str | None = None
            if (args or kwargs) and spec.capture and self._capture:
                input_preview = self._input_preview(spec, args, kwargs)
                if input_preview is not None:
                    attributes = {**attributes, semconv.INPUT: input_preview}
            if parent is None:
                run: Run | None = None
                if self._next_run_attributes:
                    attributes = {**attributes, **self._take_next_run_attributes()}
            else:
                run = parent.run
                agent = parent.agent
                if spec.kind == "agent":
                    if agent is not None and agent.name != spec.name:
                        attributes = {
                            **attributes,
                            semconv.HANDOFF_FROM_AGENT: agent.name,
                            semconv.HANDOFF_FROM_SPAN_ID: agent.span_id,
                        }
                        if input_preview is not None:
                            attributes[semconv.HANDOFF_PAYLOAD] = input_preview
                    if run.registry or run.explicit:
                        links = handoff_links(self._safe_preview, spec, run, args, kwargs)
                elif agent is not None:
                    attributes = {
                        **attributes,
                        semconv.GEN_AI_AGENT_NAME: agent.name,
                        semconv.AGENT_SPAN_ID: agent.span_id,
                    }
            span = tracer.start_span(
                spec.span_name, parent_ctx, spec.otel_kind, attributes=attributes, links=links
            )
            if run is None:
                run = Run(span)
            frame = Frame(self, span, spec.kind, spec.name, parent, run, spec.quiet)
            # What set_span_in_context + set_value do, with one copy instead of two.
            values = parent_ctx.copy()
            values[_SPAN_KEY] = span
            values[FRAME_KEY] = frame
            frame.token = otel_context.attach(Context(values))
            return frame
        except Exception as exc:
            log_once("could not start a span", exc)
            return None

    def _exit_ok(self, frame: Frame, result: Any, capture: bool) -> None:
        try:
            if frame.token is not None:
                otel_context.detach(frame.token)  # type: ignore[arg-type]
            span = frame.span
            if capture and result is not None and self._capture:
                try:
                    span.set_attribute(semconv.OUTPUT, self._previewer.preview(result))
                except Exception as exc:
                    log_once(f"could not preview a {type(result).__name__} return value", exc)
            if frame.errors:
                record_recovered(frame)
            if frame.kind == "agent" and result is not None and trackable(result):
                frame.run.remember(
                    result, Producer(frame.name, span.get_span_context(), frame.span_id)
                )
            span.end()
            if frame.parent is None:
                frame.run.close()
        except Exception as exc:
            log_once("could not end a span", exc)

    def _exit_error(self, frame: Frame, exc: BaseException) -> None:
        try:
            if frame.token is not None:
                otel_context.detach(frame.token)  # type: ignore[arg-type]
            if isinstance(exc, GeneratorExit):
                # The consumer stopped iterating early: not an error of this span.
                frame.span.set_attribute(semconv.GENERATOR_CLOSED, True)
            else:
                try:
                    record_error(frame, exc)
                except Exception as inner:
                    log_once("could not record an exception on a span", inner)
            frame.span.end()
            if frame.parent is None:
                frame.run.close()
        except Exception as inner:
            log_once("could not end a span", inner)

    def _input_preview(
        self, spec: Spec, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> str | None:
        try:
            return self._previewer.preview(spec.bind(args, kwargs))
        except Exception as exc:
            log_once("could not preview arguments", exc)
            return None

    def _safe_preview(self, value: Any) -> str:
        try:
            return self._previewer.preview(value)
        except Exception as exc:
            log_once(f"could not preview a {type(value).__name__}", exc)
            return f"<{type(value).__name__}>"

    # --- other public operations -----------------------------------------------

    @contextmanager
    def span(self, name: str, **attributes: Any) -> Iterator[Span]:
        """A span for anything that is not an agent, tool or workflow.

        ```py
        with tracer.span("retrieve", k=5) as s:
            s.set_attribute("hits", 3)
        ```

        Args:
            name: Span name, kept as given.
            **attributes: Span attributes (OTel-compatible values; others are previewed as JSON).
        """
        frame = self._enter(Spec.for_span(name, self._span_attributes(attributes)), (), {})
        if frame is None:
            yield trace.INVALID_SPAN
            return
        try:
            yield frame.span
        except BaseException as exc:
            self._exit_error(frame, exc)
            raise
        self._exit_ok(frame, None, False)

    def _span_attributes(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in attributes.items():
            out[key] = self._safe_attribute(key, value)
        return out

    def _safe_attribute(self, key: str, value: Any) -> Any:
        try:
            return self._previewer.attribute(key, value)
        except Exception as exc:
            log_once(f"could not record a {type(value).__name__} attribute", exc)
            return f"<{type(value).__name__}>"

    def handoff(self, to: str | Callable[..., Any], payload: Any = None) -> str | None:
        """Record an explicit handoff from the current agent to agent `to`.

        An event `hoptrace.handoff` goes on the current span now; when agent `to`
        next starts in this run its span gets a link back here. Returns the
        handoff id (None outside a traced run).

        Args:
            to: The receiving agent's name, or its decorated function.
            payload: What is handed over (previewed, bounded, redacted).
        """
        return record_handoff(self._safe_preview, to, payload)

    def reject(self, value: Any, reason: str) -> None:
        """Declare that `value`, produced by another agent in this run, is wrong.

        Adds an event `hoptrace.reject` on the current span naming the producing
        agent span; if the rejecting agent (or an ancestor) later fails, that
        error's cause is the rejected producer.

        Args:
            value: The rejected object (the very object an agent returned).
            reason: Why it is wrong.
        """
        record_reject(self._safe_preview, self._previewer.text, value, reason)

    def set_run_attributes(self, conversation_id: str | None = None, **attributes: Any) -> None:
        """Put `hoptrace.run.<key>` attributes on the current run's root span.

        Called outside any run, they go on the next run that starts.

        Args:
            conversation_id: Sets `gen_ai.conversation.id` on the root span.
            **attributes: Run attributes, e.g. `injected_fault="writer"`.
        """
        try:
            values: dict[str, Any] = {}
            if conversation_id is not None:
                values[semconv.GEN_AI_CONVERSATION_ID] = str(conversation_id)
            for key, value in attributes.items():
                values[semconv.RUN_ATTRIBUTE_PREFIX + key] = self._safe_attribute(key, value)
            frame = current_frame()
            if frame is None:
                with self._lock:
                    self._next_run_attributes.update(values)
                return
            frame.run.root.set_attributes(values)
        except Exception as exc:
            log_once("set_run_attributes() failed", exc)

    def _take_next_run_attributes(self) -> dict[str, Any]:
        with self._lock:
            values, self._next_run_attributes = self._next_run_attributes, {}
        return values

    def llm_call(
        self,
        model: str,
        provider: str | None = None,
        *,
        operation: str = semconv.OP_CHAT,
        capture: bool = True,
    ) -> Any:
        """A `chat {model}` span for a model call made with any SDK; record usage on it.

        ```py
        with tracer.llm_call("claude-sonnet-4", provider="anthropic") as call:
            reply = client.messages.create(...)
            call.record_usage(input_tokens=reply.usage.input_tokens,
                              output_tokens=reply.usage.output_tokens)
        ```

        Cost may be left out: the collector prices known models at ingest.

        Args:
            model: Requested model (`gen_ai.request.model`).
            provider: `gen_ai.provider.name`, e.g. "openai", "anthropic".
            operation: `gen_ai.operation.name` (default "chat"); also the call kind whose
                message caps apply (`configure(message_caps=...)`).
            capture: Record the messages given to `record_messages` (False: usage only).
        """
        from ._llm import llm_call

        return llm_call(self, model, provider, operation, capture)
