"""The sandboxed read-only runner: the one way SQL given by a person or a program is run."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from collector._paths import resolve_db
from collector.store import (
    READ_TIMEOUT_S,
    SchemaVersionError,
    StoreBusyError,
    StoreNotFoundError,
    is_lock_conflict,
    path_lock,
    read_connection,
)

if TYPE_CHECKING:
    import polars as pl


def query(
    sql: str, db: str | Path | None = None, params: list[Any] | dict[str, Any] | None = None
) -> pl.DataFrame:
    """Run one read-only SQL query against the store and return a polars DataFrame."""
    import polars as pl

    with read_connection(db) as conn:
        table = conn.sql(sql, params=params).to_arrow_table()
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


@contextlib.contextmanager
def sandboxed_read_connection(
    db: str | Path | None = None, timeout: float = READ_TIMEOUT_S
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Like `read_connection`, for untrusted SQL: external access off, configuration locked.

    A separate DuckDB instance (the shared host attaches files, which needs external
    access), so it costs one instance start (~25 ms); used by `hoptrace sql`.
    """
    path = resolve_db(db)
    if not path.exists():
        raise StoreNotFoundError(
            f"no hoptrace database at {path} (run a traced program or `hoptrace demo` "
            "first, or pass --db / set $HOPTRACE_DB)"
        )
    config: dict[str, str | bool | int | float | list[str]] = {
        "enable_external_access": False,
        "autoload_known_extensions": False,
        "autoinstall_known_extensions": False,
        "allow_community_extensions": False,
        "lock_configuration": True,
    }
    deadline = time.monotonic() + timeout
    delay = 0.001
    with path_lock(path):
        while True:
            try:
                conn = duckdb.connect(str(path), read_only=True, config=config)
                break
            except duckdb.Error as exc:
                if not is_lock_conflict(exc):
                    raise
                if time.monotonic() + delay > deadline:
                    raise StoreBusyError(
                        f"{path} stayed locked by another process for {timeout:.0f} s; try again"
                    ) from None
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.05)
        try:
            version = (
                conn.execute(
                    "SELECT value FROM hoptrace_meta WHERE key = 'schema_version'"
                ).fetchall()
                if _has_meta(conn)
                else []
            )
            from collector.schema import SCHEMA_VERSION

            if not version:
                raise SchemaVersionError(f"{path} is not a hoptrace database")
            if int(version[0][0]) != SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"{path} has hoptrace schema version {version[0][0]}, this hoptrace "
                    f"uses {SCHEMA_VERSION}"
                )
            yield conn
        finally:
            conn.close()


def _has_meta(conn: duckdb.DuckDBPyConnection) -> bool:
    rows = conn.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'hoptrace_meta'"
    ).fetchall()
    return bool(rows[0][0])
