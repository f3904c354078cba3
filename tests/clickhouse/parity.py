"""Row-by-row comparison of a DuckDB store's views with a ClickHouse store's."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import collector
from collector.clickhouse import ClickHouseStore, as_string
from collector.schema import VIEW_NAMES

# the time each store wrote a span: the ClickHouse side's is its derive pass's
NOT_COMPARED = {"ingested_ns"}
JSON_COLUMNS = {"attributes", "events", "links", "resource"}
CORE_VIEWS = ("spans", "runs", "agents", "handoffs", "llm_calls", "errors")


def _as_stored(attrs: Any) -> Any:
    """An attribute map with every value as otel_traces stores it (a string)."""
    return {k: as_string(v) for k, v in attrs.items()} if isinstance(attrs, dict) else attrs


def _norm(column: str, value: Any, lossy: bool) -> Any:
    if value is None:
        return None
    if column in JSON_COLUMNS:
        parsed = json.loads(value) if isinstance(value, str) else value
        if lossy and column in ("attributes", "resource"):
            parsed = _as_stored(parsed)
        elif lossy and isinstance(parsed, list):  # events, links: their attribute maps
            parsed = [{**x, "attributes": _as_stored(x.get("attributes") or {})} for x in parsed]
        return json.dumps(parsed, sort_keys=True)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc)
        return value.replace(tzinfo=None)
    if isinstance(value, float):
        return round(value, 9)
    return value


def _rows(table: Any, lossy: bool) -> tuple[list[str], list[tuple[Any, ...]]]:
    names = list(table.column_names)
    cols = [table.column(i).to_pylist() for i in range(table.num_columns)]
    keep = [i for i, n in enumerate(names) if n not in NOT_COMPARED]
    rows = [tuple(_norm(names[i], r[i], lossy) for i in keep) for r in zip(*cols, strict=True)]
    return [names[i] for i in keep], sorted(rows, key=repr)


def view_rows(db: Path, store: ClickHouseStore, view: str, lossy: bool) -> tuple[Any, Any]:
    """(columns, rows) of `view` in the DuckDB file and in the ClickHouse store."""
    duck = collector.query(f"SELECT * FROM {view}", db).to_arrow()
    return _rows(duck, lossy), _rows(store.query(f"SELECT * FROM {view}"), lossy)


def assert_same_views(db: Path, store: ClickHouseStore, *, lossy: bool = False) -> dict[str, int]:
    """Every view equal in both stores; returns the row count per view.

    `lossy`: compare the raw attribute maps as otel_traces stores them (every value a
    string), for traces whose attribute types the standard table cannot carry (a string
    "429", a map value); every promoted and derived column is still compared exactly.
    """
    assert not set(CORE_VIEWS) & set(store.skipped_views), store.skipped_views
    counts = {}
    for view in VIEW_NAMES:
        if view in store.skipped_views:
            continue
        (dcols, drows), (ccols, crows) = view_rows(db, store, view, lossy)
        assert ccols == dcols, view
        for d, c in zip(drows, crows, strict=False):
            assert c == d, (
                view,
                [(n, a, b) for n, a, b in zip(dcols, d, c, strict=True) if a != b],
            )
        assert len(crows) == len(drows), view
        counts[view] = len(drows)
    return counts


# statements `hoptrace sql` must refuse on a ClickHouse store (embedded and server path)
WRITES = [
    "INSERT INTO otel_traces (TraceId) VALUES ('x')",
    "DROP TABLE otel_traces",
    "SELECT 1; DROP TABLE otel_traces",
    "SELECT * FROM file('/etc/passwd', 'CSV')",
    "SELECT * FROM url('http://127.0.0.1:9/x', 'CSV')",
    "SELECT 1 SETTINGS readonly = 0",
    "SELECT * FROM (SELECT * FROM file('/etc/passwd', 'CSV'))",
    "SET readonly = 0",
    "CREATE TABLE t (a Int32) ENGINE = Memory",
]


def record_demo(db: Path, batch: str, **config: Any) -> None:
    """The demo's runs (offline, DemoConfig's `config`), recorded into DuckDB by the tracer."""
    import asyncio

    from opentelemetry.sdk.trace import TracerProvider

    import tracer
    from collector import DuckDBSpanExporter
    from sample_pipelines.demo import DemoConfig, run_demo
    from tracer.testing import capture_spans

    provider = TracerProvider()
    provider.add_span_processor(tracer.span_processor(DuckDBSpanExporter(db=db)))
    with capture_spans():
        tracer.configure(tracer_provider=provider)
        try:
            asyncio.run(run_demo(DemoConfig(**config), batch=batch))
            tracer.flush()
        finally:
            provider.shutdown()
