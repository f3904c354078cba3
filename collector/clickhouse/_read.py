"""hoptrace's read queries on a ClickHouse store: the DuckDB SQL of `collector.queries`,
transpiled to ClickHouse SQL (sqlglot) and run through the store's connection.

The query layer (the TUI, `hoptrace insights` / `diff` / `graph`, MCP) is written once,
in DuckDB SQL over the views, which have the same names and columns in both stores.
`ReadConnection` gives that SQL the part of the DuckDB connection API it uses
(`execute(sql, params)`, `fetchone`, `fetchall`, `description`), so the query functions run
unchanged on ClickHouse; tests/clickhouse compare every one of them with DuckDB's answer.

Only hoptrace's own SQL comes here: user SQL goes through `run_readonly`. Parameters are
bound as literals before transpiling (ClickHouse has no `?`); each one is rendered by
sqlglot as a literal node, so a value can never become SQL.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, ClassVar

from collector.clickhouse._conn import ClickHouseError, Conn, shared
from collector.clickhouse._schema import _SHAPE_TYPES

__all__ = ["ReadConnection", "read_connection", "to_clickhouse"]


def _literal(value: Any) -> Any:
    from sqlglot import exp

    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    if isinstance(value, datetime | date):
        return exp.Literal.string(value.isoformat(sep=" ") if isinstance(value, datetime)
                                  else value.isoformat())  # fmt: skip
    if isinstance(value, list | tuple):
        return exp.Array(expressions=[_literal(v) for v in value])
    return exp.Literal.string(str(value))


def _bind(sql: str, params: Sequence[Any] | Mapping[str, Any]) -> str:
    """`sql` with its parameters (`?` in order, or `$name` from a mapping; found by the
    tokenizer, so one inside a string or comment is left alone) replaced by literals that
    sqlglot rendered."""
    from sqlglot.dialects.duckdb import DuckDB
    from sqlglot.tokens import TokenType

    tokens = DuckDB().tokenize(sql)
    holes: list[tuple[int, int, Any]] = []  # (start, end, value)
    named = isinstance(params, Mapping)
    positional = iter(() if named else params)
    for i, tok in enumerate(tokens):
        # `?::TYPE` tokenizes as one `?::` operator: its `?` is the placeholder
        hole = tok.token_type == TokenType.PLACEHOLDER or (
            tok.token_type == TokenType.QDCOLON and tok.text == "?::"
        )
        if hole and not named:
            try:
                holes.append((tok.start, tok.start, next(positional)))
            except StopIteration:
                raise ClickHouseError("fewer parameters than placeholders") from None
        elif tok.token_type == TokenType.PARAMETER and named and i + 1 < len(tokens):
            name = tokens[i + 1]
            if name.text not in params:
                raise ClickHouseError(f"no value for parameter ${name.text}")
            holes.append((tok.start, name.end, params[name.text]))
    if not named and next(positional, _END) is not _END:
        raise ClickHouseError("more parameters than placeholders")
    out: list[str] = []
    pos = 0
    for start, stop, value in holes:
        out.append(sql[pos:start])
        out.append(_literal(value).sql(dialect="duckdb"))
        pos = stop + 1
    out.append(sql[pos:])
    return "".join(out)


_END = object()


def _group_concat(g: Any, e: Any, cond: Any = None) -> str:
    """DuckDB's string_agg(x, sep [ORDER BY ...]) [FILTER (WHERE c)] as array functions:
    ClickHouse's groupConcat takes no ORDER BY. NULL over no rows, as in DuckDB."""
    from sqlglot import exp

    sep = g.sql(e, "separator") or "','"
    this, order = e.this, None
    if isinstance(this, exp.Order):
        order, this = this, this.this
    distinct = isinstance(this, exp.Distinct)
    value = g.sql(this.expressions[0]) if distinct else g.sql(this)
    keys = [o for o in (order.expressions if order is not None else [])]
    if_ = f"If({value}, {g.sql(cond)})" if cond is not None else f"({value})"
    if distinct or not keys or (len(keys) == 1 and g.sql(keys[0].this) == value):
        fn = "groupUniqArray" if distinct else "groupArray"
        arr = f"{fn}{if_}"
        if keys or distinct:
            desc = bool(keys and keys[0].args.get("desc"))
            arr = f"{'arrayReverseSort' if desc else 'arraySort'}({arr})"
    else:
        key = g.sql(keys[0].this)
        pair = f"({key}, {value})"
        grouped = (
            f"groupArrayIf({pair}, {g.sql(cond)})" if cond is not None else f"groupArray({pair})"
        )
        sort = "arrayReverseSort" if keys[0].args.get("desc") else "arraySort"
        arr = f"arrayMap(t -> t.2, {sort}({grouped}))"
    return f"nullIf(arrayStringConcat({arr}, {sep}), '')"


def _from_json(g: Any, e: Any) -> str:
    """DuckDB's from_json(col, '[{"field": "TYPE"}]') (a list of structs from JSON text)."""
    import json

    shape = json.loads(e.expression.this)
    if not (isinstance(shape, list) and len(shape) == 1 and isinstance(shape[0], dict)):
        raise ClickHouseError(f"from_json shape {e.expression.this!r} has no translation")
    fields = ", ".join(f"`{k}` Nullable({_SHAPE_TYPES[t]})" for k, t in shape[0].items())
    return f"JSONExtract(ifNull({g.sql(e, 'this')}, '[]'), 'Array(Tuple({fields}))')"


def _dot(g: Any, e: Any) -> str:
    from sqlglot import exp

    if isinstance(e.this, exp.Explode | exp.Unnest):  # unnest(list of structs).field
        return f"tupleElement({g.sql(e, 'this')}, '{e.expression.name}')"
    return str(g.dot_sql(e))


def _filter(g: Any, e: Any) -> str:
    from sqlglot import exp

    if isinstance(e.this, exp.GroupConcat):
        return _group_concat(g, e.this, e.expression.this)
    return f"{g.sql(e, 'this')} FILTER({g.sql(e, 'expression')})"


@functools.cache
def _dialect() -> Any:
    """ClickHouse as sqlglot writes it, with the spellings of DuckDB functions it misses."""
    from sqlglot import exp
    from sqlglot.dialects.clickhouse import ClickHouse

    class _Generator(ClickHouse.Generator):  # type: ignore[name-defined,misc]
        TRANSFORMS: ClassVar[dict[Any, Any]] = {
            **ClickHouse.Generator.TRANSFORMS,
            # DuckDB's quantile_cont interpolates linearly between ranks: R7, inclusive
            exp.PercentileCont: lambda g, e: (
                f"quantileExactInclusive({g.sql(e, 'expression')})({g.sql(e, 'this')})"
            ),
            exp.GroupConcat: _group_concat,
            exp.Filter: _filter,
            exp.FromJson: _from_json,
            exp.CurrentSchema: lambda g, e: "currentDatabase()",
            exp.Dot: _dot,
            exp.ArraySort: lambda g, e: f"arraySort({g.sql(e, 'this')})",
            exp.LogicalOr: lambda g, e: f"max({g.sql(e, 'this')})",
            exp.LogicalAnd: lambda g, e: f"min({g.sql(e, 'this')})",
        }

    class _Dialect(ClickHouse):  # type: ignore[misc]
        Generator = _Generator

    return _Dialect()


@functools.lru_cache(maxsize=512)
def _template(sql: str) -> str:
    """ClickHouse SQL for a statement with its parameters bound (the TUI repeats them)."""
    import sqlglot

    tree = sqlglot.parse_one(sql, read="duckdb")
    return str(tree.sql(dialect=_dialect()))


def to_clickhouse(sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> str:
    """`sql` (DuckDB dialect, `?` parameters) as one ClickHouse statement."""
    from sqlglot.errors import SqlglotError

    try:
        return _template(_bind(sql, params) if params else sql)
    except SqlglotError as exc:
        raise ClickHouseError(f"cannot translate to ClickHouse SQL: {exc}") from exc


class ReadConnection:
    """The slice of DuckDB's connection API that `collector.queries` uses, on ClickHouse."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn
        self._rows: list[tuple[Any, ...]] = []
        self.description: list[tuple[str, str, None, None, None, None, None]] | None = None

    def execute(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> ReadConnection:
        # a LEFT JOIN's missing side is NULL, as in DuckDB (ClickHouse's default: zeros)
        table = self._conn.arrow(to_clickhouse(sql, params), settings={"join_use_nulls": 1})
        self.description = [
            (f.name, str(f.type), None, None, None, None, None) for f in table.schema
        ]
        cols = [table.column(i).to_pylist() for i in range(table.num_columns)]
        self._rows = list(zip(*cols, strict=True)) if cols else []
        return self

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._rows = self._rows, []
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows.pop(0) if self._rows else None


@contextmanager
def read_connection(url: str) -> Iterator[ReadConnection]:
    """A read connection to the ClickHouse store `url`, for hoptrace's own queries."""
    conn = shared(url)
    yield ReadConnection(conn)
