"""Row-by-row comparison of a DuckDB store's views with a ClickHouse store's."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import collector
from collector.clickhouse import ClickHouseStore
from collector.schema import VIEW_NAMES

# the time each store wrote a span: the ClickHouse side's is its derive pass's
NOT_COMPARED = {"ingested_ns"}
JSON_COLUMNS = {"attributes", "events", "links", "resource"}


def _norm(column: str, value: Any) -> Any:
    if value is None:
        return None
    if column in JSON_COLUMNS:
        return json.dumps(json.loads(value) if isinstance(value, str) else value, sort_keys=True)
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None) if value.tzinfo is None else value.astimezone(
            dt.timezone.utc).replace(tzinfo=None)  # fmt: skip
    if isinstance(value, float):
        return round(value, 9)
    return value


def _rows(table: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
    names = list(table.column_names)
    cols = [table.column(i).to_pylist() for i in range(table.num_columns)]
    keep = [i for i, n in enumerate(names) if n not in NOT_COMPARED]
    rows = [tuple(_norm(names[i], r[i]) for i in keep) for r in zip(*cols, strict=True)]
    return [names[i] for i in keep], sorted(rows, key=repr)


def view_rows(db: Path, store: ClickHouseStore, view: str) -> tuple[Any, Any]:
    """(columns, rows) of `view` in the DuckDB file and in the ClickHouse store."""
    duck = collector.query(f"SELECT * FROM {view}", db).to_arrow()
    return _rows(duck), _rows(store.query(f"SELECT * FROM {view}"))


def assert_same_views(db: Path, store: ClickHouseStore) -> dict[str, int]:
    """Every view equal in both stores; returns the row count per view."""
    counts = {}
    for view in VIEW_NAMES:
        (dcols, drows), (ccols, crows) = view_rows(db, store, view)
        assert ccols == dcols, view
        for d, c in zip(drows, crows, strict=False):
            assert c == d, (
                view,
                [(n, a, b) for n, a, b in zip(dcols, d, c, strict=True) if a != b],
            )
        assert len(crows) == len(drows), view
        counts[view] = len(drows)
    return counts
