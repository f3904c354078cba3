"""`hoptrace tui [DB] [--db PATH]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["resolve_db", "run"]


def resolve_db(args: argparse.Namespace) -> Path | str:
    """The positional DB, else `--db`, else the default every command uses (a ClickHouse
    store URL is kept as given)."""
    from collector import resolve_store

    return resolve_store(getattr(args, "db_path", None) or getattr(args, "db", None))


def run(args: argparse.Namespace) -> int:
    """Open the terminal UI; a file it cannot read is a clear error, not a traceback."""
    db = resolve_db(args)
    if isinstance(db, Path) and not db.is_file():
        print(
            f"hoptrace tui: no trace store at {db}; run `hoptrace demo` first or pass a DB path",
            file=sys.stderr,
        )
        return 2
    from tui._warm import prewarm

    # the check runs while Textual imports: a bad file is reported before any screen
    probe = prewarm(db)
    from tui.app import HoptraceApp

    failure = probe.failure()
    if failure is not None:
        reason = str(failure) or type(failure).__name__
        print(f"hoptrace tui: cannot open {db}: {reason.splitlines()[0]}", file=sys.stderr)
        return 2
    HoptraceApp(db).run()
    return 0
