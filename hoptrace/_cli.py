"""The `hoptrace` command: argument parsing only; every subcommand imports its package lazily.

Keeping the heavy imports (duckdb, polars, textual, litellm) inside the handlers is
what keeps `hoptrace --help` and `hoptrace --version` fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from collector import DB_ENV, DEFAULT_DB_NAME
from tracer._version import __version__

# subcommand -> module whose `run(args) -> int` does the work
_HANDLERS: dict[str, str] = {
    "sql": "collector.sql._cli",
    "derive": "collector.clickhouse._cli",
    "collect": "collector.otlp._cli",
    "demo": "sample_pipelines._demo_cli",
    "tui": "tui._cli",
    "insights": "collector.queries._insights_cli",
    "mcp": "hoptrace._mcp",
    "diff": "collector.queries._diff_cli",
    "graph": "collector.queries._graph_cli",
}

_DB_HELP = f"DuckDB file (default: ${DB_ENV} or ./{DEFAULT_DB_NAME})"


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used by the README's CLI reference)."""
    parser = argparse.ArgumentParser(
        prog="hoptrace",
        description="Trace, store and explore multi-agent LLM pipelines.",
    )
    parser.add_argument("--version", action="version", version=f"hoptrace {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sql = sub.add_parser("sql", help="run a read-only SQL query against the trace store")
    sql.add_argument("query", help='SQL, e.g. "SELECT * FROM runs LIMIT 5"')
    sql.add_argument("--db", help=_DB_HELP)
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table")

    collect = sub.add_parser("collect", help="receive OTLP/HTTP and OTLP/gRPC spans into the store")
    collect.add_argument("--db", help=_DB_HELP)
    collect.add_argument(
        "--store",
        metavar="URL",
        help="write a ClickHouse store's otel_traces instead: chdb://PATH or "
        "clickhouse[s]://[user:pass@]host:port/db (needs pip install 'hoptrace[clickhouse]')",
    )
    collect.add_argument(
        "--spool-dir",
        metavar="DIR",
        help="where acknowledged requests are spooled (default: beside the store, DB.spool/ "
        "or PATH.spool/; for a server URL: hoptrace/spool/HOST-PORT-DB/ in the user state dir)",
    )
    collect.add_argument(
        "--ttl-days",
        type=int,
        metavar="DAYS",
        help="with --store: retention of the tables this collector creates (default: none)",
    )
    collect.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    collect.add_argument("--port", type=int, default=4318, help="OTLP/HTTP port (default 4318)")
    collect.add_argument(
        "--grpc-port", type=int, default=4317, help="OTLP/gRPC port (default 4317)"
    )
    collect.add_argument("--no-grpc", action="store_true", help="serve OTLP/HTTP only")
    collect.add_argument("--no-http", action="store_true", help="serve OTLP/gRPC only")
    collect.add_argument(
        "--no-spool",
        action="store_true",
        help="answer once spans are queued, not once they are on disk (a SIGKILL or crash "
        "then loses what was queued; default: spool to DB.spool/ and fsync before answering)",
    )
    collect.add_argument(
        "--token", help="require 'Authorization: Bearer TOKEN' (or $HOPTRACE_COLLECT_TOKEN)"
    )

    demo = sub.add_parser("demo", help="run the reference multi-agent pipeline (offline)")
    demo.add_argument("--runs", type=int, default=20, help="number of runs (default 20)")
    demo.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    demo.add_argument("--fail-rate", type=float, default=0.3, help="fault rate 0..1 (default 0.3)")
    demo.add_argument("--realistic", action="store_true", help="real 1-3 s model latency")
    demo.add_argument("--baseline", action="store_true", help="also run the single-model baseline")
    demo.add_argument("--live", action="store_true", help="call real providers (needs API keys)")
    demo.add_argument("--db", help=_DB_HELP)

    derive = sub.add_parser(
        "derive",
        help="derive ClickHouse traces (otel_traces) into hoptrace's tables and views",
        description="A stateless worker for a ClickHouse store: finds the traces whose spans "
        "arrived since its last pass, derives them with hoptrace's own derivation and writes "
        "the rows behind the spans, runs, agents, handoffs, llm_calls and errors views. Run N "
        "of them with --worker 0/N .. N-1/N. Needs pip install 'hoptrace[clickhouse]'.",
    )
    derive.add_argument(
        "--store", required=True, help="chdb://PATH or clickhouse[s]://[user:pass@]host:port/db"
    )
    derive.add_argument(
        "--worker",
        default="0/1",
        metavar="I/N",
        help="this worker's share of the traces (default 0/1: all)",
    )
    derive.add_argument("--once", action="store_true", help="one pass, then exit")
    derive.add_argument(
        "--interval", type=float, default=2.0, help="seconds between passes (default 2)"
    )
    derive.add_argument(
        "--lag",
        type=float,
        default=5.0,
        help="leave spans younger than this many seconds to the next pass (default 5)",
    )
    derive.add_argument(
        "--ttl-days", type=int, help="retention of the tables this worker creates (default: none)"
    )

    tui = sub.add_parser("tui", help="open the terminal UI on a trace store")
    tui.add_argument("db_path", nargs="?", metavar="DB", help=_DB_HELP)
    tui.add_argument("--db", dest="db", help=_DB_HELP)

    ins = sub.add_parser(
        "insights",
        help="ranked changes worth making: what-if speed, parallel hops, model swaps, waste",
        description="Rank what would pay over the finished runs of a filter: what-if speed per "
        "agent (the span schedule replayed), parallelisable hops, model swaps priced from "
        "model_prices, waste (retries, rejected drafts, repeated requests) and blame hot spots.",
    )
    ins.add_argument("--db", help=_DB_HELP)
    ins.add_argument("--status", choices=("OK", "ERROR"), help="only runs with this status")
    ins.add_argument("--name", help="only runs whose name contains this text")
    ins.add_argument("--format", choices=("text", "json"), default="text")
    ins.add_argument(
        "--speedup",
        type=float,
        default=0.5,
        help="what-if: an agent's own work this much shorter (0..1, default 0.5)",
    )
    ins.add_argument("--model", help="also price every agent's calls on this model")
    ins.add_argument(
        "--max-runs", type=int, default=500, help="newest runs to read at most (default 500)"
    )
    ins.add_argument("--limit", type=int, default=20, help="insights shown as text (default 20)")

    mcp = sub.add_parser(
        "mcp",
        help="serve the store to coding agents over the Model Context Protocol (stdio)",
        description="A Model Context Protocol server over the store, on stdio (what MCP clients "
        "launch): tools list_runs, run_summary, span, agents, insights, compare_runs and "
        "read-only sql. Needs the mcp extra: pip install 'hoptrace[mcp]'.",
    )
    mcp.add_argument("--db", help=_DB_HELP)
    mcp.add_argument(
        "--http",
        type=int,
        metavar="PORT",
        help="serve streamable HTTP on 127.0.0.1:PORT (path /mcp) instead of stdio",
    )

    diff = sub.add_parser(
        "diff",
        help="compare two runs (where they diverge) or two groups of runs",
        description="Compare two runs: align their agent hops, show the first divergence, "
        "per-agent deltas and the critical paths. Or compare two groups of runs "
        "(--group-by a run attribute such as variant, a runs column, or date; --split-at).",
    )
    diff.add_argument(
        "runs", nargs="*", metavar="RUN", help="two run ids (a unique prefix is enough)"
    )
    diff.add_argument("--db", help=_DB_HELP)
    diff.add_argument("--format", choices=("text", "json"), default="text")
    diff.add_argument(
        "--group-by",
        metavar="ATTRIBUTE",
        help="compare groups of runs by a run attribute (variant = hoptrace.run.variant), "
        "a runs column (name, service_name, status, conversation_id, root_cause_agent) or date",
    )
    diff.add_argument(
        "--groups", nargs=2, metavar=("A", "B"), help="the two groups (default: the two largest)"
    )
    diff.add_argument(
        "--split-at", metavar="DATE", help="compare the runs started before DATE with those after"
    )

    graph = sub.add_parser(
        "graph",
        help="print the handoff graph of one run or of every run (text, Mermaid, dot)",
        description="Agents as boxes (invocations, wall time, cost, errors), handoffs as arrows "
        "(count and kind; ✗ an error crossed it, ⊘ a rejection did). RUN draws one run; "
        "without it the graph is aggregated over every run in the store.",
    )
    graph.add_argument(
        "run",
        nargs="?",
        metavar="RUN",
        help="run id (a unique prefix is enough; default: all runs)",
    )
    graph.add_argument("--db", help=_DB_HELP)
    graph.add_argument("--format", choices=("text", "mermaid", "dot"), default="text")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `hoptrace` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    module = importlib.import_module(_HANDLERS[args.command])
    code: int = module.run(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
