"""`hoptrace diff RUN_A RUN_B` and `hoptrace diff --group-by ATTRIBUTE [--groups A B]`.

Exit codes: 0 ok; 1 the store cannot be read (missing, locked, not a hoptrace file);
2 bad arguments (an unknown or ambiguous run id, a grouping that cannot be done).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

__all__ = ["execute", "run"]


def run(args: argparse.Namespace) -> int:
    """Entry point called by `hoptrace._cli`."""
    return execute(
        args.runs,
        db=args.db,
        fmt=args.format,
        group_by=args.group_by,
        groups=args.groups,
        split_at=args.split_at,
        out=sys.stdout,
        err=sys.stderr,
    )


def execute(
    runs: list[str],
    *,
    db: str | None,
    fmt: str,
    group_by: str | None,
    groups: list[str] | None,
    split_at: str | None,
    out: TextIO,
    err: TextIO,
) -> int:
    """Compare two runs, or two groups of runs; print the result; return the exit code."""
    import duckdb

    from collector import queries
    from collector._paths import resolve_store
    from collector.store import StoreError

    def fail(code: int, message: str) -> int:
        print(f"hoptrace diff: {message}", file=err)
        return code

    grouped = group_by is not None or split_at is not None
    if grouped and runs:
        return fail(2, "give two run ids, or --group-by / --split-at, not both")
    if not grouped and len(runs) != 2:
        return fail(2, "give two run ids (RUN_A RUN_B), or --group-by ATTRIBUTE")
    if groups and not grouped:
        return fail(2, "--groups needs --group-by")
    path = resolve_store(db)
    if isinstance(path, Path) and not path.exists():
        return fail(1, f"no trace store at {path}")
    when: datetime | None = None
    if split_at is not None:
        try:
            when = datetime.fromisoformat(split_at)
        except ValueError:
            return fail(
                2,
                f"--split-at wants a date or time (2026-01-15, 2026-01-15T09:30), not {split_at!r}",
            )
    data: Any
    try:
        with queries.reader(path) as r:
            if grouped:
                c = queries.groups_compare(r, group_by, groups, split_at=when)
                data = queries.groups_json(c) if fmt == "json" else queries.groups_lines(c)
            else:
                a, b = (queries.resolve_run_id(r, run_id) for run_id in runs)
                d = queries.compare_runs(r, a, b)
                data = queries.diff_json(d) if fmt == "json" else queries.diff_lines(d)
    except (queries.RunNotFoundError, queries.GroupingError) as exc:
        return fail(2, str(exc.args[0] if exc.args else exc))
    except (StoreError, duckdb.Error, OSError) as exc:
        return fail(1, f"{type(exc).__name__}: {exc}")
    if fmt == "json":
        out.write(json.dumps(data, indent=2, default=str))
        out.write("\n")
    else:
        out.write("\n".join(data) + "\n")
    return 0
