"""Whole-trace facts computed once for every trace a write touches: effective agent, error
roles and root cause, critical path, rollups, handoff edges and their content lineage
(set-based SQL over staged rows)."""

from __future__ import annotations

from collector.derive._lineage import LINEAGE_PROBE, MIN_LINEAGE
from collector.derive._trace import DERIVE_COLUMNS, derive, drop_temp

__all__ = ["DERIVE_COLUMNS", "LINEAGE_PROBE", "MIN_LINEAGE", "derive", "drop_temp"]
