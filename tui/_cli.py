"""`hoptrace tui [DB] [--db PATH]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """Open the terminal UI; a missing DB file is a clear error, not a traceback."""
    from tracer._env import default_db_path

    db = Path(getattr(args, "db_path", None) or getattr(args, "db", None) or default_db_path())
    if not db.exists():
        print(
            f"hoptrace tui: no trace store at {db}; run `hoptrace demo` first or pass a DB path",
            file=sys.stderr,
        )
        return 2
    from tui.app import HoptraceApp

    HoptraceApp(db).run()
    return 0
