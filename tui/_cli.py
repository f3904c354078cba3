"""`hoptrace tui [DB] [--db PATH]`."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

__all__ = ["PROBE_TIMEOUT_S", "resolve_db", "run"]

# how long `hoptrace tui` waits for a file another process holds read-write
PROBE_TIMEOUT_S = 3.0


def resolve_db(args: argparse.Namespace) -> Path:
    """The positional DB, else `--db`, else the default every command uses."""
    from collector import resolve_db as resolve

    return resolve(getattr(args, "db_path", None) or getattr(args, "db", None))


def _probe(db: Path, failure: list[BaseException]) -> None:
    try:
        from collector import queries

        queries.check_store(db, timeout=PROBE_TIMEOUT_S)
    except Exception as exc:
        failure.append(exc)


def run(args: argparse.Namespace) -> int:
    """Open the terminal UI; a file it cannot read is a clear error, not a traceback."""
    db = resolve_db(args)
    if not db.is_file():
        print(
            f"hoptrace tui: no trace store at {db}; run `hoptrace demo` first or pass a DB path",
            file=sys.stderr,
        )
        return 2
    # One read of the store, in a thread: it checks the file and warms DuckDB's start
    # while Textual imports (a bad file is reported before any screen appears).
    failure: list[BaseException] = []
    probe = threading.Thread(target=_probe, args=(db, failure), name="hoptrace-probe", daemon=True)
    probe.start()
    from tui.app import HoptraceApp

    probe.join()
    if failure:
        reason = str(failure[0]) or type(failure[0]).__name__
        print(f"hoptrace tui: cannot open {db}: {reason.splitlines()[0]}", file=sys.stderr)
        return 2
    HoptraceApp(db).run()
    return 0
