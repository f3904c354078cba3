"""Comparing two groups of runs (by a run attribute, a runs column, the day, or a date split).

`group_stats` and `compare_groups` are pure; `read_groups` fetches per-run numbers
(bounded: the newest MAX_GROUP_RUNS runs of each group) through the read door.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from collector.queries._read import DB, Reader, _connect

__all__ = [
    "MAX_GROUP_RUNS",
    "GroupComparison",
    "GroupRun",
    "GroupStats",
    "GroupingError",
    "compare_groups",
    "group_stats",
    "groups_compare",
    "percentile",
    "verdict",
]

MAX_GROUP_RUNS = 100_000
RUN_COLUMNS = ("name", "service_name", "status", "conversation_id", "root_cause_agent")
"""Columns of `runs` that can be grouped by directly (a whitelist: they become SQL)."""
RUN_ATTRIBUTE_PREFIX = "hoptrace.run."


class GroupingError(ValueError):
    """The grouping asked for cannot be done (unknown group, fewer than two groups...)."""


@dataclass(frozen=True, slots=True)
class GroupRun:
    """The numbers of one run a group comparison uses."""

    status: str
    duration_ms: float | None
    cost_usd: float | None
    llm_calls: int


@dataclass(frozen=True, slots=True)
class GroupStats:
    """One group: latency percentiles, cost and calls per run, failure rate."""

    name: str
    runs: int
    finished: int
    failed: int
    p50_ms: float | None
    p95_ms: float | None
    cost_per_run_usd: float | None
    """Mean over the runs whose cost is known (None if none is)."""
    model_calls_per_run: float | None
    truncated: bool = False
    """The group had more runs than were read (the newest MAX_GROUP_RUNS count)."""

    @property
    def failure_rate(self) -> float | None:
        """Failed / finished (a running run is neither)."""
        return self.failed / self.finished if self.finished else None


@dataclass(frozen=True, slots=True)
class GroupComparison:
    """Group `a` against group `b`; ratios are a over b."""

    grouping: str
    a: GroupStats
    b: GroupStats
    others: tuple[tuple[str, int], ...] = ()
    """Every group found (name, runs), largest first, for the user to pick from."""

    @property
    def latency_ratio(self) -> float | None:
        """a's p50 / b's p50 (below 1: a is faster)."""
        return _ratio(self.a.p50_ms, self.b.p50_ms)

    @property
    def cost_ratio(self) -> float | None:
        """a's cost per run / b's."""
        return _ratio(self.a.cost_per_run_usd, self.b.cost_per_run_usd)

    @property
    def calls_ratio(self) -> float | None:
        """a's model calls per run / b's."""
        return _ratio(self.a.model_calls_per_run, self.b.model_calls_per_run)

    @property
    def verdict(self) -> str:
        """The comparison in one line."""
        return verdict(self)


def _ratio(x: float | None, y: float | None) -> float | None:
    if x is None or y is None or y == 0:
        return None
    return x / y


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile, `q` in 0..1 (DuckDB's quantile_cont); None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def group_stats(name: str, runs: Sequence[GroupRun], *, truncated: bool = False) -> GroupStats:
    """Percentiles of finished runs' latency, mean known cost and calls, failure rate."""
    finished = [r for r in runs if r.status != "RUNNING"]
    latencies = [r.duration_ms for r in finished if r.duration_ms is not None]
    costs = [r.cost_usd for r in runs if r.cost_usd is not None]
    return GroupStats(
        name=name,
        runs=len(runs),
        finished=len(finished),
        failed=sum(r.status == "ERROR" for r in finished),
        p50_ms=percentile(latencies, 0.5),
        p95_ms=percentile(latencies, 0.95),
        cost_per_run_usd=sum(costs) / len(costs) if costs else None,
        model_calls_per_run=sum(r.llm_calls for r in runs) / len(runs) if runs else None,
        truncated=truncated,
    )


def compare_groups(
    grouping: str,
    a: GroupStats,
    b: GroupStats,
    others: Sequence[tuple[str, int]] = (),
) -> GroupComparison:
    """Group `a` against group `b`."""
    return GroupComparison(grouping, a, b, tuple(others))


def _times(ratio: float, more: str, less: str) -> str:
    if ratio >= 1:
        return f"{ratio:.1f}x {more}"
    return f"{1 / ratio:.1f}x {less}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}"


def verdict(c: GroupComparison) -> str:
    """E.g. "baseline: 3.2x faster, 0.7x cost, 0.2x model calls, failure rate 10% vs 30%"."""
    parts: list[str] = []
    lat = c.latency_ratio
    if lat is not None and lat > 0:
        parts.append(_times(1 / lat, "faster", "slower") + " (p50)")
    if c.cost_ratio is not None:
        parts.append(f"{c.cost_ratio:.2g}x cost")
    if c.calls_ratio is not None:
        parts.append(f"{c.calls_ratio:.2g}x model calls")
    parts.append(f"failure rate {_pct(c.a.failure_rate)} vs {_pct(c.b.failure_rate)}")
    return f"{c.a.name} vs {c.b.name}: " + ", ".join(parts)


def _key_sql(group_by: str | None, split_at: datetime | None) -> tuple[str, list[Any], str]:
    """SQL for a run's group, its parameters, and the grouping's name."""
    if split_at is not None:
        when = split_at.isoformat(sep=" ")
        return (
            "CASE WHEN start_time < CAST(? AS TIMESTAMP) THEN 'before' ELSE 'after' END",
            [when],
            f"start before / after {when}",
        )
    if not group_by:
        raise GroupingError("give an attribute to group by, or a date to split at")
    if group_by in ("date", "day"):
        return "strftime(start_time, '%Y-%m-%d')", [], "day (UTC)"
    if group_by in RUN_COLUMNS:
        return f"CAST({group_by} AS VARCHAR)", [], group_by
    name = group_by if "." in group_by else RUN_ATTRIBUTE_PREFIX + group_by
    path = '$."' + name.replace('"', "") + '"'
    return "json_extract_string(attributes, ?)", [path], name


def groups_compare(
    db: DB | Reader,
    group_by: str | None = None,
    groups: Sequence[str] | None = None,
    *,
    split_at: datetime | None = None,
    max_runs: int = MAX_GROUP_RUNS,
) -> GroupComparison:
    """Compare two groups of runs; without `groups`, the two largest (by name on a tie)."""
    key, params, grouping = _key_sql(group_by, split_at)
    with _connect(db) as conn:
        found = conn.execute(
            f"SELECT g, count(*) AS n FROM (SELECT {key} AS g FROM runs) WHERE g IS NOT NULL"
            " GROUP BY g ORDER BY n DESC, g LIMIT 50",
            params,
        ).fetchall()
        others = [(str(g), int(n)) for g, n in found]
        if groups:
            if len(groups) != 2:
                raise GroupingError("give exactly two groups")
            chosen = list(groups)
        elif split_at is not None:
            chosen = ["before", "after"]
        else:
            if len(others) < 2:
                names = ", ".join(g for g, _ in others) or "none"
                raise GroupingError(f"{grouping}: need two groups of runs, found {names}")
            chosen = sorted(g for g, _ in others[:2])
        known = {g for g, _ in others}
        for g in chosen:
            if g not in known:
                names = ", ".join(n for n, _ in others) or "none"
                raise GroupingError(f"{grouping}: no runs in group {g!r} (groups: {names})")
        stats: list[GroupStats] = []
        for g in chosen:
            rows = conn.execute(
                f"SELECT status, duration_ms, cost_usd, llm_calls FROM runs WHERE {key} = ?"
                " ORDER BY start_ns DESC LIMIT ?",
                [*params, g, max_runs + 1],
            ).fetchall()
            runs = [GroupRun(s or "UNSET", d, c, int(n or 0)) for s, d, c, n in rows[:max_runs]]
            stats.append(group_stats(g, runs, truncated=len(rows) > max_runs))
    return compare_groups(grouping, stats[0], stats[1], others)
