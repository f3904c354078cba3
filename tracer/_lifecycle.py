"""Configuration and lifetime of a `Hoptrace` instance: provider setup, flush, shutdown."""

from __future__ import annotations

import atexit
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from opentelemetry import trace

from ._capture import Previewer
from ._config import Settings, build_provider, instrument_threads
from ._redact_messages import (
    MAX_CONTENT_CHARS,
    MAX_PART_CHARS,
    Content,
    MessageCaps,
    content_switch_on,
)
from ._state import Frame, log_once
from ._version import __version__

# everything configure() sets: what `tracer.testing` saves and puts back
_CONFIG_FIELDS = (
    "_settings",
    "_previewer",
    "_capture",
    "_message_caps",
    "_tracer",
    "_provider",
    "_owns_provider",
)


class Lifecycle:
    """The configurable part of `Hoptrace` (kept apart from the hot path)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._settings = Settings()
        self._previewer = Previewer()
        self._capture = True
        self._message_caps = MessageCaps()
        self._tracer: trace.Tracer | None = None
        self._provider: trace.TracerProvider | None = None
        self._owns_provider = False
        self._atexit_registered = False
        self._next_run_attributes: dict[str, Any] = {}

    # --- configuration -----------------------------------------------------

    def configure(
        self,
        db: str | Path | None = None,
        endpoint: str | None = None,
        service_name: str | None = None,
        capture: bool = True,
        max_preview_bytes: int = 4096,
        redact: bool = True,
        extra_redact_keys: Iterable[str] = (),
        tracer_provider: trace.TracerProvider | None = None,
        instrument_threads: bool = True,
        instrument_litellm: bool = True,
        set_global_provider: bool = True,
        max_message_part_chars: int = MAX_PART_CHARS,
        max_message_chars: int = MAX_CONTENT_CHARS,
        message_caps: Mapping[str, tuple[int, int]] | None = None,
    ) -> None:
        """Set where spans go and what they capture. Optional: the first traced call configures defaults.

        Args:
            db: DuckDB file of the embedded sink (default `$HOPTRACE_DB` or `./hoptrace.duckdb`).
            endpoint: Send OTLP/HTTP (protobuf) here instead, e.g. `http://127.0.0.1:4318`
                (`/v1/traces` is appended to a base URL). Default: `$OTEL_EXPORTER_OTLP_ENDPOINT`.
            service_name: `service.name` of the resource (default `$OTEL_SERVICE_NAME` or "hoptrace").
            capture: Record argument and return-value previews and model-call content
                (per decorator or `llm_call`: `capture=False`).
            max_preview_bytes: Cap on each preview's JSON text.
            redact: Redact API-key-like strings and values under secret-looking keys.
            extra_redact_keys: More key substrings whose values are redacted.
            tracer_provider: Use this provider (nothing is added to it, nothing installed globally).
            instrument_threads: Propagate context into threads/executors
                (`opentelemetry-instrumentation-threading`).
            instrument_litellm: Trace litellm `completion`/`acompletion` as `chat {model}` spans.
            set_global_provider: When hoptrace creates the provider, install it as the global one
                so other OTel instrumentations join the same traces.
            max_message_part_chars: Model-call content: cap on one text part (a prompt, a reply).
            max_message_chars: Model-call content: cap on all the text of one call together.
            message_caps: Other caps per call kind (`gen_ai.operation.name`), e.g.
                `{"embeddings": (1024, 4096)}`: kind -> (max part chars, max call chars).

        Raises:
            ValueError: `max_preview_bytes` below 16, or a message cap below 1.
        """
        caps = MessageCaps.build(max_message_part_chars, max_message_chars, message_caps)
        previewer = Previewer(max_preview_bytes, redact, tuple(extra_redact_keys))
        settings = Settings(
            db=db,
            endpoint=endpoint,
            service_name=service_name,
            capture=capture,
            max_preview_bytes=max_preview_bytes,
            redact=redact,
            extra_redact_keys=tuple(extra_redact_keys),
            tracer_provider=tracer_provider,
            instrument_threads=instrument_threads,
            instrument_litellm=instrument_litellm,
            set_global_provider=set_global_provider,
        )
        with self._lock:
            old, owned = self._provider, self._owns_provider
            self._settings = settings
            self._previewer = previewer
            self._capture = capture
            self._message_caps = caps
            self._tracer = None
            self._provider = None
            if old is not None and owned and old is not trace.get_tracer_provider():
                _shutdown_quietly(old)
            self._setup()

    def _message_content(self, frame: Frame, operation: str, capture: bool = True) -> Content:
        """The content recorder of one model call: every switch and the caps of its kind."""
        enabled = capture and self._capture and not frame.quiet and content_switch_on()
        max_part, max_total = self._message_caps.for_kind(operation)
        return Content(self._previewer, enabled, max_part, max_total)

    def _snapshot(self) -> tuple[Any, ...]:
        """The whole configuration, for `tracer.testing` to restore afterwards."""
        with self._lock:
            return tuple(getattr(self, name) for name in _CONFIG_FIELDS)

    def _restore(self, snapshot: tuple[Any, ...]) -> None:
        with self._lock:
            for name, value in zip(_CONFIG_FIELDS, snapshot, strict=True):
                setattr(self, name, value)

    def _setup(self) -> trace.Tracer:
        with self._lock:
            if self._tracer is not None:
                return self._tracer
            settings = self._settings
            try:
                provider, owned = build_provider(settings)
            except Exception as exc:
                log_once("could not set up the tracer provider; tracing is off", exc)
                provider, owned = trace.NoOpTracerProvider(), False
            self._provider, self._owns_provider = provider, owned
            if settings.instrument_threads:
                instrument_threads()
            if settings.instrument_litellm:
                from ._litellm import install

                install()
            if not self._atexit_registered:
                atexit.register(self._at_exit)
                self._atexit_registered = True
            self._tracer = provider.get_tracer("hoptrace", __version__)
            return self._tracer

    @property
    def tracer_provider(self) -> trace.TracerProvider:
        """The provider this instance traces into (configuring defaults if needed)."""
        self._setup()
        assert self._provider is not None
        return self._provider

    def flush(self, timeout_millis: int = 30000) -> bool:
        """Export every finished span now. Returns False on timeout; never raises."""
        # Model-call spans end in the caller (see _litellm), so nothing is left
        # waiting in litellm's callback threads: flushing the provider suffices.
        provider = self._provider
        flush = getattr(provider, "force_flush", None)
        if flush is None:
            return True
        try:
            return bool(flush(timeout_millis))
        except Exception as exc:
            log_once("flush failed", exc)
            return False

    def shutdown(self) -> None:
        """Flush and, if hoptrace created the provider, shut it down. Never raises."""
        self.flush()
        with self._lock:
            provider, owned = self._provider, self._owns_provider
            self._tracer = None
            self._provider = None
        if provider is not None and owned:
            _shutdown_quietly(provider)

    def _at_exit(self) -> None:
        # Normal interpreter exit: nothing still queued may be lost.
        self.flush()


def _shutdown_quietly(provider: trace.TracerProvider) -> None:
    shutdown = getattr(provider, "shutdown", None)
    if shutdown is None:
        return
    try:
        shutdown()
    except Exception as exc:
        log_once("tracer provider shutdown failed", exc)
