"""Per-span and per-run bookkeeping, carried as one OTel Context value.

Keeping it in the OTel Context (not in module globals or thread-locals) is what
lets `opentelemetry-instrumentation-threading`, `asyncio` tasks and
`asyncio.to_thread` carry hoptrace's notion of "current agent" and "current run"
exactly as they carry the current span.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry.trace import Span, SpanContext

if TYPE_CHECKING:
    from ._hoptrace import Hoptrace

logger = logging.getLogger("hoptrace")

FRAME_KEY = otel_context.create_key("hoptrace-frame")

REGISTRY_LIMIT = 1024
"""Agent return values remembered per run for data-flow handoffs (oldest dropped first)."""
MIN_TRACKED_STR = 16
"""Strings/bytes shorter than this are not tracked: short strings are often interned
(or shared constants), so identity would link unrelated agents."""

_logged: set[str] = set()
_logged_lock = threading.Lock()


def log_once(kind: str, exc: BaseException | None = None) -> None:
    """Log an internal hoptrace failure once per kind; never raises."""
    try:
        # Keyed by the failure's kind and exception type: a second, different
        # problem at the same place still gets its one log line.
        key = kind if exc is None else f"{kind}/{type(exc).__qualname__}"
        with _logged_lock:
            if key in _logged:
                return
            _logged.add(key)
        logger.warning("hoptrace: %s (further occurrences are not logged)", kind, exc_info=exc)
    except Exception:  # logging itself failed: nothing sensible left to do
        pass


class Producer:
    """Who produced a value: the agent span it was returned from."""

    __slots__ = ("agent", "context", "span_id")

    def __init__(self, agent: str, span_context: SpanContext, span_id: str) -> None:
        self.agent = agent
        self.context = span_context
        self.span_id = span_id


_RUN_LOCK = threading.Lock()
"""Guards the multi-step updates of every run's containers (short, rare sections)."""


class Run:
    """State shared by every span of one pipeline run (the hoptrace root and below)."""

    __slots__ = ("explicit", "registry", "rejections", "root")

    lock = _RUN_LOCK  # one lock for all runs: created per run it would cost every root span

    def __init__(self, root: Span) -> None:
        self.root = root
        # id(value) -> (value, producer); the value is held so its id is not reused.
        # Insertion-ordered, so the oldest entry is evicted first.
        self.registry: dict[int, tuple[Any, Producer]] = {}
        # receiving agent name -> explicit handoffs waiting for it
        self.explicit: dict[str, list[tuple[str, Producer, str | None]]] = {}
        # (rejecting frame, producer span id)
        self.rejections: list[tuple[Frame, str]] = []

    def remember(self, value: object, producer: Producer) -> None:
        """Register an agent's return value for data-flow handoff detection."""
        if not trackable(value):
            return
        with self.lock:
            self.registry[id(value)] = (value, producer)
            if len(self.registry) > REGISTRY_LIMIT:
                del self.registry[next(iter(self.registry))]

    def producer_of(self, value: object) -> Producer | None:
        entry = self.registry.get(id(value))
        if entry is not None and entry[0] is value:
            return entry[1]
        return None

    def close(self) -> None:
        # The run is over: drop the strong references to agents' return values.
        if self.registry or self.explicit or self.rejections:
            with self.lock:
                self.registry.clear()
                self.explicit.clear()
                self.rejections.clear()


def trackable(value: object) -> bool:
    """Whether a value's identity is meaningful enough to link producer and consumer."""
    if value is None or isinstance(value, (bool, int, float, complex)):
        return False
    if isinstance(value, (str, bytes)):
        return len(value) >= MIN_TRACKED_STR
    # the empty tuple/frozenset are singletons
    return not (isinstance(value, (tuple, frozenset)) and not value)


class Frame:
    """One hoptrace span in flight."""

    __slots__ = (
        "_agent",
        "_span_id",
        "errors",
        "kind",
        "name",
        "owner",
        "parent",
        "quiet",
        "run",
        "span",
        "token",
    )

    def __init__(
        self,
        owner: Hoptrace,
        span: Span,
        kind: str,
        name: str,
        parent: Frame | None,
        run: Run,
        quiet: bool = False,
    ) -> None:
        self.owner = owner
        self.span = span
        self.kind = kind
        self.name = name
        self.parent = parent
        self.run = run
        # No model-call content below a `capture=False` agent/tool/workflow. Kept on the
        # frame (so in the OTel Context) rather than in a contextvar of its own: it then
        # follows threads and tasks exactly as the current agent does.
        self.quiet: bool = quiet or (parent is not None and parent.quiet)
        # The nearest enclosing agent frame. An agent's own frame is not stored
        # in itself: that self-reference would make every agent frame (and the
        # span it holds) cyclic garbage, freed only by the cycle collector.
        self._agent: Frame | None = None if kind == "agent" or parent is None else parent.agent
        self.errors: list[tuple[str, str, str]] | None = None
        self.token: object = None
        self._span_id: str | None = None

    @property
    def agent(self) -> Frame | None:
        """This frame if it is an agent's, else the nearest enclosing agent frame."""
        return self if self.kind == "agent" else self._agent

    @property
    def span_id(self) -> str:
        """Hex span id, computed on first use (most frames never need it)."""
        if self._span_id is None:
            self._span_id = format(self.span.get_span_context().span_id, "016x")
        return self._span_id

    def saw_error(self, origin_span_id: str, exc: BaseException) -> None:
        """A child span failed with an error originating at `origin_span_id`."""
        entry = (origin_span_id, type(exc).__name__, _message(exc))
        with Run.lock:  # children in several threads may fail at once
            if self.errors is None:
                self.errors = []
            if all(seen[0] != origin_span_id for seen in self.errors):
                self.errors.append(entry)

    def is_within(self, other: Frame) -> bool:
        """True if this frame is `other` or one of its descendants."""
        node: Frame | None = self
        while node is not None:
            if node is other:
                return True
            node = node.parent
        return False


def _message(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:
        return f"<{type(exc).__name__}>"
    return text if len(text) <= 1000 else text[:1000] + "…"


def current_frame() -> Frame | None:
    """The innermost hoptrace frame in the current OTel Context."""
    value = otel_context.get_current().get(FRAME_KEY)
    return value if isinstance(value, Frame) else None
