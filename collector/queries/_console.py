"""The SQL console (through the one guarded runner) and the store check before the UI opens."""

from __future__ import annotations

from pathlib import Path

from collector._paths import is_store_url, resolve_store
from collector.queries._read import DB, _connect
from collector.queries._types import (
    SqlResult,
)


def sql_console(db: DB, sql: str, max_rows: int = 1000) -> SqlResult:
    """Run a read-only statement, keeping at most `max_rows` rows.

    One extra row is fetched: it is what tells the console to say "more than N"
    instead of claiming the capped rows were all of them.
    The text goes through the same guard and sandbox as `hoptrace sql` (a refusal
    raises `collector.sql.Refused` with the CLI's one-line message), so the console
    cannot write, read files or change settings either. A path, not a `Reader`: a
    shared connection has external access on, which is why the sandbox is its own.
    """
    from collector.sql import run_guarded

    table = run_guarded(sql, db, max_rows=max_rows)
    rows = list(zip(*(c.to_pylist() for c in table.columns), strict=True))
    return SqlResult(tuple(table.column_names), tuple(rows[:max_rows]), len(rows) > max_rows)


def check_store(db: DB, timeout: float = 3.0) -> None:
    """Raise a `collector.StoreError` whose message is why `db` cannot be read, if it cannot.

    One read-only attach (nothing is created or modified, not even for an empty
    file) that checks the schema and reads the newest ingest time. The message is
    a reason to put after the path ("it is not a DuckDB database file", ...).
    `timeout` bounds the wait for a file another process holds read-write.
    """
    import duckdb

    from collector.store import (
        NotAHoptraceStoreError,
        StoreBusyError,
        StoreError,
        StoreNotFoundError,
        read_connection,
    )

    db = resolve_store(db)
    if is_store_url(db):
        from collector.clickhouse import ClickHouseError

        try:
            with _connect(db) as ch:
                ch.execute("SELECT max(ingested_ns) FROM spans").fetchone()
        except ClickHouseError as exc:
            raise StoreError(str(exc).splitlines()[0]) from None
        return
    path = Path(db) if db is not None else None
    try:
        if path is not None and path.is_file() and path.stat().st_size == 0:
            raise NotAHoptraceStoreError("it is an empty file, not a hoptrace store")
        with read_connection(db, timeout=timeout) as conn:
            conn.execute("SELECT max(ingested_ns) FROM spans").fetchone()
    except StoreNotFoundError:
        raise StoreNotFoundError("no such file") from None
    except StoreBusyError:
        raise StoreBusyError(
            f"another process has held it read-write for {timeout:g} s (a hoptrace writer "
            "busy for that long, or another DuckDB client); try again, or stop that process"
        ) from None
    except StoreError as exc:
        text = str(exc)
        if path is not None:
            for prefix in (f"{path} ", f"{path.resolve()} "):
                if text.startswith(prefix):
                    text = "it " + text[len(prefix) :]
                    break
        raise type(exc)(text) from None
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "not a valid DuckDB database file" in first:
            raise NotAHoptraceStoreError(
                "it is not a DuckDB database file, so not a hoptrace store"
            ) from None
        if isinstance(exc, duckdb.CatalogException):
            raise NotAHoptraceStoreError(f"it is not a complete hoptrace store ({first})") from None
        raise StoreError(f"DuckDB cannot read it; is it damaged or truncated? ({first})") from None
    except OSError as exc:
        raise StoreError(exc.strerror or str(exc)) from None


def view_columns(db: DB) -> dict[str, tuple[str, ...]]:
    """Each public view's column names, for the console's completion.

    Views only (the tables behind them are the store's business), read from
    DuckDB's information_schema so a new view is completed without a list here.
    """
    with _connect(db) as conn:
        rows = conn.execute(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_catalog, table_schema, table_name) "
            # current_schema(): DuckDB's `main`, a ClickHouse store's database; the
            # `*_t` view a ClickHouse store has over its stored rows is no public view
            "WHERE t.table_type = 'VIEW' AND c.table_schema = current_schema() "
            "AND NOT ends_with(c.table_name, '_t') AND NOT starts_with(c.table_name, 'hoptrace_') "
            "ORDER BY c.table_name, c.ordinal_position"
        ).fetchall()
    out: dict[str, list[str]] = {}
    for view, column in rows:
        out.setdefault(str(view), []).append(str(column))
    return {view: tuple(cols) for view, cols in out.items()}


def sql_tokens(sql: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) character ranges of `sql`'s tokens, for highlighting.

    DuckDB's own tokenizer (the one the guard uses), so what is coloured as a
    keyword is what DuckDB reads as one. `kind` is one of keyword, string, number,
    comment, operator, identifier. Text it cannot tokenize yields no ranges.
    """
    import duckdb

    kinds = {
        duckdb.token_type.keyword: "keyword",
        duckdb.token_type.string_const: "string",
        duckdb.token_type.numeric_const: "number",
        duckdb.token_type.comment: "comment",
        duckdb.token_type.operator: "operator",
        duckdb.token_type.identifier: "identifier",
    }
    try:
        tokens = duckdb.tokenize(sql)
    except Exception:  # a half-typed statement must not break the editor
        return []
    out: list[tuple[int, int, str]] = []
    for i, (start, kind) in enumerate(tokens):
        end = tokens[i + 1][0] if i + 1 < len(tokens) else len(sql)
        text = sql[start:end]
        end = start + len(text.rstrip())
        if end > start:
            out.append((start, end, kinds.get(kind, "identifier")))
    return out
