"""The sandboxed read-only runner: the one way SQL given by a person or a program is run.

`run_guarded` is the only entry: `hoptrace sql`, `collector.query` and the TUI's SQL
console all go through it, so none of them can write, read files or change settings.
Walls, outermost first: the parser-based guard (`collector.sql._guard.check`, one
statement, read-only kinds only), then a DuckDB instance of its own that attaches
the one store file READ_ONLY and then turns off external access and locks its
configuration, so whatever slips past the guard still cannot reach the file system
or undo the sandbox.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from collector._paths import is_store_url, resolve_db, resolve_store
from collector.sql._guard import Refused, check
from collector.store import (
    READ_TIMEOUT_S,
    StoreNotFoundError,
    attach,
    check_version,
    path_lock,
)

# the writer's "I am waiting" handshake of the shared read path; a reader that
# skipped it would keep a busy writer process locked out

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

# The store's alias in the sandbox: the same name the shared read path uses, so
# `check_version` (which looks the schema up by catalog name) works unchanged.
# Set at start (before anything is attached): no extension may arrive later.
_START_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "allow_community_extensions": False,
}

_spare_lock = threading.Lock()
_spare: list[duckdb.DuckDBPyConnection] = []


def _fresh_instance() -> duckdb.DuckDBPyConnection:
    """A new, never-used DuckDB instance; the next one is started in the background.

    Starting an instance costs ~25 ms, which a polling reader (the TUI, a script in a
    loop) would pay on every query; a spare made while the caller is busy elsewhere
    hides it. Each instance is used once: locked configuration cannot be unlocked.
    """
    with _spare_lock:
        conn = _spare.pop() if _spare else None
    if conn is None:
        conn = duckdb.connect(":memory:", config=_START_CONFIG)
    threading.Thread(target=_make_spare, name="hoptrace-sql-spare").start()
    return conn


def _make_spare() -> None:
    conn = duckdb.connect(":memory:", config=_START_CONFIG)
    with _spare_lock:
        if not _spare:
            _spare.append(conn)
            return
    conn.close()


def run_guarded(
    sql: str,
    db: str | Path | None = None,
    params: list[Any] | dict[str, Any] | None = None,
    max_rows: int | None = None,
) -> pa.Table:
    """Check `sql` with the guard, run it in the sandbox, return the rows as Arrow.

    One statement per call: a multi-statement paste is refused as a whole (one line
    naming the count) rather than run in part, so nothing depends on which statement
    failed. With `max_rows`, at most `max_rows + 1` rows are fetched: the extra row
    tells a capped display that more existed. Raises `Refused` (the guard, or DuckDB's
    own permission wall, said no), `ParseError`, `StoreError`, or `duckdb.Error`.
    """
    import pyarrow as pa

    db = resolve_store(db)  # $HOPTRACE_DB may name a ClickHouse store too
    if isinstance(db, str) and is_store_url(db):
        return _run_clickhouse(sql, db, params, max_rows)
    statement = check(sql)
    try:
        with sandboxed_read_connection(db) as conn:
            relation = conn.sql(statement, params=params)
            if relation is None:  # a statement without a result set
                return pa.table({})
            if max_rows is None:
                return relation.to_arrow_table()
            # streamed, so a cap on a huge result does not materialise all of it
            reader = relation.to_arrow_reader(max_rows + 1)
            batches: list[pa.RecordBatch] = []
            seen = 0
            for batch in reader:
                batches.append(batch)
                seen += batch.num_rows
                if seen > max_rows:
                    break
            return pa.Table.from_batches(batches, schema=reader.schema).slice(0, max_rows + 1)
    except duckdb.PermissionException as exc:
        raise Refused(f"refused by DuckDB: {exc}") from None


def _run_clickhouse(
    sql: str, url: str, params: list[Any] | dict[str, Any] | None, max_rows: int | None
) -> pa.Table:
    """A ClickHouse store: its own walls (collector.clickhouse._readonly: readonly=1)."""
    from collector.clickhouse import ClickHouseError, ReadOnlyRefused, run_readonly
    from collector.store import StoreError

    if params:
        raise Refused("query parameters are not supported on a ClickHouse store")
    try:
        return run_readonly(sql, url, max_rows)
    except ReadOnlyRefused as exc:
        raise Refused(str(exc)) from None
    except ClickHouseError as exc:
        raise StoreError(str(exc)) from None


def query(
    sql: str, db: str | Path | None = None, params: list[Any] | dict[str, Any] | None = None
) -> pl.DataFrame:
    """Run one read-only SQL query against the store and return a polars DataFrame."""
    import polars as pl

    frame = pl.from_arrow(run_guarded(sql, db, params))
    assert isinstance(frame, pl.DataFrame)
    return frame


@contextlib.contextmanager
def sandboxed_read_connection(
    db: str | Path | None = None, timeout: float = READ_TIMEOUT_S
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection for untrusted SQL: the store attached READ_ONLY, external access off,
    configuration locked.

    A DuckDB instance of its own (the shared host must keep external access to
    attach files), so it costs one instance start (~25 ms). The attach happens first,
    then the two settings: once locked, no statement can turn access back on.
    """
    path = resolve_db(db)
    if not path.exists():
        raise StoreNotFoundError(
            f"no hoptrace database at {path} (run a traced program or `hoptrace demo` "
            "first, or pass --db / set $HOPTRACE_DB)"
        )
    # the process-wide lock of this path: the shared host never has the file open
    # while we hold it, so two DuckDB instances never hold one file in this process
    with path_lock(path):
        conn = _fresh_instance()
        try:
            # the store's own attach: the same lock retry and deference to a waiting writer
            attach(conn, path, read_only=True, timeout=timeout)
            conn.execute("SET enable_external_access = false")
            conn.execute("SET lock_configuration = true")
            check_version(conn, path, writable=False)
            yield conn
        finally:
            conn.close()
