"""The waterfall: the span tree on the left, time bars on one shared axis on the right.

Line API like the runs list: only visible rows are rendered, rendered rows are
cached by everything that changes their look. All geometry comes from
`tui.layout` (tree flattening, zoom / pan windows, bar cells).

What matters survives a monochrome terminal and copied text: the span where a failure
started, a rejected output and the critical path have their own glyphs (not only a
colour), explained by the legend line under the spans.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.strip import Strip

from collector.queries import RunBundle, SpanRow
from tui.layout import (
    ICONS,
    SpanTree,
    TimeWindow,
    TreeRow,
    axis_line,
    bar_cells,
    bar_geometry,
    build_tree,
    category,
    flatten,
    handoff_targets,
    pan,
    run_extent,
    zoom,
)
from tui.layout.fmt import fmt_duration, truncate
from tui.messages import OpenSpan
from tui.widgets._cursor import CURSOR_BINDINGS, RowCursor

__all__ = ["Waterfall"]

DURATION_W = 8
ORIGIN_MARK = "⚑"
"""After the name of the span where a failure started (error role origin)."""
REJECTED_MARK = "⊘"
"""After the name of a span whose output a reviewer rejected."""
ERROR_MARK = "✗"
CRITICAL_MARK = "»"
"""Before the duration of a span on the critical path."""
LEGEND = (
    f" {ORIGIN_MARK} failure started here   {REJECTED_MARK} output rejected   "
    f"{ERROR_MARK} failed   {CRITICAL_MARK} on the critical path   … still running"
)


class Waterfall(RowCursor, can_focus=True):
    """Collapsible span tree with a zoomable time axis."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *CURSOR_BINDINGS,
        Binding("left", "collapse", "Collapse", show=False),
        Binding("right", "expand", "Expand", show=False),
        Binding("space", "fold", "Fold"),
        Binding("plus,equals_sign", "zoom(0.5)", "Zoom in"),
        Binding("minus", "zoom(2.0)", "Zoom out"),
        Binding("less_than_sign,h", "pan(-0.25)", "Pan ←"),
        Binding("greater_than_sign,l", "pan(0.25)", "Pan →"),
        Binding("0", "reset_zoom", "Fit"),
        Binding("n", "next_error", "Next error"),
        Binding("enter", "open", "Span detail"),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "waterfall--axis",
        "waterfall--cursor",
        "waterfall--error",
        "waterfall--critical",
        "waterfall--pending",
        "waterfall--muted",
        "waterfall--workflow",
        "waterfall--agent",
        "waterfall--handoff",
        "waterfall--tool",
        "waterfall--llm",
        "waterfall--span",
    }

    def __init__(self, trace_id: str, clock: Callable[[], float], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.trace_id = trace_id
        self.clock = clock
        self.span_tree: SpanTree = build_tree(())
        self.rows: list[TreeRow] = []
        self.collapsed: set[str] = set()
        self.cursor = 0
        self.extent = TimeWindow(0, 1)
        self.window = self.extent
        self._targets: frozenset[str] = frozenset()
        self._strips: LRUCache[tuple[object, ...], Strip] = LRUCache(2048)

    # --- data -----------------------------------------------------------------

    def set_bundle(self, bundle: RunBundle, tree: SpanTree | None = None) -> None:
        """Show a run's spans; a live reload keeps the zoom, folds and selected span.

        `tree` is `build_tree(bundle.spans)` when the caller made it off the UI thread.
        """
        selected = self.selected_span_id
        fitted = self.window == self.extent
        self.span_tree = tree if tree is not None else build_tree(bundle.spans)
        self._targets = handoff_targets(bundle.handoffs)
        self.extent = run_extent(bundle.spans, int(self.clock() * 1e9))
        if fitted or not (self.extent.start_ns <= self.window.start_ns < self.extent.end_ns):
            self.window = self.extent
        self.collapsed &= set(self.span_tree.by_id)
        self._relayout(selected)

    def tick(self) -> None:
        """While spans are pending, let the axis grow with the clock (no I/O)."""
        if not any(s.pending for s in self.span_tree.by_id.values()):
            return
        fitted = self.window == self.extent
        self.extent = run_extent(self.span_tree.by_id.values(), int(self.clock() * 1e9))
        if fitted:
            self.window = self.extent
        self._strips.clear()
        self.refresh()

    @property
    def selected_span_id(self) -> str | None:
        """The span under the cursor."""
        return self.rows[self.cursor].span.span_id if self.rows else None

    def _relayout(self, keep: str | None = None) -> None:
        self.rows = flatten(self.span_tree, self.collapsed)
        self._strips.clear()
        if keep is not None:
            for i, row in enumerate(self.rows):
                if row.span.span_id == keep:
                    self.cursor = i
                    break
        self.cursor = max(0, min(self.cursor, len(self.rows) - 1))
        self.virtual_size = Size(self.size.width, len(self.rows) + 2)
        self._scroll_to_cursor()
        self.refresh()

    def reveal(self, span_id: str) -> bool:
        """Unfold a span's ancestors and put the cursor on it."""
        if span_id not in self.span_tree.by_id:
            return False
        self.collapsed -= set(self.span_tree.ancestors(span_id))
        self._relayout(span_id)
        return True

    # --- rendering ------------------------------------------------------------

    def _name_width(self, width: int) -> int:
        return max(20, min(60, int(width * 0.38)))

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        name_w = self._name_width(width)
        lane_w = max(0, width - name_w - DURATION_W - 2)
        if y == 0:
            text = f"{'SPAN':<{name_w}}{'DURATION':>{DURATION_W}}  " + axis_line(
                self.window, self.extent, lane_w
            )
            return Strip(
                [Segment(text.ljust(width), self.get_component_rich_style("waterfall--axis"))],
                width,
            )
        index = round(self.scroll_offset.y) + y - 1
        if index == len(self.rows) and self.rows:
            style = self.get_component_rich_style("waterfall--muted")
            return Strip([Segment(truncate(LEGEND, width).ljust(width), style)], width)
        if index >= len(self.rows):
            return Strip.blank(width, self.rich_style)
        row = self.rows[index]
        selected = index == self.cursor
        key = (index, row, width, selected, self.window, self.has_focus)
        strip = self._strips.get(key)
        if strip is None:
            strip = self._render_row(row, name_w, lane_w, width, selected)
            self._strips[key] = strip
        return strip

    def _label(self, row: TreeRow, name_w: int) -> str:
        span = row.span
        fold = ("▸" if row.collapsed else "▾") if row.has_children else " "
        icon = ICONS[category(span, self._targets)]
        marks = ""
        if span.error_role == "origin":
            marks += f" {ORIGIN_MARK}"
        elif span.error_role == "rejected":
            marks += f" {REJECTED_MARK}"
        if span.status == "ERROR":
            marks += f" {ERROR_MARK}"
        if span.pending:
            marks += " …"
        if row.orphan:
            marks += " (orphan)"
        indent = "  " * min(row.depth, name_w // 4)
        head = f"{indent}{fold}{icon} "
        return head + truncate(span.name, name_w - len(head) - len(marks)) + marks

    def _render_row(
        self, row: TreeRow, name_w: int, lane_w: int, width: int, selected: bool
    ) -> Strip:
        span = row.span
        base = self.rich_style
        if selected:
            base = base + self.get_component_rich_style("waterfall--cursor")
        cat = category(span, self._targets)
        name_style = base + Style.from_color(
            self.get_component_rich_style(f"waterfall--{cat}").color
        )
        if span.status == "ERROR":
            name_style = base + Style.from_color(
                self.get_component_rich_style("waterfall--error").color
            )
        if span.pending:
            bar_class = "waterfall--pending"
        elif span.status == "ERROR":
            bar_class = "waterfall--error"
        elif span.on_critical_path:
            bar_class = "waterfall--critical"
        else:
            bar_class = f"waterfall--{cat}"
        bar_style = base + Style.from_color(self.get_component_rich_style(bar_class).color)
        end = None if span.pending else span.end_ns
        bar = bar_geometry(span.start_ns, end, self.window, lane_w)
        if span.pending:  # still running: time so far by the (injectable) clock
            duration = fmt_duration(max(0.0, self.clock() * 1e3 - span.start_ns / 1e6)) + "…"
        else:
            duration = fmt_duration(((span.end_ns or span.start_ns) - span.start_ns) / 1e6)
        if span.on_critical_path:
            duration = f"{CRITICAL_MARK}{duration}"
        label = self._label(row, name_w).ljust(name_w)
        dur_style = base
        if span.on_critical_path:
            dur_style = base + self.get_component_rich_style("waterfall--critical")
        segments = [
            Segment(label, name_style),
            Segment(f"{duration:>{DURATION_W}}  ", dur_style),
            Segment(bar_cells(bar, lane_w), bar_style),
        ]
        used = name_w + DURATION_W + 2 + lane_w
        segments.append(Segment(" " * max(0, width - used), base))
        return Strip(segments, width)

    # --- moving, folding, zooming ---------------------------------------------

    def row_count(self) -> int:
        """Visible (unfolded) rows of the tree."""
        return len(self.rows)

    def action_collapse(self) -> None:
        """Fold the selected span, or go to its parent if it is folded or a leaf."""
        if not self.rows:
            return
        row = self.rows[self.cursor]
        if row.has_children and not row.collapsed:
            self.collapsed.add(row.span.span_id)
            self._relayout(row.span.span_id)
        elif row.span.parent_span_id in self.span_tree.by_id:
            self._relayout(row.span.parent_span_id)

    def action_expand(self) -> None:
        """Unfold the selected span."""
        if self.rows and self.rows[self.cursor].collapsed:
            sid = self.rows[self.cursor].span.span_id
            self.collapsed.discard(sid)
            self._relayout(sid)

    def action_fold(self) -> None:
        """Fold or unfold."""
        if self.rows and self.rows[self.cursor].collapsed:
            self.action_expand()
        else:
            self.action_collapse()

    def _set_window(self, window: TimeWindow) -> None:
        self.window = window
        self._strips.clear()
        self.refresh()

    def action_zoom(self, factor: float) -> None:
        """Zoom the time axis around the selected span's start."""
        center = None
        if self.rows:
            start = self.rows[self.cursor].span.start_ns
            if self.window.start_ns <= start <= self.window.end_ns:
                center = start
        self._set_window(zoom(self.window, self.extent, factor, center))

    def action_pan(self, fraction: float) -> None:
        """Move the time axis by a fraction of the window."""
        self._set_window(pan(self.window, self.extent, fraction))

    def action_reset_zoom(self) -> None:
        """Fit the whole run."""
        self._set_window(self.extent)

    def action_next_error(self) -> None:
        """Select the next span in error (wrapping), unfolding what hides it."""
        spans = [r.span for r in flatten(self.span_tree)]
        if not spans:
            return
        current = self.selected_span_id
        start = next((i for i, s in enumerate(spans) if s.span_id == current), -1)
        for step in range(1, len(spans) + 1):
            span: SpanRow = spans[(start + step) % len(spans)]
            if span.status == "ERROR":
                self.reveal(span.span_id)
                return
        self.notify("No errors in this run.")

    def action_open(self) -> None:
        """Details of the selected span."""
        if self.rows:
            self.post_message(OpenSpan(self.trace_id, self.rows[self.cursor].span.span_id))

    def on_click(self, event: events.Click) -> None:
        """Select a row; double click opens it; a click on the fold mark folds."""
        if event.y == 0:
            return
        index = round(self.scroll_offset.y) + event.y - 1
        if 0 <= index < len(self.rows):
            self._move_to(index)
            if event.chain >= 2:
                self.action_open()

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.rows) + 2)
        self._strips.clear()

    def on_focus(self) -> None:
        self._strips.clear()

    def on_blur(self) -> None:
        self._strips.clear()
