"""`?`: the keys of the screen underneath, generated from its bindings."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

__all__ = ["HelpScreen", "key_table"]

_KEY_NAMES = {
    "question_mark": "?",
    "slash": "/",
    "colon": ":",
    "plus": "+",
    "minus": "-",
    "equals_sign": "=",
    "less_than_sign": "<",
    "greater_than_sign": ">",
    "escape": "esc",
}


def _keys(key: str) -> str:
    return " ".join(_KEY_NAMES.get(k, k) for k in key.split(","))


def key_table(screen: Screen[object]) -> str:
    """Every binding active on `screen` (its focused widget, the screen, the app)."""
    lines: list[str] = []
    seen: set[str] = set()
    for _node, binding in _active(screen):
        if binding.description and binding.description not in seen:
            seen.add(binding.description)
            lines.append(f"{_keys(binding.key):>14}  {binding.description}")
    return "\n".join(lines)


def _active(screen: Screen[object]) -> list[tuple[object, Binding]]:
    nodes: list[object] = []
    focused = screen.focused
    if focused is not None:
        nodes.extend(focused.ancestors_with_self)
    else:
        nodes.extend([screen, screen.app])
    out: list[tuple[object, Binding]] = []
    for node in nodes:
        for binding in getattr(node, "BINDINGS", []):
            if isinstance(binding, Binding):
                out.append((node, binding))
    return out


class HelpScreen(ModalScreen[None]):
    """Lists the keys; any of esc, q, ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "app.pop_screen", "Close help"),
    ]

    def __init__(self, below: Screen[object]) -> None:
        super().__init__()
        self.below = below

    def compose(self) -> ComposeResult:
        text = key_table(self.below)
        with VerticalScroll(id="help"):
            yield Static("Keys", classes="section-title")
            yield Static(text, id="help-keys", markup=False)
            yield Static(
                "Mouse: click a row to select, double-click to open, click a runs-list header to sort.",
                classes="muted",
            )
