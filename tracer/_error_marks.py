"""Where an exception started and how it travelled (hoptrace.error.*).

The first span that sees an exception is its origin; the exception object is
marked with that span's id. An ancestor that sees the same (marked) object is
a `propagated` span pointing at the origin; so is a span that raises a new
exception whose `__cause__`/`__context__` chain holds a marked one, or that
fails after it (or something it ran) `reject()`-ed another agent's output.

Every text of an exception that lands on a span (`hoptrace.error.message`, the
status description, the `exception` event's message and stack trace, the recovered
messages) is redacted like argument previews, and the recorded stack trace leaves
out hoptrace's own frames (its wrappers), so it starts at the user's code; the
exception object the user catches is not touched.
"""

from __future__ import annotations

import os
import traceback
from collections import OrderedDict
from threading import Lock

from opentelemetry.trace import Status, StatusCode

from . import semconv
from ._capture import redact_text
from ._state import Frame

_OWN_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep

_MARK = "__hoptrace_origin__"
# Exceptions that refuse attributes (rare: __slots__ subclasses) are remembered
# here instead, by id with a strong reference so the id cannot be reused.
_fallback: OrderedDict[int, tuple[BaseException, str]] = OrderedDict()
_fallback_lock = Lock()
_FALLBACK_LIMIT = 512
_CHAIN_LIMIT = 16


def origin_of(exc: BaseException) -> str | None:
    """The hex span id where `exc` was first recorded, if any."""
    mark = getattr(exc, _MARK, None)
    if isinstance(mark, str):
        return mark
    entry = _fallback.get(id(exc))
    if entry is not None and entry[0] is exc:
        return entry[1]
    return None


def mark(exc: BaseException, origin: str) -> None:
    """Remember that `exc` originated at span `origin` (never raises)."""
    try:
        setattr(exc, _MARK, origin)
        return
    except Exception:
        pass
    with _fallback_lock:
        _fallback[id(exc)] = (exc, origin)
        if len(_fallback) > _FALLBACK_LIMIT:
            _fallback.popitem(last=False)


def chained_origin(exc: BaseException) -> str | None:
    """Origin of a recorded exception this one was raised from or while handling.

    An exception group (e.g. from `asyncio.TaskGroup`) points at the first of
    its members that was recorded, preferring real failures over the
    cancellations the group caused in sibling tasks.
    """
    origin = _group_origin(exc)
    if origin is not None:
        return origin
    current: BaseException | None = exc
    for _ in range(_CHAIN_LIMIT):
        if current is None:
            return None
        current = current.__cause__ if current.__cause__ is not None else current.__context__
        if current is not None:
            origin = origin_of(current) or _group_origin(current)
            if origin is not None:
                return origin
    return None


def _group_origin(exc: BaseException) -> str | None:
    members = getattr(exc, "exceptions", None)
    if not isinstance(members, tuple):
        return None
    fallback: str | None = None
    for member in members[:_CHAIN_LIMIT]:
        if not isinstance(member, BaseException):
            continue
        origin = origin_of(member) or _group_origin(member)
        if origin is None:
            continue
        if type(member).__name__ != "CancelledError":
            return origin
        fallback = fallback or origin
    return fallback


def rejected_origin(frame: Frame) -> str | None:
    """Producer span of the latest rejection made by `frame` or something it ran."""
    rejections = frame.run.rejections
    for rejecting, producer_span_id in reversed(rejections):
        if rejecting.is_within(frame):
            return producer_span_id
    return None


def record_error(frame: Frame, exc: BaseException) -> None:
    """Set status, exception event, error.type and the hoptrace error role on `frame`."""
    span = frame.span
    origin = origin_of(exc)
    if origin is None:
        origin = chained_origin(exc) or rejected_origin(frame)
        if origin is None:
            origin = frame.span_id
            span.set_attribute(semconv.ERROR_ROLE, semconv.ROLE_ORIGIN)
        else:
            span.set_attribute(semconv.ERROR_ROLE, semconv.ROLE_PROPAGATED)
            span.set_attribute(semconv.ERROR_CAUSE_SPAN_ID, origin)
        mark(exc, origin)
    elif origin == frame.span_id:
        span.set_attribute(semconv.ERROR_ROLE, semconv.ROLE_ORIGIN)
    else:
        span.set_attribute(semconv.ERROR_ROLE, semconv.ROLE_PROPAGATED)
        span.set_attribute(semconv.ERROR_CAUSE_SPAN_ID, origin)
    error_type = type(exc).__name__
    redact = frame.owner._previewer.redact
    message = _message(exc, redact)
    span.set_attribute(semconv.ERROR_TYPE, error_type)
    span.set_attribute(semconv.ERROR_MESSAGE, message)
    span.add_event("exception", _exception_attributes(exc, message, redact))
    span.set_status(Status(StatusCode.ERROR, f"{error_type}: {message}" if message else error_type))
    parent = frame.parent
    if parent is not None:
        parent.saw_error(origin, exc)


def record_recovered(frame: Frame) -> None:
    """Mark a span that completed normally after catching errors from its children."""
    errors = frame.errors
    if not errors:
        return
    span = frame.span
    span.set_attribute(semconv.ERROR_ROLE, semconv.ROLE_RECOVERED)
    span.set_attribute(semconv.RECOVERED_SPAN_IDS, [e[0] for e in errors])
    span.set_attribute(semconv.RECOVERED_TYPES, [e[1] for e in errors])
    redact = frame.owner._previewer.redact
    messages = [redact_text(e[2]) if redact else e[2] for e in errors]
    span.set_attribute(semconv.RECOVERED_MESSAGES, messages)
    span.set_status(Status(StatusCode.OK))


def _message(exc: BaseException, redact: bool = True) -> str:
    try:
        text = str(exc)
    except Exception:
        return f"<{type(exc).__name__}: str() failed>"
    text = text if len(text) <= 2000 else text[:2000] + "…"
    return redact_text(text) if redact else text


def _exception_attributes(exc: BaseException, message: str, redact: bool) -> dict[str, str]:
    """What `Span.record_exception` records, redacted and without hoptrace's frames."""
    module = type(exc).__module__
    qualname = type(exc).__qualname__
    return {
        "exception.type": f"{module}.{qualname}" if module and module != "builtins" else qualname,
        "exception.message": message,
        "exception.stacktrace": user_stacktrace(exc, redact),
        "exception.escaped": "False",
    }


def user_stacktrace(exc: BaseException, redact: bool = True) -> str:
    """The formatted traceback of `exc` (with its chain) minus frames inside `tracer/`."""
    try:
        te = traceback.TracebackException.from_exception(exc, capture_locals=False)
        seen: set[int] = set()
        stack: list[traceback.TracebackException] = [te]
        while stack:  # the __cause__ / __context__ chain and exception-group members
            node = stack.pop()
            if id(node) in seen or len(seen) > _CHAIN_LIMIT * 4:
                continue
            seen.add(id(node))
            frames = [f for f in node.stack if not f.filename.startswith(_OWN_DIR)]
            node.stack = traceback.StackSummary.from_list(frames)
            stack += [n for n in (node.__cause__, node.__context__) if n is not None]
            stack += getattr(node, "exceptions", None) or []
        text = "".join(te.format())
    except Exception:
        text = "".join(traceback.format_exception(exc))
    return redact_text(text) if redact else text
