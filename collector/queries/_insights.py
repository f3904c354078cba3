"""Insights: from a filter's runs to ranked, quantified changes worth making.

Five kinds (the README's "Insights" explains each with the demo's numbers):

- `what_if`: per agent, how much shorter runs get if its own work (its agent spans,
  tools and model calls) took `speedup` less time, and if it were free; the run's span
  schedule is replayed (`collector.queries._insights_dag.replay`), so a hop off the
  critical path saves nothing until another path becomes critical. p50 over runs.
- `parallel`: hops (agents or tools) one parent called one after the other with no
  recorded handoff between them, directly or through other spans, in any run; the
  saving is the replayed latency with the second no longer waiting for the first.
- `model_swap`: an agent's cost per run with the same tokens on the cheapest chat
  model of its provider in `model_prices`, and on a model the caller names.
- `waste`: failed-and-retried model calls with their backoff, drafts a reviewer
  rejected, model requests repeated within a run or across runs.
- `blame`: agents whose errors start failed runs or whose outputs are rejected, with
  the agent-to-agent edges those errors crossed.

Reading is bounded: the newest finished runs of the filter, at most `max_runs` and
`max_spans` spans in all, a few columns each, through the package's read door. All
the maths is pure Python over `InsightRun` values (`compute_insights`), tested
without DuckDB.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from collector.queries._insights_cost import blame, model_swap, waste
from collector.queries._insights_dag import latency_ns
from collector.queries._insights_model import (
    KINDS,
    Insight,
    InsightHandoff,
    InsightReport,
    InsightRun,
    InsightSpan,
    ModelPrice,
    Prices,
    p50,
)
from collector.queries._insights_time import parallel, what_if
from collector.queries._read import DB, Reader, _connect, _json
from collector.queries._runs import _where
from collector.queries._types import RunFilter

MAX_RUNS = 500
MAX_SPANS = 50_000


def compute_insights(
    runs: Sequence[InsightRun],
    prices: Prices | None = None,
    *,
    speedup: float = 0.5,
    model: str | None = None,
    runs_in_filter: int | None = None,
    notes: Sequence[str] = (),
) -> InsightReport:
    """Every insight over `runs`, best first (pure: no store access)."""
    if not 0.0 <= speedup <= 1.0:
        raise ValueError(f"speedup must be between 0 and 1 (0.5 = twice as fast), not {speedup}")
    prices = prices or Prices(())
    notes = list(notes)
    if model and prices.resolve(model) is None:
        notes.append(f"model {model!r} is not in model_prices: no swap to it priced")
    found: list[Insight] = []
    if runs:
        found += what_if(runs, speedup)
        found += parallel(runs)
        found += model_swap(runs, prices, model)
        found += waste(runs)
        found += blame(runs)
    lat = p50([latency_ns([s.timed() for s in r.spans], root=r.root_span_id) / 1e9 for r in runs])
    costs = [r.cost_usd for r in runs if r.cost_usd is not None]
    cost = sum(costs) / len(runs) if costs else None
    ranked = sorted(
        (_scored(i, lat, cost) for i in found),
        key=lambda i: (-i.score, KINDS.index(i.kind), i.title),
    )
    return InsightReport(
        insights=tuple(ranked),
        runs=len(runs),
        runs_in_filter=len(runs) if runs_in_filter is None else runs_in_filter,
        latency_p50_s=lat,
        cost_per_run_usd=cost,
        speedup=speedup,
        model=model,
        notes=tuple(notes),
    )


def _scored(i: Insight, lat: float | None, cost: float | None) -> Insight:
    # seconds and dollars on one scale: the share of a typical run each saving is
    shares = []
    if i.saving_s is not None and lat:
        shares.append(i.saving_s / lat)
    if i.saving_usd is not None and cost:
        shares.append(i.saving_usd / cost)
    score = max(shares) if shares else 0.0
    return Insight(**{**{f: getattr(i, f) for f in i.__dataclass_fields__}, "score": score})


def insights(
    db: DB | Reader,
    flt: RunFilter | None = None,
    *,
    speedup: float = 0.5,
    model: str | None = None,
    max_runs: int = MAX_RUNS,
    max_spans: int = MAX_SPANS,
) -> InsightReport:
    """The insights of the filter's finished runs (newest first, within the caps)."""
    flt = flt or RunFilter()
    if not 0.0 <= speedup <= 1.0:
        raise ValueError(f"speedup must be between 0 and 1 (0.5 = twice as fast), not {speedup}")
    with _connect(db) as conn:
        runs, total = _fetch_runs(conn, flt, max_runs, max_spans)
        prices = _fetch_prices(conn)
    notes = []
    if len(runs) < total:
        notes.append(
            f"computed over the newest {len(runs)} of {total} finished runs "
            f"(caps: {max_runs} runs, {max_spans} spans)"
        )
    return compute_insights(
        runs, prices, speedup=speedup, model=model, runs_in_filter=total, notes=notes
    )


_SPAN_SQL = """
SELECT s.trace_id, s.span_id, nullif(s.parent_span_id, ''), coalesce(s.start_ns, 0),
       CASE WHEN coalesce(s.pending, false) THEN NULL ELSE s.end_ns END,
       coalesce(s.name, ''), s.hoptrace_kind, s.agent_name, coalesce(s.status, 'UNSET'),
       s.error_role, s.cause_span_id, coalesce(s.is_llm_call, false), s.model, s.provider,
       s.input_tokens, s.output_tokens, s.cache_read_tokens, s.cost_usd, s.agent_span_id,
       CASE WHEN NOT coalesce(s.is_llm_call, false) THEN NULL
            WHEN coalesce(json_extract_string(s.attributes, '$."gen_ai.input.messages"'),
                          s.input_preview) IS NOT NULL
            THEN 'm:' || md5(coalesce(s.model, '') || chr(0) || coalesce(
                 json_extract_string(s.attributes, '$."gen_ai.input.messages"'), s.input_preview))
            WHEN a.input_preview IS NOT NULL
            THEN 'a:' || md5(coalesce(s.model, '') || chr(0) || a.input_preview)
       END,
       t.rejects
FROM spans s
JOIN span_t t ON t.trace_id = s.trace_id AND t.span_id = s.span_id
LEFT JOIN spans a ON coalesce(s.is_llm_call, false) AND a.trace_id = s.trace_id
                 AND a.span_id = s.agent_span_id
WHERE s.trace_id IN (SELECT unnest(?::VARCHAR[]))
"""


def _fetch_runs(
    conn: Any, flt: RunFilter, max_runs: int, max_spans: int
) -> tuple[list[InsightRun], int]:
    where, params = _where(flt)
    # a run still going has no latency yet
    where = (where + " AND" if where else " WHERE") + " status <> 'RUNNING'"
    total_row = conn.execute(f"SELECT count(*) FROM runs{where}", params).fetchone()
    rows = conn.execute(
        "SELECT trace_id, status, root_span_id, cost_usd, root_cause_agent, root_cause_span_id,"
        f" start_ns, span_count FROM runs{where} ORDER BY start_ns DESC, trace_id DESC LIMIT ?",
        [*params, max_runs],
    ).fetchall()
    chosen: list[Any] = []
    spans_total = 0
    for r in rows:
        spans_total += int(r[7] or 0)
        if chosen and spans_total > max_spans:
            break
        chosen.append(r)
    ids = [r[0] for r in chosen]
    per_run: dict[str, list[InsightSpan]] = {t: [] for t in ids}
    handoffs: dict[str, list[InsightHandoff]] = {t: [] for t in ids}
    if ids:
        for r in conn.execute(_SPAN_SQL, [ids]).fetchall():
            rejects = tuple(
                str(x["span_id"])
                for x in _json(r[20]) or []
                if isinstance(x, dict) and x.get("span_id")
            )
            per_run[r[0]].append(InsightSpan._make((*r[1:20], rejects)))
        for h in conn.execute(
            "SELECT trace_id, from_span_id, to_span_id, kind, from_agent, to_agent FROM handoffs"
            " WHERE trace_id IN (SELECT unnest(?::VARCHAR[]))",
            [ids],
        ).fetchall():
            handoffs[h[0]].append(InsightHandoff(*h[1:]))
    runs = [
        InsightRun(
            trace_id=r[0],
            status=r[1] or "UNSET",
            spans=_resolve_pending(per_run[r[0]]),
            handoffs=tuple(handoffs[r[0]]),
            root_span_id=r[2],
            cost_usd=r[3],
            root_cause_agent=r[4],
            root_cause_span_id=r[5],
            start_ns=int(r[6] or 0),
        )
        for r in chosen
    ]
    return runs, int(total_row[0]) if total_row else 0


def _resolve_pending(spans: list[InsightSpan]) -> tuple[InsightSpan, ...]:
    # a span without an end counts until the latest time seen in its run, as the
    # collector's critical path does
    now = max((max(s.start_ns, s.end_ns or 0) for s in spans), default=0)
    ordered = sorted(spans, key=lambda s: (s.start_ns, s.span_id))
    return tuple(s if s.end_ns is not None else s._replace(end_ns=now) for s in ordered)


def _fetch_prices(conn: Any) -> Prices:
    prices = [
        ModelPrice(m, p, i, o, c, mode)
        for m, p, i, o, c, mode in conn.execute(
            "SELECT model, provider, input_cost_per_token, output_cost_per_token,"
            " cache_read_input_token_cost, mode FROM model_prices"
        ).fetchall()
    ]
    aliases = dict(conn.execute("SELECT alias, model FROM model_price_aliases").fetchall())
    return Prices(prices, aliases)
