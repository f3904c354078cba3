"""Cross-process visibility benchmark (issue 4.4): run `python bench/visibility.py`.

One process runs a traced pipeline that exports continuously through the default
`DuckDBSpanExporter` (10-span traces, one every ~10 ms); this process polls the same
file the way `hoptrace tui` does (`SELECT ... FROM runs` every 50 ms, each query a
short read-only attachment). For every trace it prints how long after its root span
ended the finished run first showed up in a query, and counts reader errors (a
reader must never see a lock error). Target: new spans readable within 2 s.

Options: --traces N (default 300), --poll SECONDS (default 0.05).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def writer(db: str, n_traces: int) -> None:
    """The pipeline side: print "<trace_id> <time its root ended>" per trace."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from collector import DuckDBSpanExporter

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DuckDBSpanExporter(db)))
    tracer = provider.get_tracer("visibility")
    for i in range(n_traces):
        with tracer.start_as_current_span(f"invoke_workflow run{i}") as root:
            for _ in range(9):
                with tracer.start_as_current_span("step"):
                    pass
            ended = time.time()
        print(f"{root.get_span_context().trace_id:032x} {ended}", flush=True)
        time.sleep(0.01)
    provider.shutdown()
    print("done", flush=True)


def start_writer(
    db: Path, n_traces: int
) -> tuple[subprocess.Popen[str], dict[str, float], threading.Event]:
    """Start `writer` in a child process; returns it, {trace_id: root end time} as the
    lines arrive, and an event set once it printed "done" (or exited).

    tests/collector/test_collector_processes.py drives the same scenario."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--writer", str(db), str(n_traces)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ended: dict[str, float] = {}
    done = threading.Event()

    def read_stdout() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip() == "done":
                break
            trace_id, at = line.split()
            ended[trace_id] = float(at)
        done.set()

    threading.Thread(target=read_stdout, daemon=True).start()
    return proc, ended, done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--traces", type=int, default=300)
    ap.add_argument("--poll", type=float, default=0.05)
    ap.add_argument("--writer", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.writer:
        writer(args.writer[0], int(args.writer[1]))
        return

    import collector

    db = Path(tempfile.mkdtemp(prefix="hoptrace-visibility-")) / "store.duckdb"
    proc, ended, done = start_writer(db, args.traces)
    seen: dict[str, float] = {}
    queries = errors = 0
    while not done.is_set() or len(seen) < len(ended):
        try:
            rows = collector.query(
                "SELECT trace_id FROM runs WHERE span_count = 10 AND status = 'OK'", db
            )["trace_id"].to_list()
        except (collector.StoreNotFoundError, collector.SchemaVersionError):
            time.sleep(args.poll)  # the writer has not created the file (or schema) yet
            continue
        except Exception as exc:  # a reader must never fail while the writer works
            errors += 1
            print(f"reader error: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        returned = time.time()
        queries += 1
        for t in rows:
            seen.setdefault(t, returned)
        if done.is_set() and len(seen) >= len(ended):
            break
        time.sleep(args.poll)
    proc.wait(timeout=60)
    lags = sorted(seen[t] - ended[t] for t in ended if t in seen)
    q = statistics.quantiles(lags, n=20)
    print(f"{len(ended)} traces, {queries} reader queries, {errors} reader errors")
    print(
        f"visible after: p50 {statistics.median(lags):.2f} s, p95 {q[-1]:.2f} s, "
        f"max {lags[-1]:.2f} s   (target <= 2 s)"
    )


if __name__ == "__main__":
    main()
