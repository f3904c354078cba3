"""`hoptrace demo`: run the reference pipeline into a trace store and summarise it.

Progress bar while the runs go, then tables read back through the SQL views (so the
numbers are what hoptrace recorded, not what the runner believes), then the command
that opens the TUI on the same file.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from sample_pipelines.demo import DemoConfig, RunRecord, run_demo
from sample_pipelines.models import missing_api_keys, warm_up

__all__ = ["run"]

REALISTIC_SCALE = 1.0
DEFAULT_SCALE = 0.1


def _default_db() -> Path:
    from collector import resolve_db  # the default every hoptrace part uses

    return resolve_db()


def _error(message: str) -> int:
    print(f"hoptrace demo: error: {message}", file=sys.stderr)
    return 2


def _config(args: argparse.Namespace) -> DemoConfig | str:
    if args.runs < 1:
        return f"--runs must be at least 1, got {args.runs}"
    if not 0.0 <= args.fail_rate <= 1.0:
        return f"--fail-rate must be between 0 and 1, got {args.fail_rate}"
    if args.live:
        missing = missing_api_keys(baseline=args.baseline)
        if missing:
            return (
                "--live calls the real providers and needs "
                + ", ".join(missing)
                + " in the environment (or run without --live: offline mock responses)"
            )
    return DemoConfig(
        runs=args.runs,
        seed=args.seed,
        fail_rate=args.fail_rate,
        scale=REALISTIC_SCALE if args.realistic else DEFAULT_SCALE,
        baseline=args.baseline,
        live=args.live,
    )


def _money(value: Any) -> str:
    return f"${float(value or 0):.4f}"


def _seconds(ms: Any) -> str:
    return "-" if ms is None else f"{float(ms) / 1000:.2f} s"


def run(args: argparse.Namespace) -> int:
    """Run `hoptrace demo`; returns the process exit code (failed runs are not an error)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
    from rich.table import Table

    config = _config(args)
    if isinstance(config, str):
        return _error(config)
    from collector import is_store_url, resolve_store

    if is_store_url(resolve_store(args.db)):  # --db or $HOPTRACE_DB
        return _error(
            "the demo writes a DuckDB file; for ClickHouse run it with --db FILE and copy the "
            "file with collector.clickhouse.copy_from_duckdb, or point an OTLP exporter at "
            "`hoptrace collect --store URL`"
        )
    db = Path(args.db) if args.db else _default_db()
    if db.parent and not db.parent.exists():
        return _error(f"directory {str(db.parent)!r} does not exist")

    import tracer

    tracer.configure(db=str(db))
    console = Console(width=None if sys.stdout.isatty() else 110)
    batch = uuid.uuid4().hex[:8]
    variants = 2 if config.baseline else 1
    mode = "live providers" if config.live else "offline mock responses"
    console.print(
        f"hoptrace demo: {config.runs} runs{' + baseline' if config.baseline else ''}, "
        f"seed {config.seed}, fail rate {config.fail_rate}, time scale {config.scale}, "
        f"{mode}\nwriting to {db} (batch {batch})",
        markup=False,
        highlight=False,
    )
    with console.status("loading litellm"):
        warm_up()  # seconds of imports, not part of any run
    failed = 0
    started = time.perf_counter()
    path = shlex.quote(str(db))
    try:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            task = progress.add_task("running", total=config.runs * variants)

            def done(record: RunRecord) -> None:
                nonlocal failed
                failed += not record.ok
                progress.update(task, advance=1, description=f"running ({failed} failed)")

            asyncio.run(run_demo(config, batch=batch, on_run_done=done))
    except KeyboardInterrupt:
        tracer.shutdown()  # keep every span recorded so far
        print(
            f"hoptrace demo: interrupted; what ran is in {db}: hoptrace tui {path}", file=sys.stderr
        )
        return 130
    elapsed = time.perf_counter() - started
    tracer.flush()
    tracer.shutdown()

    from collector import StoreError
    from sample_pipelines._summary import read_summary

    try:
        summary = read_summary(db, batch)
    except StoreError as exc:
        print(
            f"hoptrace demo: error: could not read the runs back from {db}: {exc}", file=sys.stderr
        )
        return 1
    console.print(f"finished in {elapsed:.1f} s\n", highlight=False)

    runs = Table(title="Runs (from the runs view)", title_justify="left")
    for column in ("variant", "runs", "ok", "failed", "p50", "p95", "total cost", "cost/run"):
        runs.add_column(column, justify="left" if column == "variant" else "right")
    runs.add_column("root cause = injected", justify="right")
    for row in summary.variants:
        runs.add_row(
            str(row["variant"]),
            str(row["runs"]),
            str(row["ok"]),
            str(row["failed"]),
            _seconds(row["p50_ms"]),
            _seconds(row["p95_ms"]),
            _money(row["total_cost_usd"]),
            _money(row["cost_per_run_usd"]),
            f"{row['root_cause_matches']}/{row['failed']}",
        )
    console.print(runs)

    agents = Table(title="Cost per agent (from the agents view)", title_justify="left")
    for column in ("variant", "agent", "models", "calls", "cost/run", "total", "critical path"):
        agents.add_column(
            column,
            justify="right"
            if column in ("calls", "cost/run", "total", "critical path")
            else "left",
        )
    for row in summary.agents:
        agents.add_row(
            str(row["variant"]),
            str(row["agent_name"]),
            str(row["models"] or ""),
            str(row["llm_calls"] or 0),
            _money(row["cost_per_run_usd"]),
            _money(row["cost_usd"]),
            _seconds(row["avg_critical_path_ms"]),
        )
    console.print(agents)

    causes = Table(title="Most common root causes of failed runs", title_justify="left")
    for column in ("root cause agent", "error", "runs"):
        causes.add_column(column, justify="right" if column == "runs" else "left")
    for row in summary.root_causes:
        causes.add_row(str(row["root_cause_agent"]), str(row["root_cause_error"]), str(row["runs"]))
    if not summary.root_causes:
        causes.add_row("-", "no failed runs", "0")
    console.print(causes)

    console.print(
        f"\nExplore the traces:  hoptrace tui {path}\n"
        f'Query them:          hoptrace sql "SELECT name, status, duration_ms, cost_usd, '
        f'root_cause_agent FROM runs ORDER BY start_time DESC LIMIT 10" --db {path}',
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    return 0
