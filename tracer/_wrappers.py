"""Decoration-time work and the four call wrappers (sync, async, generator, async generator).

Everything that does not depend on the call (span name, static attributes,
parameter names) is computed once here, so the per-call path is a dict copy,
`start_span`, one context attach and one detach.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import warnings
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any, TypeVar, cast

from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind

from . import semconv

if TYPE_CHECKING:
    from ._hoptrace import Hoptrace

F = TypeVar("F", bound=Callable[..., Any])

GENERATOR_PREVIEW_ITEMS = 20
"""Yielded items kept for the output preview of a generator span."""

_OPERATION = {
    "agent": semconv.OP_AGENT,
    "tool": semconv.OP_TOOL,
    "workflow": semconv.OP_WORKFLOW,
}


class Spec:
    """What one decorated function's spans look like, computed at decoration time."""

    __slots__ = (
        "attributes",
        "capture",
        "kind",
        "name",
        "otel_kind",
        "params",
        "quiet",
        "span_name",
        "start",
        "varargs",
    )

    def __init__(
        self,
        kind: str,
        name: str,
        span_name: str,
        attributes: dict[str, Any],
        capture: bool,
        params: tuple[str, ...] = (),
        start: int = 0,
        varargs: str = "args",
        otel_kind: SpanKind = SpanKind.INTERNAL,
    ) -> None:
        self.kind = kind
        self.otel_kind = otel_kind
        self.name = name
        self.span_name = span_name
        self.attributes = attributes
        self.capture = capture
        # capture=False on a decorator also silences the model calls made inside it
        self.quiet = not capture and kind in _OPERATION
        self.params = params
        self.start = start
        self.varargs = varargs

    @classmethod
    def for_span(cls, name: str, attributes: dict[str, Any]) -> Spec:
        attributes[semconv.HOPTRACE_KIND] = "span"
        return cls("span", name, name, attributes, capture=False)

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Arguments by parameter name (without `self`/`cls`), cheaper than `Signature.bind`."""
        names = self.params
        n = len(names)
        out: dict[str, Any] = {names[i]: args[i] for i in range(self.start, min(len(args), n))}
        if len(args) > n:
            out[self.varargs] = args[max(n, self.start) :]
        if kwargs:
            out.update(kwargs)
        return out

    def iter_values(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Iterator[tuple[str, Any]]:
        """(argument label, value) for every argument and one level inside list/tuple/dict."""
        for name, value in self.bind(args, kwargs).items():
            yield name, value
            if isinstance(value, (list, tuple)):
                for i, item in enumerate(value[:1000]):
                    yield f"{name}[{i}]", item
            elif isinstance(value, dict):
                for j, (key, item) in enumerate(value.items()):
                    if j >= 1000:
                        break
                    yield f"{name}[{key!r}]", item


def make_spec(
    kind: str,
    func: Callable[..., Any],
    name: str | None,
    capture: bool,
    *,
    model: str | None = None,
    role: str | None = None,
) -> Spec:
    """Build the decoration-time description of `func`'s spans."""
    target = func.__func__ if isinstance(func, (classmethod, staticmethod)) else func
    if not callable(target):
        raise TypeError(f"@{kind} needs a function, got {type(func).__name__}")
    name = name or getattr(target, "__name__", None) or type(target).__name__
    attributes: dict[str, Any] = {
        semconv.GEN_AI_OPERATION_NAME: _OPERATION[kind],
        semconv.HOPTRACE_KIND: kind,
    }
    if kind == "agent":
        attributes[semconv.GEN_AI_AGENT_NAME] = name
        if model:
            attributes[semconv.GEN_AI_REQUEST_MODEL] = model
        if role:
            attributes[semconv.AGENT_ROLE] = role
    elif kind == "tool":
        attributes[semconv.GEN_AI_TOOL_NAME] = name
    else:
        attributes[semconv.GEN_AI_WORKFLOW_NAME] = name
    params: list[str] = []
    varargs = "args"
    try:
        for p in inspect.signature(target).parameters.values():
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                params.append(p.name)
            elif p.kind == p.VAR_POSITIONAL:
                varargs = p.name
    except (TypeError, ValueError):
        pass  # builtins without a signature: arguments are previewed under "args"
    # `self`/`cls` would make every method's preview a dump of the instance.
    start = 1 if params and params[0] in ("self", "cls") else 0
    return Spec(
        kind,
        name,
        f"{_OPERATION[kind]} {name}",
        attributes,
        capture,
        tuple(params),
        start,
        varargs,
    )


@contextlib.contextmanager
def _sample_cm() -> Iterator[None]:
    yield


@contextlib.asynccontextmanager
async def _sample_acm() -> AsyncIterator[None]:
    yield


# Every @contextmanager/@asynccontextmanager result shares its helper's code object.
_CM_CODES = (_sample_cm.__code__, _sample_acm.__code__)


def wrap(owner: Hoptrace, func: F, spec: Spec) -> F:
    """The traced replacement for `func` (keeps classmethod/staticmethod wrapping)."""
    if isinstance(func, (classmethod, staticmethod)):
        return cast(F, type(func)(wrap(owner, func.__func__, spec)))
    if getattr(func, "__code__", None) in _CM_CODES:
        # Above @contextmanager the span would cover only creating the context
        # manager, not the `with` body: almost certainly not what was meant.
        warnings.warn(
            f"@{spec.kind} is applied on top of @contextmanager for {spec.name!r}: the span "
            "covers only the creation of the context manager. Put @contextmanager "
            f"above @{spec.kind} to trace the generator's body.",
            stacklevel=3,
        )
    if inspect.isasyncgenfunction(func):
        wrapper: Callable[..., Any] = _async_gen_wrapper(owner, func, spec)
    elif inspect.iscoroutinefunction(func):
        wrapper = _async_wrapper(owner, func, spec)
    elif inspect.isgeneratorfunction(func):
        wrapper = _gen_wrapper(owner, func, spec)
    else:
        wrapper = _sync_wrapper(owner, func, spec)
    wrapper = functools.wraps(func)(wrapper)
    wrapper.__hoptrace_name__ = spec.name  # type: ignore[attr-defined]
    return cast(F, wrapper)


def _hooks(owner: Hoptrace, spec: Spec) -> tuple[Any, Any, Any, bool]:
    """The bound methods a wrapper calls, looked up once at decoration time, not per call."""
    return owner._enter, owner._exit_ok, owner._exit_error, spec.capture


def _sync_wrapper(owner: Hoptrace, func: Callable[..., Any], spec: Spec) -> Callable[..., Any]:
    enter, exit_ok, exit_error, capture = _hooks(owner, spec)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        frame = enter(spec, args, kwargs)
        if frame is None:
            return func(*args, **kwargs)
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            exit_error(frame, exc)
            raise  # the same object, with the user's traceback
        exit_ok(frame, result, capture)
        return result

    return wrapper


def _async_wrapper(owner: Hoptrace, func: Callable[..., Any], spec: Spec) -> Callable[..., Any]:
    enter, exit_ok, exit_error, capture = _hooks(owner, spec)

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        frame = enter(spec, args, kwargs)
        if frame is None:
            return await func(*args, **kwargs)
        try:
            result = await func(*args, **kwargs)
        except BaseException as exc:
            exit_error(frame, exc)
            raise
        exit_ok(frame, result, capture)
        return result

    return wrapper


def _gen_wrapper(owner: Hoptrace, func: Callable[..., Any], spec: Spec) -> Callable[..., Any]:
    enter, exit_ok, exit_error, capture = _hooks(owner, spec)

    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        frame = enter(spec, args, kwargs)
        if frame is None:
            return (yield from func(*args, **kwargs))
        # The span's context is attached only while the generator body runs:
        # the consumer's code between two items must not see it as current.
        ctx = otel_context.get_current()
        items: list[Any] = []
        sent: Any = None
        thrown: BaseException | None = None
        try:
            gen = func(*args, **kwargs)
            while True:
                try:
                    if thrown is None:
                        item = gen.send(sent)
                    else:
                        item, thrown = gen.throw(thrown), None
                except StopIteration as stop:
                    exit_ok(frame, items, capture)
                    return stop.value
                otel_context.detach(frame.token)  # type: ignore[arg-type]
                if len(items) < GENERATOR_PREVIEW_ITEMS:
                    items.append(item)
                try:
                    sent = yield item
                except GeneratorExit:
                    frame.token = otel_context.attach(ctx)
                    gen.close()
                    raise
                except BaseException as exc:
                    thrown, sent = exc, None
                frame.token = otel_context.attach(ctx)
        except BaseException as exc:
            exit_error(frame, exc)
            raise

    return wrapper


def _async_gen_wrapper(owner: Hoptrace, func: Callable[..., Any], spec: Spec) -> Callable[..., Any]:
    enter, exit_ok, exit_error, capture = _hooks(owner, spec)

    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        frame = enter(spec, args, kwargs)
        if frame is None:
            async for item in func(*args, **kwargs):
                yield item
            return
        ctx = otel_context.get_current()
        items: list[Any] = []
        sent: Any = None
        thrown: BaseException | None = None
        try:
            agen = func(*args, **kwargs)
            while True:
                try:
                    if thrown is None:
                        item = await agen.asend(sent)
                    else:
                        item, thrown = await agen.athrow(thrown), None
                except StopAsyncIteration:
                    exit_ok(frame, items, capture)
                    return
                otel_context.detach(frame.token)  # type: ignore[arg-type]
                if len(items) < GENERATOR_PREVIEW_ITEMS:
                    items.append(item)
                try:
                    sent = yield item
                except GeneratorExit:
                    frame.token = otel_context.attach(ctx)
                    await agen.aclose()
                    raise
                except BaseException as exc:
                    thrown, sent = exc, None
                frame.token = otel_context.attach(ctx)
        except BaseException as exc:
            exit_error(frame, exc)
            raise

    return wrapper
