"""The SQL console's editor: DuckDB-token highlighting, view / column completion, history keys.

Highlighting without tree-sitter (not installed, and a heavy extra for one
language): `collector.queries.sql_tokens` runs DuckDB's own tokenizer and the
ranges go into TextArea's highlight map, so the theme's syntax styles apply.
Completion is TextArea's inline suggestion (`tab` or `right` accepts it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import TextArea

from collector import queries

__all__ = ["SqlEditor", "complete"]

_WORD = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\.?([A-Za-z0-9_]*)$")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def complete(before: str, names: Mapping[str, tuple[str, ...]]) -> tuple[str, list[str]]:
    """(the word being typed, the names it may become), for the text before the cursor.

    After `view.` the candidates are that view's columns; otherwise the views and
    the columns of the views the statement mentions (all columns when it names
    none). Matching ignores case; candidates come sorted, views first.
    """
    m = _WORD.search(before)
    if m is None:
        return "", []
    if before[m.start() :].count(".") and m.group(1).lower() in names:
        word, pool = m.group(2), list(names[m.group(1).lower()])
    else:
        word = before[m.start() :]
        if "." in word:
            return "", []
        mentioned = {w.lower() for w in _IDENT.findall(before)} & set(names)
        columns = sorted(
            {c for v, cols in names.items() if not mentioned or v in mentioned for c in cols}
        )
        pool = sorted(names) + [c for c in columns if c not in names]
    low = word.lower()
    if not low:
        return word, []
    return word, [n for n in dict.fromkeys(pool) if n.lower().startswith(low) and n != word]


def _common_prefix(words: list[str]) -> str:
    first, last = min(words), max(words)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]


class SqlEditor(TextArea):
    """A multi-line SQL editor; `enter` runs, `ctrl+n` starts a new line."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # enter and tab are taken in `_on_key` (TextArea would insert them); listed for the key bar
        Binding("enter", "submit", "Run"),
        Binding("tab", "accept", "Complete", show=False),
        Binding("ctrl+n", "newline", "New line", show=False),
        Binding("ctrl+up", "recall(-1)", "Older query"),
        Binding("ctrl+down", "recall(1)", "Newer query", show=False),
    ]

    @dataclass
    class Submitted(Message):
        """`enter`: run the statement."""

        sql: str

    @dataclass
    class Recall(Message):
        """`ctrl+up` / `ctrl+down` (or `up` on the first line, `down` on the last)."""

        step: int

    @dataclass
    class Candidates(Message):
        """The names the word at the cursor may complete to (empty: none)."""

        names: list[str]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            id=id,
            soft_wrap=True,
            show_line_numbers=False,
            tab_behavior="focus",
            placeholder="SELECT * FROM runs ORDER BY start_time DESC",
        )
        self.names: dict[str, tuple[str, ...]] = {}

    @property
    def value(self) -> str:
        """The statement (an `Input`-like name, so callers and tests need not care)."""
        return self.text

    @value.setter
    def value(self, text: str) -> None:
        self.load_text(text)
        self.move_cursor(self.document.end)

    def _build_highlight_map(self) -> None:
        self._line_cache.clear()
        self._highlights.clear()
        lines = self.document.lines
        starts, offset = [], 0
        for line in lines:
            starts.append(offset)
            offset += len(line) + 1  # the document joins lines with one "\n"
        row = 0
        for start, end, kind in queries.sql_tokens("\n".join(lines)):
            if kind == "identifier":
                continue
            while row + 1 < len(starts) and starts[row + 1] <= start:
                row += 1
            r = row
            while start < end and r < len(lines):
                line = lines[r]
                col_start = start - starts[r]
                col_end = min(end - starts[r], len(line))
                # TextArea's highlight columns are UTF-8 byte offsets
                self._highlights[r].append(
                    (
                        len(line[:col_start].encode()),
                        len(line[:col_end].encode()),
                        kind,
                    )
                )
                r += 1
                start = starts[r] if r < len(starts) else end

    def update_suggestion(self) -> None:
        row, col = self.cursor_location
        line = self.document[row]
        if col < len(line) and (line[col].isalnum() or line[col] == "_"):
            self.suggestion = ""  # inside a word: nothing to add at its end
            self.post_message(self.Candidates([]))
            return
        word, names = complete(line[:col], self.names)
        if not names:
            self.suggestion = ""
        else:
            prefix = _common_prefix([n.lower() for n in names])
            base = names[0] if len(names) == 1 else names[0][: len(prefix)]
            self.suggestion = base[len(word) :]
        self.post_message(self.Candidates(names[:12]))

    async def _on_key(self, event: events.Key) -> None:
        key = event.key
        if key == "enter":
            event.stop()
            event.prevent_default()
            self.action_submit()
            return
        if key == "tab" and self.suggestion:
            event.stop()
            event.prevent_default()
            self.action_accept()
            return
        row = self.cursor_location[0]
        if (key == "up" and row == 0) or (key == "down" and row == self.document.line_count - 1):
            event.stop()
            event.prevent_default()
            self.post_message(self.Recall(-1 if key == "up" else 1))
            return
        await super()._on_key(event)

    def action_submit(self) -> None:
        """Run the statement."""
        self.suggestion = ""
        self.post_message(self.Submitted(self.text))

    def action_accept(self) -> None:
        """Insert the suggested completion; with none, `tab` moves on to the results."""
        if self.suggestion:
            self.insert(self.suggestion)
        else:
            self.screen.focus_next()

    def action_newline(self) -> None:
        """A line break (for long statements; `enter` runs)."""
        self.insert("\n")

    def action_recall(self, step: int) -> None:
        """Older (-1) or newer (1) statement from the history."""
        self.post_message(self.Recall(step))
