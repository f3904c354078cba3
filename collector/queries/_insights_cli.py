"""`hoptrace insights`: the ranked insights of a store's runs, as text or JSON.

Exit codes: 0 ok (also when there is nothing to report); 1 the store cannot be read;
2 a bad argument (a speedup outside 0..1).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from collector.queries._insights_model import Insight, InsightReport

_KIND_LABEL = {
    "what_if": "what-if speed",
    "parallel": "parallelisable",
    "model_swap": "model swap",
    "waste": "waste",
    "blame": "blame",
}


def run(args: argparse.Namespace) -> int:
    """Entry point called by `hoptrace._cli`."""
    return execute(args, out=sys.stdout, err=sys.stderr)


def execute(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import duckdb

    from collector.queries._insights import insights
    from collector.queries._types import RunFilter
    from collector.store import StoreError

    if not 0.0 <= args.speedup <= 1.0:
        print(f"hoptrace insights: --speedup must be between 0 and 1, not {args.speedup}", file=err)
        return 2
    flt = RunFilter(status=args.status, name=args.name or "")
    try:
        report = insights(
            args.db, flt, speedup=args.speedup, model=args.model, max_runs=args.max_runs
        )
    except (StoreError, duckdb.Error) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"hoptrace insights: {first}", file=err)
        return 1
    if args.format == "json":
        json.dump(report.to_json(), out, indent=2)
        out.write("\n")
    else:
        out.write(render_text(report, limit=args.limit))
    return 0


def _money(v: float | None) -> str:
    return "-" if v is None else f"${v:.5f}"


def _secs(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f} s"


def render_text(report: InsightReport, limit: int = 20) -> str:
    """The report as a few readable lines per insight, best first."""
    lines = [
        f"Insights over {report.runs} run(s) (of {report.runs_in_filter} in the filter): "
        f"p50 latency {_secs(report.latency_p50_s)}, cost {_money(report.cost_per_run_usd)} "
        f"per run; what-if speedup {report.speedup:g}",
    ]
    lines += [f"note: {n}" for n in report.notes]
    if not report.insights:
        lines.append("nothing to report: no finished runs in the filter")
        return "\n".join(lines) + "\n"
    shown = report.insights[:limit]
    for n, i in enumerate(shown, 1):
        lines += ["", *_insight_lines(n, i)]
    if len(report.insights) > len(shown):
        lines += ["", f"... {len(report.insights) - len(shown)} more (--limit, or --format json)"]
    return "\n".join(lines) + "\n"


def _insight_lines(n: int, i: Insight) -> list[str]:
    saving = ", ".join(
        part
        for part in (
            f"{i.saving_s:.3f} s" if i.saving_s else "",
            f"${i.saving_usd:.5f}" if i.saving_usd else "",
        )
        if part
    )
    ev = i.evidence[0] if i.evidence else None
    where = (ev.trace_id if ev else "") + (
        f" spans {', '.join(ev.span_ids[:4])}" if ev and ev.span_ids else ""
    )
    return [
        f"{n:>2}. [{_KIND_LABEL.get(i.kind, i.kind)}] {i.title}",
        f"    saving per run: {saving or 'none'} ({i.score:.1%} of a typical run); {i.runs} run(s)",
        f"    how: {i.how}",
        f"    confidence: {i.confidence}",
        *(
            [
                f"    evidence: {where}"
                + (f" (+{len(i.evidence) - 1} runs)" if len(i.evidence) > 1 else "")
            ]
            if ev
            else []
        ),
    ]
