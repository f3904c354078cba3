"""Where the store lives: the one default every hoptrace part uses (stdlib only, import-light)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DB_ENV", "DEFAULT_DB_NAME", "STORE_URL_SCHEMES", "is_store_url", "resolve_db"]

DB_ENV: str = "HOPTRACE_DB"
DEFAULT_DB_NAME: str = "hoptrace.duckdb"
STORE_URL_SCHEMES: tuple[str, ...] = ("chdb://", "clickhouse://", "clickhouses://")
"""A `--db` / `--store` value with one of these prefixes names a ClickHouse store
(collector.clickhouse), anything else a DuckDB file."""


def is_store_url(db: object) -> bool:
    """Whether `db` names a ClickHouse store rather than a DuckDB file."""
    return isinstance(db, str) and db.startswith(STORE_URL_SCHEMES)


def resolve_db(db: str | Path | None = None) -> Path:
    """The database path to use: `db`, else `$HOPTRACE_DB`, else ./hoptrace.duckdb."""
    if db is not None and str(db) != "":
        return Path(db)
    return Path(os.environ.get(DB_ENV) or DEFAULT_DB_NAME)
