"""Opening the DuckDB file: the one-writer design, in one place.

DuckDB lets one process hold a database file read-write, and while it does no
other process can open the file at all (https://duckdb.org/docs/current/connect/concurrency).
hoptrace therefore never keeps the file open. Every access is short:

- A process keeps one in-memory DuckDB "host" connection per database path
  (creating a DuckDB instance costs ~25 ms here; ATTACH/DETACH of a file ~1.5 ms).
- The writer ATTACHes the file read-write for one batch (one transaction: stage
  the batch as Arrow, upsert, re-derive the touched traces, COMMIT) and DETACHes.
- Readers ATTACH it `READ_ONLY` for one query and DETACH.
- Both retry a lock conflict with jittered exponential backoff (capped at 5 ms a
  step for the writer, 50 ms for readers). A writer that has to wait touches
  `<db>.writer-waiting`; readers seeing a fresh flag pause (at most 0.25 s) before
  attaching, so a reader polling in a tight loop cannot starve the writer. Readers give up only after `READ_TIMEOUT_S` with a clear
  `StoreBusyError`, never DuckDB's raw lock error; the exporter keeps a batch it
  could not write and retries it on the next export / flush / shutdown.
- A per-path lock serialises this process's own opens: DuckDB refuses a read-only
  and a read-write attachment of the same file inside one process at once, and
  two instances in one process must not hold the same file.

The embedded exporter buffers spans and writes every `flush_interval` (0.2 s), so a
busy pipeline holds the file a few ms per flush and readers slot in between.
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from collector._paths import resolve_db

if TYPE_CHECKING:
    pass

READ_TIMEOUT_S: float = 30.0
WRITE_TIMEOUT_S: float = 10.0
ALIAS = "hop"
_READER_YIELD_S = 0.25  # longest a reader defers to a waiting writer
_STALE_FLAG_S = 5.0


class StoreError(Exception):
    """Base class of the collector's own errors (clear messages, no DuckDB internals)."""


class StoreBusyError(StoreError):
    """The database file stayed locked by another process for longer than the timeout."""


class StoreNotFoundError(StoreError, FileNotFoundError):
    """The database file does not exist (readers never create it)."""


class SchemaVersionError(StoreError):
    """The database was written by another version of hoptrace."""


class NotAHoptraceStoreError(StoreError):
    """The file is another application's database (or not a DuckDB file at all).

    hoptrace writes only into a new file, an empty DuckDB database or its own store:
    it never adds its tables to a database that holds someone else's.
    """


def foreign_objects(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """User tables and views of the attached file when it has no hoptrace_meta table.

    Empty for a hoptrace store and for an empty database (the two a writer may use).
    """
    rows = conn.execute(
        "SELECT table_name AS name FROM duckdb_tables() WHERE database_name = ? "
        "UNION ALL SELECT view_name FROM duckdb_views() WHERE database_name = ? AND NOT internal",
        [ALIAS, ALIAS],
    ).fetchall()
    names = sorted(str(r[0]) for r in rows)
    return [] if "hoptrace_meta" in names else names


class _Host:
    """One in-memory DuckDB connection that attaches one database file on demand."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.conn: duckdb.DuckDBPyConnection | None = None
        self.pid = os.getpid()
        self.mode: str | None = None  # "ro" / "rw" while attached (by the lock's owner)

    def connection(self) -> duckdb.DuckDBPyConnection:
        if self.conn is None or self.pid != os.getpid():
            # after fork() the parent's instance must not be reused
            self.conn = duckdb.connect(":memory:")
            self.pid = os.getpid()
        return self.conn


_HOSTS: dict[str, _Host] = {}
_HOSTS_LOCK = threading.Lock()


def _host(path: Path) -> _Host:
    key = str(path.resolve())
    with _HOSTS_LOCK:
        host = _HOSTS.get(key)
        if host is None:
            host = _HOSTS[key] = _Host()
        return host


def path_lock(path: Path) -> threading.RLock:
    """This process's lock for a database path (serialises every open of that file)."""
    return _host(path).lock


def is_lock_conflict(exc: BaseException) -> bool:
    """True for DuckDB's "another process holds the file" errors."""
    text = str(exc)
    return isinstance(exc, duckdb.IOException) and ("lock" in text.lower() or "Conflicting" in text)


def _sql_str(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _waiting_flag(path: Path) -> Path:
    return path.with_name(path.name + ".writer-waiting")


def _yield_to_writer(path: Path) -> None:
    """Readers pause (briefly, bounded) while a writer process is waiting for the file."""
    flag = _waiting_flag(path)
    waited = 0.0
    while waited < _READER_YIELD_S:
        try:
            age = time.time() - flag.stat().st_mtime
        except OSError:
            return
        if age > _STALE_FLAG_S:  # a writer that died while waiting
            return
        time.sleep(0.005)
        waited += 0.005


def attach(conn: duckdb.DuckDBPyConnection, path: Path, read_only: bool, timeout: float) -> None:
    """ATTACH `path` as `hop` and USE it, retrying lock conflicts (readers defer to a waiting writer)."""
    opts = " (READ_ONLY)" if read_only else ""
    deadline = time.monotonic() + timeout
    delay = 0.001
    # a writer polls fast and raises a flag so that looping readers leave it a gap;
    # readers back off further (they only wait for a few ms of writing)
    cap = 0.005 if not read_only else 0.05
    flagged = False
    if read_only:
        _yield_to_writer(path)
    try:
        while True:
            try:
                conn.execute(f"ATTACH {_sql_str(path)} AS {ALIAS}{opts}")
                conn.execute(f"USE {ALIAS}")
                return
            except duckdb.Error as exc:
                if not is_lock_conflict(exc):
                    raise
                if time.monotonic() + delay > deadline:
                    raise StoreBusyError(
                        f"{path} stayed locked by another process for {timeout:.0f} s "
                        "(a hoptrace writer or another DuckDB client holds it read-write); "
                        "try again, or stop the other process"
                    ) from None
                if not read_only and not flagged:
                    with contextlib.suppress(OSError):
                        _waiting_flag(path).touch()
                        flagged = True
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, cap)
    finally:
        if flagged:
            with contextlib.suppress(OSError):
                _waiting_flag(path).unlink()


def _detach(conn: duckdb.DuckDBPyConnection) -> bool:
    """Release the file; False when DuckDB could not (it then still holds the file)."""
    with contextlib.suppress(duckdb.Error):
        conn.execute("ROLLBACK")
    with contextlib.suppress(duckdb.Error):
        conn.execute("USE memory")
    try:
        conn.execute(f"DETACH {ALIAS}")
    except duckdb.Error:
        return False
    return True


def _release(host: _Host) -> None:
    """Detach the file; if that fails (e.g. its checkpoint hit a full disk), drop the instance.

    A DuckDB instance whose DETACH failed keeps the file attached, and every later
    ATTACH of it fails ("Unique file handle conflict"): only a new instance recovers.
    """
    conn = host.conn
    if conn is None or _detach(conn):
        return
    with contextlib.suppress(duckdb.Error):
        conn.close()
    host.conn = None


@contextlib.contextmanager
def write_connection(
    db: str | Path | None = None, timeout: float = WRITE_TIMEOUT_S
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Attach the file read-write (creating it) for one unit of work; detach after."""
    path = resolve_db(db)
    host = _host(path)
    with host.lock:
        if host.mode is not None:
            raise StoreError(
                f"cannot write {path} from inside a read_connection()/write_connection() "
                "block of the same thread; finish the read first"
            )
        conn = host.connection()
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        attach(conn, path, read_only=False, timeout=timeout)
        host.mode = "rw"
        # A write is ~30 short statements over a few thousand rows: a second DuckDB
        # thread costs more in coordination than it saves (measured ~20% slower), and
        # the other core is where the traced program or the OTLP decoder runs.
        conn.execute("SET threads = 1")
        try:
            yield conn
        finally:
            host.mode = None
            _release(host)
            if host.conn is not None:
                with contextlib.suppress(duckdb.Error):
                    conn.execute("RESET threads")


@contextlib.contextmanager
def read_connection(
    db: str | Path | None = None, timeout: float = READ_TIMEOUT_S, check_schema: bool = True
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the store for one query (context manager).

    Retries while another process writes; raises `StoreBusyError` (a clear
    message) only after `timeout` seconds, `StoreNotFoundError` if the file does
    not exist, `SchemaVersionError` if another hoptrace version wrote it. The
    connection's default catalog is the store, so `SELECT * FROM runs` works.
    Do not keep it beyond the `with` block: the file is released on exit.
    """
    path = resolve_db(db)
    if not path.exists():
        raise StoreNotFoundError(
            f"no hoptrace database at {path} (run a traced program or `hoptrace demo` "
            "first, or pass --db / set $HOPTRACE_DB)"
        )
    host = _host(path)
    with host.lock:
        conn = host.connection()
        nested = host.mode is not None  # a query inside another read (same thread): reuse
        if not nested:
            attach(conn, path, read_only=True, timeout=timeout)
            host.mode = "ro"
        try:
            if check_schema and not nested:
                check_version(conn, path, writable=False)
            # a cursor of its own: whatever the caller leaves unfinished is closed with it
            cursor = conn.cursor()
            try:
                cursor.execute(f"USE {ALIAS}")
                yield cursor
            finally:
                cursor.close()
        finally:
            if not nested:
                host.mode = None
                _release(host)


def stored_version(conn: duckdb.DuckDBPyConnection) -> int | None:
    """schema_version recorded in the attached file, or None for a file without our schema."""
    has_meta = conn.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = 'hoptrace_meta'",
        [ALIAS],
    ).fetchall()
    if not has_meta[0][0]:
        return None
    rows = conn.execute("SELECT value FROM hoptrace_meta WHERE key = 'schema_version'").fetchall()
    return int(rows[0][0]) if rows else None


def check_version(conn: duckdb.DuckDBPyConnection, path: Path, writable: bool) -> int | None:
    """Raise `SchemaVersionError` unless the file holds the current schema (or, if writable, an older one)."""
    from collector.schema import OLDEST_MIGRATABLE, SCHEMA_VERSION

    version = stored_version(conn)
    if version is None:
        if writable:
            return None
        raise SchemaVersionError(f"{path} is not a hoptrace database (no hoptrace_meta table)")
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{path} has hoptrace schema version {version}, newer than this hoptrace "
            f"understands ({SCHEMA_VERSION}); upgrade hoptrace to read it"
        )
    if version < SCHEMA_VERSION:
        if not writable:
            raise SchemaVersionError(
                f"{path} has hoptrace schema version {version}, this hoptrace uses "
                f"{SCHEMA_VERSION}; it is migrated the next time hoptrace writes to it "
                "(e.g. `python -c \"import collector; collector.SpanStore('PATH')\"`)"
            )
        if version < OLDEST_MIGRATABLE:
            raise SchemaVersionError(
                f"{path} has hoptrace schema version {version}, too old to migrate "
                f"(oldest supported: {OLDEST_MIGRATABLE}); start a new database"
            )
    return version
