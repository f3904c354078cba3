"""Agents across runs: how each agent behaves over the runs of a filter.

One grouped statement over the `agents` view (one row per run and agent), the
`runs` view (status, root cause) and the agent spans (per-invocation latency),
so the agents screen opens in well under a second over 10k runs; the worst runs
and the plot series of one agent are separate, bounded reads made on selection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from collector.queries._read import DB, Reader, _connect
from collector.queries._runs import _where
from collector.queries._types import RunFilter

__all__ = [
    "AGENT_SORT_KEYS",
    "AgentRun",
    "AgentSeries",
    "AgentStats",
    "agent_runs",
    "agent_series",
    "agents_across",
]

MAX_AGENTS = 500
MAX_POINTS = 2000


@dataclass(frozen=True, slots=True)
class AgentStats:
    """One agent over the filtered runs."""

    agent: str
    runs: int
    invocations: int
    p50_ms: float | None
    p95_ms: float | None
    error_rate: float
    """Share of the runs it took part in where it had an ERROR span."""
    root_cause_share: float | None
    """Share of the failed runs (of the filter) whose root cause it was; None: no failed run."""
    critical_path_share: float | None
    """Mean share of the run's critical path spent in its own work."""
    cost_per_run: float | None
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True, slots=True)
class AgentRun:
    """One run as one agent saw it (for the worst-runs list)."""

    trace_id: str
    name: str | None
    status: str
    start_ns: int
    duration_ms: float | None
    cost_usd: float | None
    error_count: int
    root_cause: bool


@dataclass(frozen=True, slots=True)
class AgentSeries:
    """What the agent's plots draw: per run (start, its time, its cost), invocation latencies."""

    start_ns: tuple[int, ...]
    duration_ms: tuple[float, ...]
    cost_usd: tuple[float | None, ...]
    latencies_ms: tuple[float, ...]


# Sort key shown to the user -> attribute of AgentStats (descending unless noted)
AGENT_SORT_KEYS: dict[str, str] = {
    "cost": "cost_per_run",
    "p95": "p95_ms",
    "p50": "p50_ms",
    "errors": "error_rate",
    "root cause": "root_cause_share",
    "critical": "critical_path_share",
    "invocations": "invocations",
    "tokens": "tokens",
    "name": "agent",
}


def _runs(flt: RunFilter) -> tuple[str, list[Any]]:
    where, params = _where(flt)
    return f"SELECT trace_id, status, root_cause_agent FROM runs{where}", params


_ACROSS_SQL = """
WITH r AS ({runs}),
failed AS (SELECT count(*) AS n FROM r WHERE status = 'ERROR'),
a AS (
    SELECT a.agent_name, count(*) AS runs, sum(a.invocations) AS invocations,
           avg(CASE WHEN a.error_count > 0 THEN 1.0 ELSE 0.0 END) AS error_rate,
           count(*) FILTER (WHERE r.status = 'ERROR' AND r.root_cause_agent = a.agent_name)
               AS caused,
           avg(a.critical_path_share) AS cp_share, avg(a.cost_usd) AS cost_per_run,
           sum(coalesce(a.input_tokens, 0)) AS tin, sum(coalesce(a.output_tokens, 0)) AS tout
    FROM agents a JOIN r USING (trace_id)
    WHERE a.agent_name IS NOT NULL
    GROUP BY a.agent_name
),
lat AS (
    SELECT s.agent_name, quantile_cont(s.duration_ms, 0.5) AS p50,
           quantile_cont(s.duration_ms, 0.95) AS p95
    FROM spans s {join}
    WHERE s.hoptrace_kind = 'agent' AND NOT coalesce(s.pending, false)
    GROUP BY s.agent_name
)
SELECT a.agent_name, a.runs, a.invocations, lat.p50, lat.p95, a.error_rate,
       CASE WHEN failed.n > 0 THEN a.caused / failed.n END, a.cp_share, a.cost_per_run,
       a.tin, a.tout
FROM a CROSS JOIN failed LEFT JOIN lat USING (agent_name)
ORDER BY a.agent_name LIMIT {limit}
"""


def agents_across(
    db: DB | Reader, flt: RunFilter | None = None, sort: str = "cost", descending: bool = True
) -> list[AgentStats]:
    """Every agent of the filtered runs, sorted by one of `AGENT_SORT_KEYS`."""
    flt = flt or RunFilter()
    runs, params = _runs(flt)
    where, _ = _where(flt)
    # no filter: skip the join on a million spans and read the agent spans directly
    join = f"JOIN ({runs}) fr USING (trace_id)" if where else ""
    sql = _ACROSS_SQL.format(runs=runs, join=join, limit=MAX_AGENTS)
    with _connect(db) as conn:
        rows = conn.execute(sql, params + (params if where else [])).fetchall()
    stats = [
        AgentStats(
            agent=r[0],
            runs=int(r[1]),
            invocations=int(r[2] or 0),
            p50_ms=r[3],
            p95_ms=r[4],
            error_rate=float(r[5] or 0.0),
            root_cause_share=None if r[6] is None else float(r[6]),
            critical_path_share=r[7],
            cost_per_run=r[8],
            input_tokens=int(r[9] or 0),
            output_tokens=int(r[10] or 0),
        )
        for r in rows
    ]
    return sort_agents(stats, sort, descending)


def sort_agents(stats: list[AgentStats], key: str, descending: bool = True) -> list[AgentStats]:
    """Sorted by a key of `AGENT_SORT_KEYS`; unknown values (None) always last."""
    attr = AGENT_SORT_KEYS.get(key, "cost_per_run")

    def value(s: AgentStats) -> Any:
        if attr == "tokens":
            return s.input_tokens + s.output_tokens
        return getattr(s, attr)

    known = [s for s in stats if value(s) is not None]
    unknown = [s for s in stats if value(s) is None]
    known.sort(key=lambda s: s.agent)
    known.sort(key=value, reverse=descending)
    return known + sorted(unknown, key=lambda s: s.agent)


def agent_runs(
    db: DB | Reader, agent: str, flt: RunFilter | None = None, limit: int = 20
) -> list[AgentRun]:
    """The agent's worst runs: failed by it first, then with its errors, then slowest."""
    runs, params = _runs(flt or RunFilter())
    sql = (
        f"WITH r AS ({runs}) SELECT a.trace_id, x.name, x.status, x.start_ns, a.duration_ms,"
        " a.cost_usd, a.error_count, r.status = 'ERROR' AND r.root_cause_agent = a.agent_name"
        " FROM agents a JOIN r USING (trace_id) JOIN runs x USING (trace_id)"
        " WHERE a.agent_name = ?"
        " ORDER BY 8 DESC, a.error_count DESC, a.duration_ms DESC NULLS LAST, a.trace_id"
        " LIMIT ?"
    )
    with _connect(db) as conn:
        rows = conn.execute(sql, [*params, agent, limit]).fetchall()
    return [
        AgentRun(
            r[0], r[1], r[2] or "UNSET", int(r[3] or 0), r[4], r[5], int(r[6] or 0), bool(r[7])
        )
        for r in rows
    ]


def agent_series(db: DB | Reader, agent: str, flt: RunFilter | None = None) -> AgentSeries:
    """The newest `MAX_POINTS` runs of the agent (oldest first) and as many invocation latencies."""
    flt = flt or RunFilter()
    runs, params = _runs(flt)
    where, _ = _where(flt)
    with _connect(db) as conn:
        points = conn.execute(
            f"WITH r AS ({runs}) SELECT * FROM (SELECT x.start_ns, a.duration_ms, a.cost_usd"
            " FROM agents a JOIN r USING (trace_id) JOIN runs x USING (trace_id)"
            " WHERE a.agent_name = ? AND a.duration_ms IS NOT NULL"
            " ORDER BY x.start_ns DESC LIMIT ?) ORDER BY start_ns",
            [*params, agent, MAX_POINTS],
        ).fetchall()
        inside = f" AND trace_id IN (SELECT trace_id FROM runs{where})" if where else ""
        latencies = conn.execute(
            "SELECT duration_ms FROM spans WHERE hoptrace_kind = 'agent' AND agent_name = ?"
            f" AND duration_ms IS NOT NULL AND NOT coalesce(pending, false){inside}"
            " ORDER BY start_ns DESC LIMIT ?",
            [agent, *(params if where else []), MAX_POINTS],
        ).fetchall()
    return AgentSeries(
        tuple(int(p[0] or 0) for p in points),
        tuple(float(p[1]) for p in points),
        tuple(p[2] for p in points),
        tuple(float(x[0]) for x in latencies),
    )
