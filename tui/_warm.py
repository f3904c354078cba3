"""Open the store in the background while Textual is still importing.

The first read in a process pays for DuckDB's import and instance (a few
hundred ms on a busy machine). `hoptrace tui` starts that here, in a daemon
thread, so it overlaps the UI's own start instead of following it.
"""

from __future__ import annotations

import threading
from pathlib import Path

__all__ = ["prewarm"]


def prewarm(db: str | Path) -> threading.Thread:
    """Start warming the store's read path; errors are left for the UI to report."""

    def warm() -> None:
        try:
            from collector import queries

            with queries.reader(db) as reader:
                queries.runs_count(reader, queries.RunFilter())
        except Exception:
            return

    thread = threading.Thread(target=warm, name="hoptrace-prewarm", daemon=True)
    thread.start()
    return thread
