"""hoptrace's terminal UI: runs, waterfall with critical path, error paths, cost, live."""

from __future__ import annotations

__all__ = ["HoptraceApp"]


def __getattr__(name: str) -> object:
    # lazy: importing `tui` (e.g. for `tui.layout`) must not pull in Textual
    if name == "HoptraceApp":
        from tui.app import HoptraceApp

        return HoptraceApp
    raise AttributeError(name)
