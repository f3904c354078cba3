"""ClickHouse scale-out on chdb, beside DuckDB on the same spans, in one run.

Builds `--spans` hoptrace-shaped spans (traces of 20: workflow -> 3 agents -> model
calls and tools, one failing tool in 10% of the traces), then:

- DuckDB: `SpanStore.write` in 50k-span batches (ingest + derive on write), spans/s;
- chdb: the same spans inserted into `otel_traces` as the OTel Collector's exporter would
  (insert spans/s), then one `derive_pass` (read the changed traces, derive them with the
  DuckDB store's derivation, write the hoptrace tables): derive spans/s;
- the same view queries on both stores (best of 3): a count over `spans`, the newest 50
  `runs`, the per-agent cost over `agents`, one trace's spans, the origin errors.

Ratios (chdb / DuckDB) are printed beside the absolute figures; they are what carries
over to other machines. Needs the ClickHouse extra (.venv-ch):
    .venv-ch/bin/python bench/clickhouse_scale.py [--spans 1000000 10000000]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SPANS_PER_TRACE = 20
BATCH = 50_000
MS = 1_000_000

QUERIES = {
    "count spans": "SELECT count(*), sum(cost_usd) FROM spans",
    "newest 50 runs": "SELECT trace_id, name, status, duration_ms, cost_usd FROM runs "
    "ORDER BY start_ns DESC LIMIT 50",
    "agent cost": "SELECT agent_name, count(*), sum(cost_usd) FROM agents GROUP BY agent_name",
    "one trace": "SELECT span_id, name, agent_name, duration_ms FROM spans "
    "WHERE trace_id = '{trace}' ORDER BY start_ns",
    "origin errors": "SELECT trace_id, span_name, error_type FROM errors "
    "WHERE role = 'origin' ORDER BY start_ns DESC LIMIT 100",
}


def build(n_traces: int, first: int, seed: int):
    """`n_traces` traces of SPANS_PER_TRACE spans, as one SpanBatch."""
    from collector import SpanBatch
    from tracer import semconv as sc

    rng = random.Random(seed + first)
    b = SpanBatch()
    t0 = 1_760_000_000_000 * MS
    for t in range(first, first + n_traces):
        tid = f"{t:032x}"
        start = t0 + t * 50 * MS
        fail = rng.random() < 0.1

        def add(
            i: int, parent: int | None, name: str, s: int, e: int, attrs: dict, err: bool = False,
            t: int = t, tid: str = tid, start: int = start,
        ) -> None:  # fmt: skip
            b.add(
                trace_id=tid, span_id=f"{t:08x}{i:08x}",
                parent_span_id=None if parent is None else f"{t:08x}{parent:08x}",
                name=name, kind="INTERNAL", start_ns=start + s * MS, end_ns=start + e * MS,
                status_code="ERROR" if err else "OK", status_message=None, attributes=attrs,
                events=[], links=[], resource={"service.name": "bench"},
                scope_name="hoptrace", scope_version=None,
            )  # fmt: skip

        add(0, None, "invoke_workflow bench", 0, 400,
            {sc.HOPTRACE_KIND: "workflow", sc.GEN_AI_OPERATION_NAME: sc.OP_WORKFLOW}, fail)  # fmt: skip
        i = 1
        for a, agent in enumerate(("planner", "researcher", "writer")):
            aid = i
            add(aid, 0, f"invoke_agent {agent}", a * 130, a * 130 + 120,
                {sc.HOPTRACE_KIND: "agent", sc.GEN_AI_OPERATION_NAME: sc.OP_AGENT,
                 sc.GEN_AI_AGENT_NAME: agent}, fail and a == 1)  # fmt: skip
            i += 1
            for k in range(5):
                s = a * 130 + k * 20
                if k % 2 == 0:
                    add(i, aid, "chat gpt-4o-mini", s, s + 15,
                        {sc.HOPTRACE_KIND: "llm", sc.GEN_AI_OPERATION_NAME: sc.OP_CHAT,
                         sc.GEN_AI_AGENT_NAME: agent, sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                         sc.GEN_AI_PROVIDER_NAME: "openai",
                         sc.GEN_AI_USAGE_INPUT_TOKENS: rng.randint(100, 3000),
                         sc.GEN_AI_USAGE_OUTPUT_TOKENS: rng.randint(10, 500)})  # fmt: skip
                else:
                    err = fail and a == 1 and k == 3
                    add(i, aid, "execute_tool search", s, s + 15,
                        {sc.HOPTRACE_KIND: "tool", sc.GEN_AI_OPERATION_NAME: sc.OP_TOOL,
                         sc.GEN_AI_TOOL_NAME: "search", sc.GEN_AI_AGENT_NAME: agent,
                         **({sc.ERROR_TYPE: "TimeoutError"} if err else {})}, err)  # fmt: skip
                i += 1
        while i < SPANS_PER_TRACE:
            add(i, 0, "execute_tool format", 395, 399, {sc.HOPTRACE_KIND: "tool"})
            i += 1
    return b


def tui_queries(trace: str) -> dict:
    from collector import queries as q

    flt, sort = q.RunFilter(), q.RunSort()
    return {
        "tui runs page": lambda db: (q.runs_count(db, flt), q.runs_page(db, flt, sort, 0, 60)),
        "tui page 200": lambda db: q.runs_page(db, flt, q.RunSort(key="cost"), 12_000, 60),
        "tui search": lambda db: q.runs_page(db, q.RunFilter(text="researcher"), sort, 0, 60),
        "tui open run": lambda db: q.load_run(db, trace),
        "tui agents": lambda db: q.agents_across(db),
    }


def best(fn, times: int = 3) -> float:
    out = []
    for _ in range(times):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return min(out)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument(
        "--spans",
        type=int,
        nargs="+",
        default=[1_000_000, 10_000_000],
        help="store sizes to measure at, in one run: the stores grow from one to the next",
    )
    p.add_argument("--seed", type=int, default=3)
    args = p.parse_args()

    import collector
    from collector import SpanStore
    from collector.clickhouse import ClickHouseStore, derive_pass

    per_batch = BATCH // SPANS_PER_TRACE
    tmp = Path(tempfile.mkdtemp(prefix="hoptrace-chbench-"))
    duck_path = tmp / "bench.duckdb"
    duck = SpanStore(duck_path)
    ch = ClickHouseStore(f"chdb://{tmp / 'ch'}")
    done = 0  # traces in both stores so far
    for target in sorted(args.spans):
        n_traces = max(1, target // SPANS_PER_TRACE)
        t_duck = t_insert = 0.0
        for first in range(done, n_traces, per_batch):
            batch = build(min(per_batch, n_traces - first), first, args.seed)
            t = time.perf_counter()
            duck.write(batch)
            t_duck += time.perf_counter() - t
            t = time.perf_counter()
            ch.write(batch)
            t_insert += time.perf_counter() - t
        new = (n_traces - done) * SPANS_PER_TRACE
        t = time.perf_counter()
        stats = derive_pass(ch.conn, lag_s=0)
        t_derive = time.perf_counter() - t
        assert stats.spans == new, (stats, new)
        done = n_traces
        spans = n_traces * SPANS_PER_TRACE

        print(f"== store at {spans:,} spans in {n_traces:,} traces ({new:,} new)", flush=True)
        print(
            f"DuckDB SpanStore.write (ingest+derive): {new / t_duck:,.0f} spans/s ({t_duck:.1f} s)"
        )
        print(
            f"chdb insert into otel_traces:           {new / t_insert:,.0f} spans/s ({t_insert:.1f} s)"
        )
        print(f"chdb derive_pass (1 worker):            {new / t_derive:,.0f} spans/s ({t_derive:.1f} s)"
              f"  ratio to DuckDB write: {t_duck / t_derive:.2f}")  # fmt: skip
        trace = f"{n_traces // 2:032x}"
        print(f"{'query':<16} {'DuckDB ms':>10} {'chdb ms':>10} {'chdb/DuckDB':>12}")
        for name, sql in QUERIES.items():
            q = sql.format(trace=trace)
            d = best(lambda q=q: collector.query(q, duck_path))
            c = best(lambda q=q: ch.query(q))
            print(f"{name:<16} {d * 1e3:>10.1f} {c * 1e3:>10.1f} {c / d:>12.2f}", flush=True)
        # what the TUI asks when it opens and pages (collector.queries: DuckDB SQL, which a
        # ClickHouse store runs transpiled)
        for name, fn in tui_queries(trace).items():
            d = best(lambda fn=fn: fn(duck_path))
            c = best(lambda fn=fn: fn(ch.url))
            print(f"{name:<16} {d * 1e3:>10.1f} {c * 1e3:>10.1f} {c / d:>12.2f}", flush=True)
    ch.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
