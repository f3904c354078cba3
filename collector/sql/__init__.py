"""The one read path for SQL given by a person or a program: the parser-based guard and the
sandboxed read-only runner (`hoptrace sql`, `collector.query`, the TUI console)."""

from __future__ import annotations

from collector.sql._guard import ParseError, Refused, check
from collector.sql._runner import query, run_guarded, sandboxed_read_connection

__all__ = ["ParseError", "Refused", "check", "query", "run_guarded", "sandboxed_read_connection"]
