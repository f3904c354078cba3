"""Where the store lives: the one default every hoptrace part uses (stdlib only, import-light)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DB_ENV", "DEFAULT_DB_NAME", "resolve_db"]

DB_ENV: str = "HOPTRACE_DB"
DEFAULT_DB_NAME: str = "hoptrace.duckdb"


def resolve_db(db: str | Path | None = None) -> Path:
    """The database path to use: `db`, else `$HOPTRACE_DB`, else ./hoptrace.duckdb."""
    if db is not None and str(db) != "":
        return Path(db)
    return Path(os.environ.get(DB_ENV) or DEFAULT_DB_NAME)
