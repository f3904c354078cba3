"""The character canvas the handoff graph is drawn on: text cells, line cells, styles.

A line cell keeps the directions it connects (north, east, south, west) so that
lines meeting in a cell turn into the right box-drawing character (a corner, a
tee, a crossing) when the canvas is rendered.
"""

from __future__ import annotations

from collections import defaultdict

__all__ = ["Canvas"]

N, E, S, W = 1, 2, 4, 8
_LINE = {
    N: "│", S: "│", N | S: "│", E: "─", W: "─", E | W: "─",
    S | E: "┌", S | W: "┐", N | E: "└", N | W: "┘",
    N | S | E: "├", N | S | W: "┤", E | W | S: "┬", E | W | N: "┴", N | E | S | W: "┼",
}  # fmt: skip
# a cell shared by several edges takes the most telling style
_PRIORITY = {"edge-error": 3, "edge-reject": 2, "edge-critical": 1, "edge": 0}


class Canvas:
    """Cells of text and of line directions; lines merge into box-drawing characters."""

    def __init__(self) -> None:
        self.chars: dict[tuple[int, int], str] = {}
        self.bits: dict[tuple[int, int], int] = defaultdict(int)
        self.style: dict[tuple[int, int], str] = {}

    def text(self, row: int, col: int, text: str, style: str) -> None:
        for i, ch in enumerate(text):
            self.chars[(row, col + i)] = ch
            self.style[(row, col + i)] = style

    def free(self, row: int, col: int, length: int) -> bool:
        return col >= 0 and all(
            (row, c) not in self.chars and not self.bits.get((row, c))
            for c in range(col - 1, col + length + 1)
        )

    def line(self, a: tuple[int, int], b: tuple[int, int], style: str, cells: set) -> None:
        (r1, c1), (r2, c2) = a, b
        if r1 == r2:
            lo, hi = sorted((c1, c2))
            for c in range(lo, hi + 1):
                self._mark((r1, c), (E if c < hi else 0) | (W if c > lo else 0), style, cells)
        else:
            lo, hi = sorted((r1, r2))
            for r in range(lo, hi + 1):
                self._mark((r, c1), (S if r < hi else 0) | (N if r > lo else 0), style, cells)

    def _mark(self, cell: tuple[int, int], bits: int, style: str, cells: set) -> None:
        self.bits[cell] |= bits
        cells.add(cell)
        if _PRIORITY.get(style, 0) >= _PRIORITY.get(self.style.get(cell, ""), -1):
            self.style[cell] = style

    def render(self) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
        cells = set(self.chars) | {c for c, b in self.bits.items() if b}
        height = max((r for r, _ in cells), default=-1) + 1
        width = max((c for _, c in cells), default=-1) + 1
        lines, styles = [], []
        for r in range(height):
            row = [" "] * width
            tags = [""] * width
            for c in range(width):
                ch = self.chars.get((r, c))
                if ch is None and self.bits.get((r, c)):
                    ch = _LINE.get(self.bits[(r, c)], "┼")
                if ch is not None:
                    row[c] = ch
                    tags[c] = self.style.get((r, c), "")
            lines.append("".join(row).rstrip())
            styles.append(tuple(tags[: len(lines[-1])]))
        return tuple(lines), tuple(styles)
