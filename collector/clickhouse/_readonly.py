"""Read-only SQL from a person or a program, against a ClickHouse store.

`collector.sql.run_guarded` sends a ClickHouse URL here. DuckDB's parser guard does not
apply (the dialect differs), so the walls are ClickHouse's own, outermost first:

1. a lexical check on the statement with its string literals and comments blanked out:
   one statement, starting with SELECT / WITH / SHOW / DESCRIBE / EXPLAIN / EXISTS,
   and no SETTINGS clause of its own (so it cannot ask for other settings);
2. `readonly = 1` for the query: ClickHouse then refuses any write, DDL, setting change
   and every table function that reaches outside (file, url, s3, remote, ...). On a
   server the setting travels as a request parameter, so no text of the query can undo it.
"""

from __future__ import annotations

import re

import pyarrow as pa

from collector.clickhouse._conn import ClickHouseError, shared

READONLY: dict[str, int] = {"readonly": 1}
_LITERALS = re.compile(
    r"'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`|\"(?:[^\"\\]|\\.)*\"|--[^\n]*|/\*.*?\*/", re.S
)
_FIRST = re.compile(r"\s*\(*\s*(\w+)")
_ALLOWED = {"select", "with", "show", "describe", "desc", "explain", "exists"}


class ReadOnlyRefused(ClickHouseError):
    """The statement is not a single read-only query."""


def check_readonly(sql: str) -> str:
    """The statement, if it passes the lexical wall; raises ReadOnlyRefused otherwise."""
    statement = sql.strip().rstrip(";").strip()
    bare = _LITERALS.sub(" ", statement)
    if ";" in bare:
        raise ReadOnlyRefused("refused: one statement at a time")
    first = _FIRST.match(bare)
    if not first or first.group(1).lower() not in _ALLOWED:
        raise ReadOnlyRefused(
            "refused: only read-only queries (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN)"
        )
    if re.search(r"\bsettings\b", bare, re.I):
        raise ReadOnlyRefused("refused: a query may not carry its own SETTINGS")
    return statement


def run_readonly(sql: str, url: str, max_rows: int | None = None) -> pa.Table:
    """Run one read-only query against the store `url` (see the module doc)."""
    statement = check_readonly(sql)
    conn = shared(url)
    first = _FIRST.match(_LITERALS.sub(" ", statement))
    if max_rows is not None and first and first.group(1).lower() in ("select", "with"):
        # one extra row tells a capped display that more existed; the statement on lines
        # of its own, so a trailing `-- comment` cannot swallow the closing bracket
        statement = f"SELECT * FROM (\n{statement}\n) LIMIT {int(max_rows) + 1}"
    try:
        return conn.arrow(statement, settings=READONLY)
    except ClickHouseError as exc:
        if "READONLY" in str(exc) or "readonly mode" in str(exc):
            raise ReadOnlyRefused(f"refused by ClickHouse: {exc}") from None
        raise
