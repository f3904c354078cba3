"""The runs list: a Line-API virtual view over paged queries of the `runs` view.

Only the rows on screen are rendered; rows come from pages of `PAGE_SIZE` runs
read by thread workers and kept in an LRU cache, rendered lines in a second LRU
keyed on everything that changes how a line looks. A live refresh swaps in new
pages only when they arrive, and keeps the selected run (by trace_id) under the
cursor at the same place on screen.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events, on, work
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.strip import Strip
from textual.worker import get_current_worker

from collector import queries
from collector.queries import RunFilter, RunRow, RunSort
from tui.layout.columns import RUN_COLUMNS, column_at, fit_columns, render_cells, run_cells
from tui.messages import OpenRun, RunsLoaded, RunsPageLoaded
from tui.widgets._cursor import CURSOR_BINDINGS, RowCursor
from tui.workers import ReportsWorkerErrors

__all__ = ["PAGE_SIZE", "RunsList"]

PAGE_SIZE = 200


def _sort_key(column: str) -> str:
    # AGE is the start time seen from now (and what is left of it at 80 columns)
    return "start" if column == "age" else column


class RunsList(ReportsWorkerErrors, RowCursor, can_focus=True):
    """Virtual list of runs with a sticky header row."""

    BINDINGS: ClassVar[list[BindingType]] = [*CURSOR_BINDINGS, Binding("enter", "open", "Open run")]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "runs-list--header",
        "runs-list--cursor",
        "runs-list--error",
        "runs-list--running",
        "runs-list--ok",
        "runs-list--loading",
    }

    def __init__(
        self, db: str | Path, clock: Callable[[], float], *, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.db = db
        self.clock = clock
        self.filter = RunFilter()
        self.sort = RunSort()
        self.count = 0
        self.cursor = 0
        self.selected_trace_id: str | None = None
        self.marked: list[str] = []
        """Runs marked for comparison (trace ids, at most two, oldest mark first)."""
        self.loaded = False
        """True once the first page arrived (the bench and tests wait on it)."""
        self._pages: LRUCache[int, list[RunRow]] = LRUCache(64)
        self._strips: LRUCache[tuple[object, ...], Strip] = LRUCache(1024)
        self._data_generation = 0
        self._requested_generation = 0
        self._pending_pages: set[int] = set()
        self._fetch_scheduled = False

    # --- data -----------------------------------------------------------------

    def set_query(self, flt: RunFilter, sort: RunSort) -> None:
        """Change the filter or the order; the selection follows its run."""
        self.filter, self.sort = flt, sort
        self.reload()

    def reload(self) -> None:
        """Re-read count and visible pages (after a store change or a new query)."""
        self._requested_generation += 1
        self._reload(
            self._requested_generation,
            self.filter,
            self.sort,
            self.selected_trace_id,
            self.cursor,
            round(self.scroll_offset.y),
            max(1, self.size.height - 1),
        )

    @work(
        thread=True,
        exclusive=True,
        group="runs-reload",
        exit_on_error=False,
        description="Reading runs",
    )
    def _reload(
        self,
        generation: int,
        flt: RunFilter,
        sort: RunSort,
        trace_id: str | None,
        cursor: int,
        scroll_y: int,
        rows_on_screen: int,
    ) -> None:
        with queries.reader(self.db) as db:  # one connection for the whole refresh
            count = queries.runs_count(db, flt)
            new_cursor = min(cursor, max(0, count - 1))
            if trace_id is not None:
                found = queries.run_index(db, flt, sort, trace_id)
                if found is not None:
                    new_cursor = found
            # keep the selected run at the same place on screen
            new_scroll = scroll_y + (new_cursor - cursor)
            if scroll_y == 0:
                # a view at the top stays there, so runs arriving above the selection
                # (newest first) show up in view; the clamp below still follows the
                # selection if it is pushed off the screen
                new_scroll = 0
            new_scroll = max(0, min(new_scroll, count - rows_on_screen, new_cursor))
            new_scroll = max(new_scroll, new_cursor - rows_on_screen + 1, 0)
            first, last = new_scroll // PAGE_SIZE, (new_scroll + rows_on_screen) // PAGE_SIZE
            pages = {
                p: queries.runs_page(db, flt, sort, p * PAGE_SIZE, PAGE_SIZE)
                for p in range(first, last + 1)
                if p * PAGE_SIZE < count
            }
        if not get_current_worker().is_cancelled:
            self.post_message(RunsLoaded(generation, count, pages, new_cursor, new_scroll))

    @on(RunsLoaded)
    def _on_runs_loaded(self, message: RunsLoaded) -> None:
        # not stopped: the screen shows the count from it
        if message.generation != self._requested_generation:
            return  # an older answer overtaken by a newer question
        self._data_generation = message.generation
        self._pages.clear()
        self._strips.clear()
        self._pending_pages.clear()
        for page, rows in message.pages.items():
            self._pages[page] = rows
        self.count = message.count
        self.cursor = message.cursor
        self.virtual_size = Size(self.size.width, self.count + 1)
        self.scroll_to(y=message.scroll_y, animate=False, immediate=True)
        self._remember_selection()
        self.loaded = True
        self.refresh()

    def _fetch_visible(self) -> None:
        self._fetch_scheduled = False
        first = round(self.scroll_offset.y)
        last = first + self.size.height
        wanted = {
            p
            for p in range(first // PAGE_SIZE, last // PAGE_SIZE + 1)
            if p * PAGE_SIZE < self.count and self._pages.get(p) is None
        } - self._pending_pages
        if wanted:
            self._pending_pages |= wanted
            self._load_pages(self._data_generation, self.filter, self.sort, sorted(wanted))

    @work(
        thread=True, group="runs-pages", exit_on_error=False, description="Reading a page of runs"
    )
    def _load_pages(self, generation: int, flt: RunFilter, sort: RunSort, pages: list[int]) -> None:
        with queries.reader(self.db) as db:
            loaded = {p: queries.runs_page(db, flt, sort, p * PAGE_SIZE, PAGE_SIZE) for p in pages}
        self.post_message(RunsPageLoaded(generation, loaded))

    @on(RunsPageLoaded)
    def _on_page_loaded(self, message: RunsPageLoaded) -> None:
        message.stop()
        self._pending_pages -= set(message.pages)
        if message.generation != self._data_generation:
            return
        for page, rows in message.pages.items():
            self._pages[page] = rows
        self._remember_selection()
        self.refresh()

    def row(self, index: int) -> RunRow | None:
        """The run at `index` if its page is loaded."""
        page = self._pages.get(index // PAGE_SIZE)
        if page is None:
            return None
        offset = index % PAGE_SIZE
        return page[offset] if offset < len(page) else None

    def _remember_selection(self) -> None:
        run = self.row(self.cursor)
        if run is not None:
            self.selected_trace_id = run.trace_id

    def toggle_mark(self, trace_id: str) -> None:
        """Mark a run for comparison, or unmark it; a third mark drops the oldest."""
        if trace_id in self.marked:
            self.marked.remove(trace_id)
        else:
            self.marked = [*self.marked, trace_id][-2:]
        self._strips.clear()
        self.refresh()

    def tick(self) -> None:
        """Redraw ages and running durations (clock-dependent text), no I/O."""
        self._strips.clear()
        self.refresh()

    # --- rendering ------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        placed = fit_columns(RUN_COLUMNS, width)
        if y == 0:
            return self._header(placed, width)
        index = round(self.scroll_offset.y) + y - 1
        if index >= self.count:
            return Strip.blank(width, self.rich_style)
        run = self.row(index)
        if run is None:
            if not self._fetch_scheduled:
                self._fetch_scheduled = True
                self.call_later(self._fetch_visible)
            style = self.get_component_rich_style("runs-list--loading")
            return Strip([Segment("…".ljust(width), style)], width)
        selected = index == self.cursor
        marked = run.trace_id in self.marked
        key = (index, run, width, selected, self.has_focus, self._data_generation, marked)
        strip = self._strips.get(key)
        if strip is None:
            strip = self._render_run(run, placed, width, selected, marked)
            self._strips[key] = strip
        return strip

    def _header(self, placed: list, width: int) -> Strip:
        arrow = "▼" if self.sort.descending else "▲"
        shown = {p.column.key for p in placed}
        # the arrow goes on the sorted column, or on AGE when START did not fit
        marked = self.sort.key if self.sort.key in shown or self.sort.key != "start" else "age"
        cells = {
            p.column.key: p.column.title + (arrow if p.column.key == marked else "") for p in placed
        }
        text = render_cells(placed, cells).ljust(width)
        return Strip([Segment(text, self.get_component_rich_style("runs-list--header"))], width)

    def _render_run(
        self, run: RunRow, placed: list, width: int, selected: bool, marked: bool = False
    ) -> Strip:
        cells = run_cells(run, int(self.clock() * 1e9))
        status_class = {
            "ERROR": "runs-list--error",
            "RUNNING": "runs-list--running",
        }.get(run.status, "runs-list--ok")
        base = self.rich_style
        if selected:
            base = base + self.get_component_rich_style("runs-list--cursor")
        status_style = base + Style.from_color(self.get_component_rich_style(status_class).color)
        segments: list[Segment] = []
        for i, p in enumerate(placed):
            one = render_cells([p.__class__(p.column, 0, p.width)], cells)
            hot = p.column.key in ("status", "cause")
            segments.append(Segment(one, status_style if hot else base))
            if i < len(placed) - 1:
                segments.append(Segment(" ", base))
        if marked and segments:  # a compare mark in the first cell's first column
            first = segments[0]
            segments[0] = Segment("◆" + first.text[1:], first.style)
        used = sum(len(s.text) for s in segments)
        segments.append(Segment(" " * max(0, width - used), base))
        return Strip(segments, width)

    # --- moving around --------------------------------------------------------

    def row_count(self) -> int:
        """Runs matching the filter (the list is virtual: most are not loaded)."""
        return self.count

    def cursor_moved(self) -> None:
        """Keep the selection by trace id so live reloads do not make it jump."""
        self._remember_selection()

    def action_open(self) -> None:
        """Open the selected run."""
        run = self.row(self.cursor)
        if run is not None:
            self.post_message(OpenRun(run.trace_id))

    def on_click(self, event: events.Click) -> None:
        """Header click sorts by that column; a row click selects, a double click opens."""
        if event.y == 0:
            column = column_at(fit_columns(RUN_COLUMNS, self.size.width), event.x)
            key = None if column is None else _sort_key(column.key)
            if key in queries.RUN_SORT_KEYS:
                descending = not self.sort.descending if key == self.sort.key else True
                self.set_query(self.filter, RunSort(key, descending))
            return
        self._move_to(round(self.scroll_offset.y) + event.y - 1)
        if event.chain >= 2:
            self.action_open()

    def on_focus(self) -> None:
        self._strips.clear()
        self.refresh()

    def on_blur(self) -> None:
        self._strips.clear()
        self.refresh()

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, self.count + 1)
        self._strips.clear()
