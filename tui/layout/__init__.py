"""Pure layout maths for the TUI: no Textual, no DuckDB; tested on their own."""

from __future__ import annotations

from .cost import CostLine, CostTable, cost_table, critical_shares, share_bar
from .error_paths import ErrorPath, Hop, error_paths
from .lines import Line, cost_lines, error_lines
from .timeline import Bar, TimeWindow, axis_line, bar_cells, bar_geometry, pan, run_extent, zoom
from .tree import ICONS, SpanTree, TreeRow, build_tree, category, flatten, handoff_targets

__all__ = [
    "ICONS",
    "Bar",
    "CostLine",
    "CostTable",
    "ErrorPath",
    "Hop",
    "Line",
    "SpanTree",
    "TimeWindow",
    "TreeRow",
    "axis_line",
    "bar_cells",
    "bar_geometry",
    "build_tree",
    "category",
    "cost_lines",
    "cost_table",
    "critical_shares",
    "error_lines",
    "error_paths",
    "flatten",
    "handoff_targets",
    "pan",
    "run_extent",
    "share_bar",
    "zoom",
]
