"""One connection type over the two ClickHouse engines: chdb (embedded) and a server.

Every statement hoptrace runs is plain ClickHouse SQL handed to `execute` or `arrow`,
identical for both engines, so what the chdb tests prove about the SQL holds for a
server. Only the bulk insert differs in transport: chdb reads an Arrow table in
process (`Python()` table function), a server receives it over HTTP (clickhouse-connect), and query settings (`readonly = 1` for user SQL) travel
as HTTP request parameters to a server, as a trailing SETTINGS clause to chdb.

Store URLs:
- `chdb://PATH`: an embedded database directory (created on first use; one process at a
  time can hold it);
- `clickhouse://[user[:password]@]host[:port]/db` (HTTP, default port 8123) and
  `clickhouses://...` (TLS, default port 8443), or `?secure=1`; the user and password
  default to `$CLICKHOUSE_USER` / `$CLICKHOUSE_PASSWORD`.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pyarrow as pa

from collector._paths import STORE_URL_SCHEMES, is_store_url
from collector.store import StoreError

SCHEMES: tuple[str, ...] = STORE_URL_SCHEMES


class ClickHouseError(StoreError):
    """A ClickHouse store could not be reached or refused a statement (a StoreError, so
    every command that reports an unreadable store reports this one the same way)."""


def is_clickhouse_url(db: object) -> bool:
    """Whether a `--db` / `--store` value names a ClickHouse store rather than a DuckDB file."""
    return is_store_url(db)


@dataclass(frozen=True)
class Target:
    """A parsed store URL."""

    embedded: bool
    path: str = ""
    host: str = ""
    port: int = 8123
    database: str = "default"
    user: str | None = None
    password: str | None = None
    secure: bool = False

    def describe(self) -> str:
        """The URL without its password (for messages)."""
        if self.embedded:
            return f"chdb://{self.path}"
        scheme = "clickhouses" if self.secure else "clickhouse"
        return f"{scheme}://{self.host}:{self.port}/{self.database}"


def parse_url(url: str) -> Target:
    """A `Target` from a store URL; raises ValueError for anything else."""
    if url.startswith("chdb://"):
        path = url.removeprefix("chdb://")
        if not path:
            raise ValueError("chdb:// needs a directory, e.g. chdb://./traces.chdb")
        return Target(embedded=True, path=os.path.abspath(path))
    parts = urlsplit(url)
    if parts.scheme not in ("clickhouse", "clickhouses") or not parts.hostname:
        raise ValueError(f"not a ClickHouse store URL: {url!r}")
    query = parse_qs(parts.query)
    secure = parts.scheme == "clickhouses" or query.get("secure", ["0"])[0] in ("1", "true")
    database = unquote(parts.path.strip("/")) or "default"
    return Target(
        embedded=False,
        host=parts.hostname,
        port=parts.port or (8443 if secure else 8123),
        database=database,
        user=unquote(parts.username) if parts.username else os.environ.get("CLICKHOUSE_USER"),
        password=(
            unquote(parts.password)
            if parts.password is not None
            else os.environ.get("CLICKHOUSE_PASSWORD")
        ),
        secure=secure,
    )


class Conn:
    """A connection to one ClickHouse database (embedded or server)."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.lock = threading.RLock()
        if target.embedded:
            self._session = _chdb_session(target.path)
            self._client: Any = None
        else:
            self._session = None
            self._client = _server_client(target)

    def execute(self, sql: str, settings: dict[str, Any] | None = None) -> None:
        """Run one statement that returns nothing."""
        with self.lock:
            try:
                if self._session is not None:
                    self._session.query(_with_settings(sql, settings))
                else:
                    self._client.command(sql, settings=settings)
            except Exception as exc:  # both engines raise their own types
                raise ClickHouseError(str(exc).strip()) from exc

    def arrow(self, sql: str, settings: dict[str, Any] | None = None) -> pa.Table:
        """Run one query and return its rows as an Arrow table."""
        with self.lock:
            try:
                if self._session is not None:
                    return pa.table(
                        self._session.query(_with_settings(sql, settings), "ArrowTable")
                    )
                return self._client.query_arrow(sql, settings=settings, use_strings=True)
            except Exception as exc:
                raise ClickHouseError(str(exc).strip()) from exc

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Run one query and return its rows as tuples."""
        table = self.arrow(sql)
        cols = [table.column(i).to_pylist() for i in range(table.num_columns)]
        return list(zip(*cols, strict=True)) if cols else []

    def insert(self, table: str, data: pa.Table) -> None:
        """Insert an Arrow table (its column names are the target's) into `table`."""
        if not data.num_rows:
            return
        with self.lock:
            try:
                if self._session is not None:
                    cols = ", ".join(f"`{c}`" for c in data.column_names)
                    # chdb's Python() table function finds `data` among this frame's locals
                    self._session.query(f"INSERT INTO {table} ({cols}) SELECT * FROM Python(data)")
                else:
                    self._client.insert_arrow(table, data)
            except Exception as exc:
                raise ClickHouseError(str(exc).strip()) from exc

    def close(self) -> None:
        """Close a server client; an embedded session stays open for the process."""
        if self._client is not None:
            self._client.close()


def _with_settings(sql: str, settings: dict[str, Any] | None) -> str:
    if not settings:
        return sql
    body = ", ".join(
        f"{k} = {v!r}" if isinstance(v, str) else f"{k} = {v}" for k, v in settings.items()
    )
    # on a line of its own: a trailing `-- ...` or `# ...` comment would swallow it
    return f"{sql.rstrip().rstrip(';')}\nSETTINGS {body}"


_sessions_lock = threading.Lock()
_sessions: dict[str, Any] = {}


def _chdb_session(path: str) -> Any:
    """The process's chdb session on `path` (chdb runs one engine per process)."""
    try:
        from chdb import session as chs
    except ImportError as exc:
        raise ClickHouseError(
            "chdb:// needs the ClickHouse extra: pip install 'hoptrace[clickhouse]'"
        ) from exc
    with _sessions_lock:
        if path not in _sessions:
            for other in list(_sessions):
                _sessions.pop(other).close()
            os.makedirs(path, exist_ok=True)
            try:
                _sessions[path] = chs.Session(path)
            except Exception as exc:
                raise ClickHouseError(
                    f"cannot open chdb://{path}: {str(exc).strip()} (an embedded database is "
                    "held by one process at a time; is another hoptrace using it?)"
                ) from exc
        return _sessions[path]


def _server_client(target: Target) -> Any:
    try:
        import clickhouse_connect
        from clickhouse_connect.driver.exceptions import OperationalError
    except ImportError as exc:
        raise ClickHouseError(
            "clickhouse:// needs the ClickHouse extra: pip install 'hoptrace[clickhouse]'"
        ) from exc
    # without a handler anywhere, Python prints the library's warnings ("Unexpected Http
    # Driver Exception") to stderr beside our own message; an app's logging still sees them
    library = logging.getLogger("clickhouse_connect")
    if not any(isinstance(h, logging.NullHandler) for h in library.handlers):
        library.addHandler(logging.NullHandler())
    try:
        return clickhouse_connect.get_client(
            host=target.host,
            port=target.port,
            database=target.database,
            username=target.user or "default",
            password=target.password or "",
            secure=target.secure,
        )
    except OperationalError as exc:  # the transport failed: no answer from a server
        raise ClickHouseError(f"cannot reach {target.describe()}: {_transport_cause(exc)}") from exc
    except Exception as exc:
        # the server answered (a wrong password, an unknown database): not "cannot reach"
        raise ClickHouseError(f"{target.describe()} refused the connection: {exc}") from exc


def _transport_cause(exc: BaseException) -> str:
    """The socket-level reason under urllib3's wrapping ("Connection refused"), if any."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, OSError) and e.strerror:
            return e.strerror
        todo += [e.__cause__, e.__context__, getattr(e, "reason", None)]
    return str(exc)


def connect(url: str) -> Conn:
    """A connection to the store `url` (see the module doc for the forms)."""
    return Conn(parse_url(url))


_shared_lock = threading.Lock()
_shared: dict[Target, Conn] = {}


def shared(url: str) -> Conn:
    """The process's connection to `url` for reads: a server client pools its HTTP
    connections, so every reader shares one per store (three round trips to open); an
    embedded store's Conn is a handle on the process's one chdb session."""
    target = parse_url(url)
    if target.embedded:
        return Conn(target)
    with _shared_lock:  # keyed by the parsed target: credentials from the env count
        conn = _shared.get(target)
        if conn is None:
            conn = _shared[target] = Conn(target)
        return conn
