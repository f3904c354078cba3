"""Environment defaults shared by the tracer, the collector and the CLI (kept import-light)."""

from __future__ import annotations

import os
from pathlib import Path

DB_ENV: str = "HOPTRACE_DB"
DEFAULT_DB_NAME: str = "hoptrace.duckdb"


def default_db_path() -> Path:
    """The DuckDB file every part uses unless told otherwise: `$HOPTRACE_DB` or `./hoptrace.duckdb`."""
    return Path(os.environ.get(DB_ENV) or DEFAULT_DB_NAME)
