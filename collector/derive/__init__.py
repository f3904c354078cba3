"""Whole-trace facts computed once for every trace a write touches: effective agent, error
roles and root cause, critical path, rollups and handoff edges (set-based SQL over staged rows)."""

from __future__ import annotations

from collector.derive._trace import DERIVE_COLUMNS, derive, drop_temp

__all__ = ["DERIVE_COLUMNS", "derive", "drop_temp"]
