"""Check and open the store in the background while Textual is still importing.

The first read in a process pays for DuckDB's import and instance (a few hundred
ms on a busy machine). `hoptrace tui` starts that here, in a daemon thread, as
the probe that refuses a file it cannot read (`collector.queries.check_store`),
so the check overlaps the UI's own import instead of following it.
"""

from __future__ import annotations

import threading
from pathlib import Path

__all__ = ["PROBE_TIMEOUT_S", "Prewarm", "prewarm"]

# how long `hoptrace tui` waits for a file another process holds read-write
PROBE_TIMEOUT_S = 3.0


class Prewarm:
    """The background probe; `failure()` waits for it and says why the store is unusable."""

    def __init__(self, db: str | Path) -> None:
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(db,), name="hoptrace-prewarm", daemon=True
        )
        self._thread.start()

    def _run(self, db: str | Path) -> None:
        try:
            from collector import queries

            queries.check_store(db, timeout=PROBE_TIMEOUT_S)
        except Exception as exc:
            self._error = exc

    def failure(self) -> BaseException | None:
        self._thread.join()
        return self._error


def prewarm(db: str | Path) -> Prewarm:
    """Start checking and warming the store's read path."""
    return Prewarm(db)
