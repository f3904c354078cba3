"""The SQL console's history: one JSON line per statement in the user's state directory.

Kept out of the store on purpose: the store is opened read-only by the UI, and
what a user typed is theirs, not part of the traces. `HOPTRACE_STATE_DIR`
overrides the directory (tests, or a user who wants it elsewhere).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["MAX_ENTRIES", "STATE_DIR_ENV", "History", "history_path"]

STATE_DIR_ENV = "HOPTRACE_STATE_DIR"
MAX_ENTRIES = 500


def history_path() -> Path:
    """Where the console's history file lives."""
    override = os.environ.get(STATE_DIR_ENV)
    if override:
        return Path(override) / "sql_history.jsonl"
    import platformdirs

    return Path(platformdirs.user_state_dir("hoptrace")) / "sql_history.jsonl"


class History:
    """Statements oldest first, and a recall cursor for up / down."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or history_path()
        self.entries: list[str] = self._load()
        self.at = len(self.entries)  # len(entries) = "below the newest": the draft

    def _load(self) -> list[str]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError:
            return []
        out: list[str] = []
        for line in text.splitlines():
            try:
                value = json.loads(line)
            except ValueError:
                continue  # a torn last line from a crash loses one entry, not all
            if isinstance(value, str) and value.strip():
                out.append(value)
        return out[-MAX_ENTRIES:]

    def add(self, sql: str) -> None:
        """Remember a statement (not twice in a row) and save; a failed save is not fatal."""
        sql = sql.strip()
        if sql and (not self.entries or self.entries[-1] != sql):
            self.entries.append(sql)
            del self.entries[:-MAX_ENTRIES]
            self._save()
        self.at = len(self.entries)

    def _save(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text("".join(json.dumps(e) + "\n" for e in self.entries), encoding="utf-8")
            tmp.replace(self.path)
        except OSError:
            pass  # history is a convenience: an unwritable state dir must not stop queries

    def previous(self) -> str | None:
        """The statement before the one recalled last (None at the oldest)."""
        if self.at == 0:
            return None
        self.at -= 1
        return self.entries[self.at]

    def next(self) -> str | None:
        """The statement after the one recalled last; "" past the newest (a blank draft)."""
        if self.at >= len(self.entries):
            return None
        self.at += 1
        return self.entries[self.at] if self.at < len(self.entries) else ""
