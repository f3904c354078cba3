"""The read side the TUI uses: small typed functions over the public views.

Every query the terminal UI runs lives here, so the SQL sits next to the views it
reads and widgets never build SQL strings. Each function opens its own short
read-only connection through `collector.read_connection`, which is what lets a
pipeline in another process keep writing while the UI reads (the store retries
lock conflicts for us). Functions return plain frozen dataclasses so the layout
maths in `tui.layout` stay testable without DuckDB or Textual.
"""

from __future__ import annotations

from collector.queries._console import check_store, sql_console
from collector.queries._read import DB, Reader, reader
from collector.queries._run import load_run, span_detail
from collector.queries._runs import RUN_SORT_KEYS, max_ingested_ns, run_index, runs_count, runs_page
from collector.queries._types import (
    AgentRow,
    ErrorRow,
    HandoffRow,
    RecoveryMark,
    RejectMark,
    RunBundle,
    RunFilter,
    RunRow,
    RunSort,
    SpanDetail,
    SpanRow,
    SqlResult,
)

__all__ = [
    "DB",
    "RUN_SORT_KEYS",
    "AgentRow",
    "ErrorRow",
    "HandoffRow",
    "Reader",
    "RecoveryMark",
    "RejectMark",
    "RunBundle",
    "RunFilter",
    "RunRow",
    "RunSort",
    "SpanDetail",
    "SpanRow",
    "SqlResult",
    "check_store",
    "load_run",
    "max_ingested_ns",
    "reader",
    "run_index",
    "runs_count",
    "runs_page",
    "span_detail",
    "sql_console",
]
