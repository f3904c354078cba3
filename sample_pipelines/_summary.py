"""The demo's summary, read back from the trace store through the public SQL views.

This is the one module of `sample_pipelines` that reads the store (the pipeline
itself only uses the tracer); it goes through `collector.query` like any user would.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["BATCH_RUNS", "Summary", "read_summary"]

BATCH_RUNS = """
SELECT r.*,
       json_extract_string(r.attributes, '$."hoptrace.run.variant"') AS variant,
       json_extract_string(r.attributes, '$."hoptrace.run.fault"') AS fault,
       json_extract_string(r.attributes, '$."hoptrace.run.fault_agent"') AS fault_agent,
       json_extract_string(r.attributes, '$."hoptrace.run.expected_outcome"') AS expected_outcome,
       CAST(json_extract(r.attributes, '$."hoptrace.run.run_index"') AS INTEGER) AS run_index,
       CAST(json_extract(r.attributes, '$."hoptrace.run.turn"') AS INTEGER) AS turn
FROM runs r
WHERE json_extract_string(r.attributes, '$."hoptrace.run.demo_batch"') = $batch
"""
"""The runs of one demo batch, with their ground truth as columns."""

_BY_VARIANT = f"""
WITH b AS ({BATCH_RUNS})
SELECT variant,
       count(*) AS runs,
       count(*) FILTER (WHERE status = 'OK') AS ok,
       count(*) FILTER (WHERE status = 'ERROR') AS failed,
       quantile_cont(duration_ms, 0.5) AS p50_ms,
       quantile_cont(duration_ms, 0.95) AS p95_ms,
       coalesce(sum(cost_usd), 0) AS total_cost_usd,
       coalesce(sum(cost_usd), 0) / count(*) AS cost_per_run_usd,
       count(*) FILTER (WHERE status = 'ERROR' AND root_cause_agent = fault_agent)
           AS root_cause_matches
FROM b GROUP BY variant ORDER BY variant DESC
"""

_BY_AGENT = f"""
WITH b AS ({BATCH_RUNS})
SELECT b.variant, a.agent_name,
       string_agg(DISTINCT a.models, ', ') AS models,
       count(DISTINCT a.trace_id) AS runs,
       sum(a.llm_calls) AS llm_calls,
       coalesce(sum(a.cost_usd), 0) AS cost_usd,
       coalesce(sum(a.cost_usd), 0) / (SELECT count(*) FROM b b2 WHERE b2.variant = b.variant)
           AS cost_per_run_usd,
       avg(a.critical_path_ms) AS avg_critical_path_ms
FROM agents a JOIN b ON a.trace_id = b.trace_id
GROUP BY b.variant, a.agent_name
ORDER BY b.variant DESC, cost_usd DESC
"""

_ROOT_CAUSES = f"""
WITH b AS ({BATCH_RUNS})
SELECT root_cause_agent, root_cause_error, count(*) AS runs
FROM b WHERE status = 'ERROR'
GROUP BY ALL ORDER BY runs DESC, root_cause_agent LIMIT $limit
"""


@dataclass(frozen=True)
class Summary:
    """Rows of the three summary queries (lists of dicts, column name -> value)."""

    variants: list[dict[str, Any]]
    agents: list[dict[str, Any]]
    root_causes: list[dict[str, Any]]


def read_summary(db: str | Path, batch: str, *, top_causes: int = 5) -> Summary:
    """Summarise one demo batch from the store at `db`."""
    from collector import query

    def rows(sql: str, **params: Any) -> list[dict[str, Any]]:
        return query(sql, db=db, params={"batch": batch, **params}).to_dicts()

    return Summary(
        variants=rows(_BY_VARIANT),
        agents=rows(_BY_AGENT),
        root_causes=rows(_ROOT_CAUSES, limit=top_causes),
    )
