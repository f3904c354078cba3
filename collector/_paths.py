"""Where the store lives: the one default every hoptrace part uses (stdlib only, import-light)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "DB_ENV",
    "DEFAULT_DB_NAME",
    "STORE_URL_SCHEMES",
    "is_store_url",
    "resolve_db",
    "resolve_store",
]

DB_ENV: str = "HOPTRACE_DB"
DEFAULT_DB_NAME: str = "hoptrace.duckdb"
STORE_URL_SCHEMES: tuple[str, ...] = ("chdb://", "clickhouse://", "clickhouses://")
"""A `--db` / `--store` value with one of these prefixes names a ClickHouse store
(collector.clickhouse), anything else a DuckDB file."""


def is_store_url(db: object) -> bool:
    """Whether `db` names a ClickHouse store rather than a DuckDB file."""
    return isinstance(db, str) and db.startswith(STORE_URL_SCHEMES)


def resolve_store(db: str | Path | None = None) -> str | Path:
    """The store to use: `db`, else `$HOPTRACE_DB`, else ./hoptrace.duckdb; a ClickHouse
    store URL as the string it is (a Path would fold its `//`), a DuckDB file as a Path."""
    given: str | Path = (
        db if db is not None and str(db) != "" else (os.environ.get(DB_ENV) or DEFAULT_DB_NAME)
    )
    return given if is_store_url(given) else Path(given)


def resolve_db(db: str | Path | None = None) -> Path:
    """The DuckDB file to use: `db`, else `$HOPTRACE_DB`, else ./hoptrace.duckdb.

    Raises ValueError when that names a ClickHouse store: the caller needs a file.
    """
    store = resolve_store(db)
    if isinstance(store, str):
        raise ValueError(f"{store.split('@')[-1]} is a ClickHouse store; this needs a DuckDB file")
    return store
