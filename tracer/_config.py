"""Settings and the default sink (DuckDB file or OTLP/HTTP endpoint)."""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter

from ._pending import PendingSpanProcessor
from ._state import log_once

OTLP_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
OTLP_TRACES_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
DEFAULT_SERVICE_NAME = "hoptrace"


@dataclass(frozen=True)
class Settings:
    """Everything `configure()` accepts, validated."""

    db: str | Path | None = None
    endpoint: str | None = None
    service_name: str | None = None
    capture: bool = True
    max_preview_bytes: int = 4096
    redact: bool = True
    extra_redact_keys: tuple[str, ...] = field(default_factory=tuple)
    tracer_provider: trace.TracerProvider | None = None
    instrument_threads: bool = True
    instrument_litellm: bool = True
    set_global_provider: bool = True


def traces_url(endpoint: str) -> str:
    """OTLP/HTTP traces URL for a base endpoint, as the OTel env-var rules say.

    A base URL (`http://host:4318`) gets `/v1/traces` appended; a URL that
    already ends in `/v1/traces` is used as is.
    """
    endpoint = endpoint.rstrip("/")
    if endpoint.endswith("/v1/traces"):
        return endpoint
    return endpoint + "/v1/traces"


def resolve_endpoint(settings: Settings) -> str | None:
    """Where to send spans over OTLP/HTTP, or None for the embedded DuckDB sink."""
    if settings.endpoint:
        return traces_url(settings.endpoint)
    per_signal = os.environ.get(OTLP_TRACES_ENDPOINT_ENV)
    if per_signal:
        return per_signal  # the per-signal variable is used verbatim
    base = os.environ.get(OTLP_ENDPOINT_ENV)
    if base:
        return traces_url(base)
    return None


def make_exporter(settings: Settings) -> SpanExporter | None:
    """The default sink's exporter; None (logged) if it cannot be built."""
    url = resolve_endpoint(settings)
    try:
        if url is not None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            return OTLPSpanExporter(endpoint=url)
        # Lazy: the collector pulls in DuckDB and Arrow, which `import tracer` must not.
        from collector import DuckDBSpanExporter

        exporter: SpanExporter = DuckDBSpanExporter(settings.db)
        return exporter
    except Exception as exc:
        log_once("could not create the default span exporter; spans are not stored", exc)
        return None


def service_name(settings: Settings) -> str:
    return settings.service_name or os.environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME


def existing_sdk_provider() -> trace.TracerProvider | None:
    """The application's global provider, unless it is still OTel's default proxy."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider):
        return None
    return provider


_created: weakref.WeakSet[trace.TracerProvider] = weakref.WeakSet()
"""Providers hoptrace created (told apart from ones the application installed)."""


def build_provider(settings: Settings) -> tuple[trace.TracerProvider, bool]:
    """The provider hoptrace should use, and whether hoptrace created (owns) it.

    Order: an injected provider; else an SDK provider the application already
    installed globally (used as is, never replaced or given exporters); else a
    new provider with the pending-span processor over the default sink,
    installed as the global provider (when none is set yet) so other OTel
    instrumentations in the process join the same traces.
    """
    if settings.tracer_provider is not None:
        return settings.tracer_provider, False
    existing = existing_sdk_provider()
    if existing is not None and existing not in _created:
        return existing, False
    provider = TracerProvider(resource=Resource.create({"service.name": service_name(settings)}))
    _created.add(provider)
    exporter = make_exporter(settings)
    if exporter is not None:
        if resolve_endpoint(settings) is None:
            # the embedded store: export() only stages in memory, so a burst outruns
            # OTel's BatchSpanProcessor, which then drops; this one waits (bounded)
            from ._batching import WaitingBatchProcessor
            from ._pending import RemovePendingExporter

            inner = WaitingBatchProcessor(RemovePendingExporter(exporter))
            provider.add_span_processor(PendingSpanProcessor(inner))
        else:
            provider.add_span_processor(PendingSpanProcessor(exporter))
    if existing is not None:
        # The global provider is one hoptrace made for an earlier configuration
        # (OTel allows setting it once): honour the new settings with a
        # provider of hoptrace's own instead of silently reusing the old sink.
        return provider, True
    if settings.set_global_provider:
        trace.set_tracer_provider(provider)
        if trace.get_tracer_provider() is not provider:
            # Lost a race with another installer: use theirs, drop ours.
            provider.shutdown()
            return trace.get_tracer_provider(), False
    return provider, True


_threading_done = False


def instrument_threads() -> None:
    """Carry the OTel Context (and so hoptrace's state) into threads and executors."""
    global _threading_done  # one process-wide switch: the instrumentor patches stdlib classes
    if _threading_done:
        return
    _threading_done = True
    try:
        from opentelemetry.instrumentation.threading import ThreadingInstrumentor

        instrumentor = ThreadingInstrumentor()
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(skip_dep_check=True)
    except Exception as exc:
        log_once("could not instrument threading; spans in threads may lose their parent", exc)
