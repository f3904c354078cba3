"""`hoptrace sql "SELECT …" [--db PATH] [--format table|csv|json]`: read-only SQL on the store.

Exit codes: 0 ok; 1 DuckDB error (syntax, unknown table, …) or no database;
2 refused (the statement would write, attach, copy, load, or touch files).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    import polars as pl


def run(args: argparse.Namespace) -> int:
    """Entry point called by `hoptrace._cli`."""
    return execute(args.query, db=args.db, fmt=args.format, out=sys.stdout, err=sys.stderr)


def execute(sql: str, db: str | None, fmt: str, out: TextIO, err: TextIO) -> int:
    """Check, run and print one query; return the exit code."""
    import duckdb

    from collector.sql._guard import ParseError, Refused
    from collector.sql._runner import run_guarded
    from collector.store import StoreError

    try:
        table = run_guarded(sql, db)
    except Refused as exc:
        print(f"hoptrace sql: {exc}", file=err)
        return 2
    except (ParseError, StoreError, duckdb.Error) as exc:
        print(f"hoptrace sql: {exc}", file=err)
        return 1
    _print(table, fmt, out)
    return 0


def _print(table: object, fmt: str, out: TextIO) -> None:
    import polars as pl

    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    if fmt == "csv":
        out.write(_csv_safe(frame).write_csv())
    elif fmt == "json":
        out.write(frame.write_json())
        out.write("\n")
    else:
        with pl.Config(
            tbl_rows=200, tbl_cols=-1, fmt_str_lengths=60, tbl_width_chars=200,
            tbl_hide_dataframe_shape=False,
        ):  # fmt: skip
            out.write(f"{frame}\n")
        if frame.height > 200:
            out.write(f"({frame.height} rows; use --format csv for all of them)\n")


def _csv_safe(frame: pl.DataFrame) -> pl.DataFrame:
    import polars as pl

    nested = [c for c, t in frame.schema.items() if t.is_nested()]
    if not nested:
        return frame
    return frame.with_columns(pl.col(c).map_elements(str, return_dtype=pl.String) for c in nested)
