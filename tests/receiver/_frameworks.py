"""Shared pieces of the framework tests: a receiver writing to a real store, helpers."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from collector import query


def provider_to(endpoint: str, service: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    # one request per span: children arrive before their parents, as with any SimpleSpanProcessor
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint, compression=Compression.Gzip))
    )
    return provider


def rows(db: Path, sql: str) -> list[dict]:
    return query(sql, db=db).to_dicts()


def price(db: Path, model: str) -> tuple[float, float]:
    row = rows(
        db,
        f"SELECT input_cost_per_token AS i, output_cost_per_token AS o FROM model_prices WHERE model = '{model}'",
    )[0]
    return row["i"], row["o"]
