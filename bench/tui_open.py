"""TUI open benchmark (issue 7): run `python bench/tui_open.py`.

Builds (in a child process, so its memory does not count) a store of 1M spans in
10k runs, one of them a 10k-span run, written through `collector.SpanStore` in
big batches. Then, in this process, with the real app headless (`run_test`):

1. time until the runs view shows data (target <= 1 s);
2. time to open the waterfall of the 10k-span run (target <= 0.5 s);
3. time to jump to the last of the 10k runs (a page read on demand);
4. time to open the aggregated handoff graph (`g`) and the agents-across-runs
   screen (`a`) over every run (issue 14, target <= 1 s each);
5. peak memory of this process (target <= 500 MB, `ru_maxrss`);

and, as the reference measured in the same run, the naive approach the issue
warns about: every run loaded into Textual's built-in `DataTable`.

Options: --runs N (default 10_000), --spans N (default 1_000_000), --db PATH
(reuse / keep a store; built if missing).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BIG_RUN = f"{0xB16:032x}"
BIG_RUN_SPANS = 10_000
AGENTS = ("orchestrator", "researcher", "coder", "analyst", "reviewer", "memory")
BATCH_SPANS = 100_000


def _build(db: Path, runs: int, spans: int) -> None:
    """Write `runs` runs with `spans` spans in total; the first is the 10k-span one."""
    from collector import SpanBatch, SpanStore

    rng = random.Random(7)
    per_run = max(3, (spans - BIG_RUN_SPANS) // max(1, runs - 1))
    base = 1_768_467_600 * 10**9
    store = SpanStore(db)
    batch = SpanBatch()
    resource_attrs = {"service.name": "bench"}
    written = 0
    t0 = time.perf_counter()

    def add(
        trace: str, sid: str, parent: str | None, name: str, start: int, end: int, attrs: dict
    ) -> None:
        batch.add(
            trace_id=trace, span_id=sid, parent_span_id=parent, name=name, kind="INTERNAL",
            start_ns=start, end_ns=end, status_code="OK", status_message=None, attributes=attrs,
            events=[], links=[], resource=resource_attrs, scope_name="bench", scope_version=None,
        )  # fmt: skip

    for r in range(runs):
        trace = BIG_RUN if r == 0 else f"{0x100000 + r:032x}"
        n = BIG_RUN_SPANS if r == 0 else per_run
        start = base + r * 10_000_000_000
        root = f"{r:08x}{0:08x}"
        span_ms = 2
        add(trace, root, None, "invoke_workflow bench", start, start + n * span_ms * 10**6,
            {"gen_ai.operation.name": "invoke_workflow", "hoptrace.kind": "workflow"})  # fmt: skip
        i = 1
        t = start
        while i < n:
            agent = AGENTS[rng.randrange(len(AGENTS))]
            aid = f"{r:08x}{i:08x}"
            children = min(n - i - 1, rng.randint(3, 9))
            attrs = {"gen_ai.operation.name": "invoke_agent", "hoptrace.kind": "agent",
                     "gen_ai.agent.name": agent}  # fmt: skip
            if agent != "orchestrator":  # a delegation: the handoff graph has edges to draw
                attrs["hoptrace.handoff.from_agent"] = "orchestrator"
            add(trace, aid, root, f"invoke_agent {agent}", t, t + (children + 1) * span_ms * 10**6,
                attrs)  # fmt: skip
            i += 1
            for _ in range(children):
                sid = f"{r:08x}{i:08x}"
                add(trace, sid, aid, "chat gpt-4o-mini", t, t + span_ms * 10**6,
                    {"gen_ai.operation.name": "chat", "hoptrace.kind": "llm",
                     "gen_ai.agent.name": agent, "hoptrace.agent.span_id": aid,
                     "gen_ai.request.model": "gpt-4o-mini",
                     "gen_ai.usage.input_tokens": rng.randint(100, 2000),
                     "gen_ai.usage.output_tokens": rng.randint(10, 400)})  # fmt: skip
                t += span_ms * 10**6
                i += 1
            t += span_ms * 10**6
        if len(batch) >= BATCH_SPANS:
            store.write(batch)
            written += len(batch)
            batch = SpanBatch()
            print(f"  built {written:,} spans ({time.perf_counter() - t0:.0f} s)", flush=True)
    if len(batch):
        store.write(batch)
        written += len(batch)
    store.close()
    print(f"  built {written:,} spans in {runs:,} runs ({time.perf_counter() - t0:.0f} s)")


async def _measure(db: Path) -> dict[str, float]:
    # the clock starts before the UI's imports: a user waits for those too
    t0 = time.perf_counter()
    from tui._warm import prewarm

    prewarm(db)  # as `hoptrace tui` does: the check overlaps the imports
    from tui.app import HoptraceApp
    from tui.messages import OpenRun
    from tui.screens.run import RunScreen
    from tui.widgets.runs_list import RunsList
    from tui.widgets.waterfall import Waterfall

    out: dict[str, float] = {}
    app = HoptraceApp(db, poll_interval=3600)

    async def until(condition, pilot, what: str, timeout: float = 60.0) -> None:
        deadline = time.perf_counter() + timeout
        while not condition():
            errors = [n.message for n in app._notifications if n.severity == "error"]
            if errors or time.perf_counter() > deadline:
                raise SystemExit(f"bench: {what} failed: {errors or 'timeout'}")
            await pilot.pause(0.005)

    async with app.run_test(size=(160, 50)) as pilot:

        def runs_loaded() -> bool:
            found = app.screen.query(RunsList)
            return bool(found) and found.first().loaded

        await until(runs_loaded, pilot, "runs view")
        runs = app.screen.query_one(RunsList)
        await pilot.pause()  # one paint with the rows
        out["runs_view_s"] = time.perf_counter() - t0
        out["runs_count"] = runs.count

        t1 = time.perf_counter()
        await pilot.press("end")
        await until(lambda: runs.row(runs.count - 1) is not None, pilot, "jump to last run")
        await pilot.pause()
        out["jump_last_run_s"] = time.perf_counter() - t1

        t2 = time.perf_counter()
        app.screen.post_message(OpenRun(BIG_RUN))

        def waterfall_full() -> bool:
            screen = app.screen
            return (
                isinstance(screen, RunScreen)
                and len(screen.query_one(Waterfall).rows) >= BIG_RUN_SPANS
            )

        await until(waterfall_full, pilot, "waterfall")
        wf = app.screen.query_one(Waterfall)
        await pilot.pause()
        out["waterfall_s"] = time.perf_counter() - t2
        out["waterfall_rows"] = len(wf.rows)

        t3 = time.perf_counter()
        await pilot.press("end")
        await pilot.pause()
        out["waterfall_end_s"] = time.perf_counter() - t3

        # the same screen for a ~100-span run: the UI's fixed cost of opening a run
        await pilot.press("escape")
        await pilot.pause()
        small = f"{0x100000 + 1:032x}"
        t4 = time.perf_counter()
        app.screen.post_message(OpenRun(small))

        def small_open() -> bool:
            screen = app.screen
            return isinstance(screen, RunScreen) and len(screen.query_one(Waterfall).rows) > 0

        await until(small_open, pilot, "small waterfall")
        await pilot.pause()
        out["small_waterfall_s"] = time.perf_counter() - t4

        # issue 14: the aggregated handoff graph and the agents screen over every run
        from tui.screens.agents import AgentsScreen
        from tui.screens.graph import GraphScreen
        from tui.widgets.graph_view import GraphView

        await pilot.press("escape")
        await pilot.pause()
        t5 = time.perf_counter()
        await pilot.press("g")

        def graph_drawn() -> bool:
            screen = app.screen
            return isinstance(screen, GraphScreen) and screen.query_one(GraphView).grid is not None

        await until(graph_drawn, pilot, "aggregated graph")
        await pilot.pause()
        out["graph_s"] = time.perf_counter() - t5
        out["graph_edges"] = len(app.screen.query_one(GraphView).grid.edges)  # type: ignore[union-attr]
        await pilot.press("escape")
        await pilot.pause()
        t6 = time.perf_counter()
        await pilot.press("a")

        def agents_shown() -> bool:
            screen = app.screen
            return isinstance(screen, AgentsScreen) and bool(screen.stats)

        await until(agents_shown, pilot, "agents screen")
        await pilot.pause()
        out["agents_s"] = time.perf_counter() - t6
        out["agents_count"] = len(app.screen.stats)  # type: ignore[attr-defined]
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


async def _reference(db: Path) -> float:
    """Naive: every run in the built-in DataTable (time to the first responsive paint)."""
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    from collector import read_connection

    class Naive(App[None]):
        def compose(self) -> ComposeResult:
            yield DataTable()

    t0 = time.perf_counter()
    with read_connection(db) as conn:
        rows = conn.execute(
            "SELECT start_time, name, status, duration_ms, agent_count, llm_calls,"
            " input_tokens + output_tokens, cost_usd FROM runs ORDER BY start_ns DESC"
        ).fetchall()
    app = Naive()
    async with app.run_test(size=(160, 50)) as pilot:
        table = app.query_one(DataTable)
        table.add_columns(
            "start", "name", "status", "duration", "agents", "calls", "tokens", "cost"
        )
        table.add_rows(rows)
        await pilot.pause()
        await pilot.press("pagedown")
        await pilot.pause()
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--spans", type=int, default=1_000_000)
    ap.add_argument("--db", type=Path)
    ap.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.build_only:
        if args.db.exists():  # a store from an older hoptrace: SpanStore migrates it
            from collector import SpanStore

            SpanStore(args.db).close()
        else:
            _build(args.db, args.runs, args.spans)
        return 0

    tmp = None
    db = args.db
    if db is None:
        tmp = tempfile.TemporaryDirectory(prefix="hoptrace-tui-bench-")
        db = Path(tmp.name) / "bench.duckdb"
    if not db.exists():
        print(f"building {args.spans:,} spans / {args.runs:,} runs in {db} (child process)…")
    cmd = [sys.executable, __file__, "--build-only", "--db", str(db),
           "--runs", str(args.runs), "--spans", str(args.spans)]  # fmt: skip
    subprocess.run(cmd, check=True)

    m = asyncio.run(_measure(db))
    ref = asyncio.run(_reference(db))
    print()
    print(f"store: {m['runs_count']:,.0f} runs; big run: {m['waterfall_rows']:,.0f} spans")
    print(f"runs view shows data       {m['runs_view_s'] * 1000:8.0f} ms   (target <= 1000 ms)")
    print(f"open 10k-span waterfall    {m['waterfall_s'] * 1000:8.0f} ms   (target <=  500 ms)")
    print(
        f"open a ~100-span run       {m['small_waterfall_s'] * 1000:8.0f} ms   (the screen's fixed cost)"
    )
    print(f"jump to last run (end)     {m['jump_last_run_s'] * 1000:8.0f} ms")
    print(f"waterfall to last span     {m['waterfall_end_s'] * 1000:8.0f} ms")
    print(f"aggregated handoff graph   {m['graph_s'] * 1000:8.0f} ms   (target <= 1000 ms;"
          f" {m['graph_edges']:.0f} edges, {m['graph_s'] / m['runs_view_s']:.2f}x the runs view)")  # fmt: skip
    print(f"agents across runs screen  {m['agents_s'] * 1000:8.0f} ms   (target <= 1000 ms;"
          f" {m['agents_count']:.0f} agents, {m['agents_s'] / m['runs_view_s']:.2f}x the runs view)")  # fmt: skip
    print(f"peak memory (ru_maxrss)    {m['peak_rss_mb']:8.0f} MB   (target <=  500 MB)")
    print(f"reference: all runs in the built-in DataTable  {ref * 1000:8.0f} ms"
          f"  -> virtual runs view is {ref / m['runs_view_s']:.1f}x faster to show data")  # fmt: skip
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
