"""Waterfall geometry: one shared time axis, zoom and pan, bars in character cells."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from collector.queries import SpanRow

__all__ = [
    "Bar",
    "TimeWindow",
    "axis_line",
    "bar_cells",
    "bar_geometry",
    "pan",
    "run_extent",
    "zoom",
]

MIN_WINDOW_NS = 1_000  # 1 µs: zooming further shows nothing new

# Cell glyphs: a finished bar is solid; a pending one fades out to the window's
# edge ("still running"); arrows say the bar continues outside the window.
FULL, PENDING_BODY, PENDING_TIP, CLIP_LEFT, CLIP_RIGHT = "█", "▒", "▷", "◀", "▶"


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """The visible part of the time axis, [start_ns, end_ns)."""

    start_ns: int
    end_ns: int

    @property
    def width_ns(self) -> int:
        """Length of the window (at least 1 ns)."""
        return max(1, self.end_ns - self.start_ns)


def run_extent(spans: Iterable[SpanRow], now_ns: int) -> TimeWindow:
    """From the first start to the last end; a pending span reaches `now_ns`."""
    start = end = None
    for s in spans:
        stop = max(s.start_ns, now_ns) if s.pending or s.end_ns is None else s.end_ns
        start = s.start_ns if start is None else min(start, s.start_ns)
        end = stop if end is None else max(end, stop)
    if start is None or end is None:
        return TimeWindow(0, MIN_WINDOW_NS)
    return TimeWindow(start, max(end, start + MIN_WINDOW_NS))


def zoom(
    window: TimeWindow, extent: TimeWindow, factor: float, center_ns: int | None = None
) -> TimeWindow:
    """Scale the window by `factor` (<1 zooms in) around `center_ns`, kept inside `extent`."""
    center = window.start_ns + window.width_ns // 2 if center_ns is None else center_ns
    width = int(window.width_ns * factor)
    width = max(MIN_WINDOW_NS, min(width, extent.width_ns))
    # keep `center` at the same relative position in the window
    rel = (center - window.start_ns) / window.width_ns
    start = int(center - rel * width)
    return _clamp(start, width, extent)


def pan(window: TimeWindow, extent: TimeWindow, fraction: float) -> TimeWindow:
    """Move the window by `fraction` of its width (negative = earlier), inside `extent`."""
    return _clamp(window.start_ns + int(window.width_ns * fraction), window.width_ns, extent)


def _clamp(start: int, width: int, extent: TimeWindow) -> TimeWindow:
    start = max(extent.start_ns, min(start, extent.end_ns - width))
    return TimeWindow(start, start + width)


@dataclass(frozen=True, slots=True)
class Bar:
    """A span's bar in cells [start_col, end_col) of a `width`-cell lane."""

    start_col: int
    end_col: int
    clipped_left: bool
    clipped_right: bool
    open_ended: bool


def bar_geometry(start_ns: int, end_ns: int | None, window: TimeWindow, width: int) -> Bar | None:
    """Place a span on the lane; None when it lies wholly outside the window.

    `end_ns=None` is a pending span: it runs to the window's right edge. Spans too
    short for one cell still get one, so nothing on screen is invisible.
    """
    if width <= 0:
        return None
    open_ended = end_ns is None
    stop = window.end_ns if end_ns is None else end_ns
    if stop < window.start_ns or start_ns > window.end_ns:
        return None
    if open_ended and start_ns >= window.end_ns:
        return None
    scale = width / window.width_ns
    a = (start_ns - window.start_ns) * scale
    b = (stop - window.start_ns) * scale
    start_col = max(0, min(width - 1, math.floor(a)))
    end_col = max(start_col + 1, min(width, math.ceil(b)))
    return Bar(
        start_col=start_col,
        end_col=end_col,
        clipped_left=start_ns < window.start_ns,
        clipped_right=not open_ended and stop > window.end_ns,
        open_ended=open_ended,
    )


def bar_cells(bar: Bar | None, width: int) -> str:
    """The lane as text: spaces, the bar's glyphs, arrows where it leaves the window."""
    if bar is None or width <= 0:
        return " " * max(0, width)
    n = bar.end_col - bar.start_col
    if bar.open_ended:
        body = PENDING_BODY * (n - 1) + PENDING_TIP if n > 1 else PENDING_TIP
    else:
        body = FULL * n
    if bar.clipped_left:
        body = CLIP_LEFT + body[1:]
    if bar.clipped_right:
        body = body[:-1] + CLIP_RIGHT
    return " " * bar.start_col + body + " " * (width - bar.end_col)


def fmt_offset(ns: int) -> str:
    """A tick label: time since the run started."""
    ms = ns / 1e6
    if ns == 0:
        return "0ms"
    if ms < 1:
        return f"{ns / 1e3:.0f}µs"
    if ms < 1000:
        return f"{ms:.0f}ms"
    return f"{ms / 1000:.2f}s" if ms < 10_000 else f"{ms / 1000:.1f}s"


def axis_line(window: TimeWindow, extent: TimeWindow, width: int, every: int = 16) -> str:
    """Tick labels every `every` cells, as offsets from the run's start."""
    cells = [" "] * max(0, width)
    col = 0
    while col < width:
        label = "┊" + fmt_offset(
            window.start_ns - extent.start_ns + int(col / width * window.width_ns)
        )
        if col + len(label) > width:
            break
        cells[col : col + len(label)] = label
        col += max(every, len(label) + 1)
    return "".join(cells)
