"""Text formatting of durations, costs, tokens and times: the collector's, so the TUI and the
CLI texts (e.g. `hoptrace graph`) spell numbers the same way."""

from __future__ import annotations

from collector.queries import fmt_ago, fmt_cost, fmt_duration, fmt_time, fmt_tokens, truncate

__all__ = ["fmt_ago", "fmt_cost", "fmt_duration", "fmt_time", "fmt_tokens", "truncate"]
