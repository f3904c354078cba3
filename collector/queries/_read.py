"""The read door: one short read-only connection per call or per `Reader`, and JSON decoding."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from collector._paths import is_store_url, resolve_store

DB = str | Path | None


class Reader:
    """An open read connection several queries share (one ATTACH instead of many).

    Pass it wherever a function takes `db`; make one with `reader(db)`.
    """

    def __init__(self, conn: Any) -> None:
        self.conn = conn


@contextmanager
def reader(db: DB) -> Iterator[Reader]:
    """One short read-only connection for a group of queries."""
    with _connect(db) as conn:
        yield Reader(conn)


@contextmanager
def _connect(db: DB | Reader) -> Iterator[Any]:
    if isinstance(db, Reader):
        yield db.conn
        return
    db = resolve_store(db)  # $HOPTRACE_DB may name a ClickHouse store too
    if is_store_url(db):
        # a ClickHouse store: the same SQL, transpiled (needs hoptrace[clickhouse])
        from collector.clickhouse import read_connection as clickhouse_read

        with clickhouse_read(str(db)) as ch:
            yield ch
        return
    # Imported here so `collector.queries` stays importable (types only) before
    # the store module is needed, e.g. by pure layout tests.
    from collector.store import read_connection

    with read_connection(db) as conn:
        yield conn


def _json(value: Any) -> Any:
    """Decode a JSON column whichever way the store typed it (JSON text or nested)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _models(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(m.strip() for m in value.split(",") if m.strip())
    return tuple(str(m) for m in value if m)


def _str_list(value: Any) -> tuple[str, ...]:
    value = _json(value)
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)
