"""`hoptrace mcp`: a Model Context Protocol server over a hoptrace store (stdio by default).

A coding agent debugging a multi-agent system asks hoptrace directly: list runs, one
run's summary (root cause, error paths hop by hop, critical path shares, cost per
agent, handoffs), a span with its captured input / output and messages, agents across
runs, the ranked insights, a comparison of two runs, and read-only SQL through the same
guard as `hoptrace sql`. Every answer is compact JSON text; long values and long lists
are cut with a note saying so. Nothing is ever written to the store.

Built on the official `mcp` SDK (2.x, `MCPServer`), imported only when the command
runs; `pip install 'hoptrace[mcp]'` installs it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

MAX_TEXT = 2000
"""Characters kept of one captured value (input, output, message, SQL cell)."""
MAX_ANSWER = 60_000
"""Characters of one answer at most; past it the JSON is cut and says so."""
SQL_MAX_ROWS = 500

INSTRUCTIONS = """\
hoptrace stores OpenTelemetry traces of multi-agent LLM pipelines: one run = one trace,
made of agent, tool and model-call spans with handoffs between agents. Start with
list_runs (status ERROR for failures), then run_summary on a trace_id (or a unique
prefix): it names the root cause and the error path hop by hop. span shows one span's
captured input, output and messages. insights ranks what would pay (faster agents,
parallel hops, cheaper models, waste, blame). sql runs read-only SQL over the views
runs, spans, agents, handoffs, llm_calls, errors, model_prices."""


def clip(value: Any, limit: int = MAX_TEXT) -> Any:
    """A string cut to `limit` characters with a note of how long it was."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]}… [truncated: {len(value)} chars]"
    return value


def _capped(items: list[Any], limit: int, what: str) -> dict[str, Any]:
    out: dict[str, Any] = {what: items[:limit]}
    if len(items) > limit:
        out["note"] = f"{len(items) - limit} more {what} not shown"
    return out


def _dump(data: Any) -> str:
    return json.dumps(data, default=str, separators=(",", ":"), ensure_ascii=False)


def answer(data: Any) -> str:
    """Compact JSON text of at most MAX_ANSWER characters.

    An answer too long loses items from the end of its longest top-level list (rows,
    runs, insights…) until it fits, and says how many in `note`, so it stays valid
    JSON; only an answer with no list to shorten is cut as text.
    """
    text = _dump(data)
    if len(text) <= MAX_ANSWER:
        return text
    lists = [k for k, v in data.items() if isinstance(v, list)] if isinstance(data, dict) else []
    if lists:
        key = max(lists, key=lambda k: len(_dump(data[k])))
        items, keep = data[key], len(data[key])
        while keep > 0:
            keep //= 2
            trimmed = {**data, key: items[:keep],
                       "note": f"answer cut to {keep} of {len(items)} {key} ({MAX_ANSWER} "
                       "chars at most); ask for fewer or narrower"}  # fmt: skip
            text = _dump(trimmed)
            if len(text) <= MAX_ANSWER:
                return text
    return text[:MAX_ANSWER] + f"… [answer truncated: {len(text)} chars; ask for less]"


class _Tools:
    """The tool functions over one store (each opens its own short read connection)."""

    def __init__(self, db: str | Path | None) -> None:
        self.db = db

    def _trace(self, run_id: str) -> str:
        from collector.queries import resolve_run_id

        return resolve_run_id(self.db, run_id)

    def list_runs(
        self, status: str | None = None, name: str = "", text: str = "", limit: int = 20
    ) -> str:
        """Runs newest first. status: OK | ERROR | RUNNING; name: part of the run's name;
        text: free text over name, id, agent and error; limit: at most 200."""
        from collector.queries import RunFilter, RunSort, runs_count, runs_page

        flt = RunFilter(status=status or None, name=name, text=text)
        limit = max(1, min(limit, 200))
        rows = runs_page(self.db, flt, RunSort(), 0, limit)
        total = runs_count(self.db, flt)
        runs = [
            {
                "trace_id": r.trace_id,
                "name": r.name,
                "status": r.status,
                "start_ns": r.start_ns,
                "duration_ms": r.duration_ms,
                "agents": r.agent_count,
                "llm_calls": r.llm_calls,
                "tokens": (r.input_tokens or 0) + (r.output_tokens or 0),
                "cost_usd": r.cost_usd,
                "root_cause": None
                if not r.root_cause_agent
                else f"{r.root_cause_agent}: {r.root_cause_error}: {clip(r.root_cause_message, 200)}",
            }
            for r in rows
        ]
        out: dict[str, Any] = {"count": total, "runs": runs}
        if total > len(runs):
            out["note"] = f"{total - len(runs)} older runs not shown (raise limit or filter)"
        return answer(out)

    def run_summary(self, trace_id: str) -> str:
        """One run: status, root cause, error paths hop by hop, critical path shares, cost
        per agent, handoffs and rejections. trace_id may be a unique prefix."""
        from collector.queries import load_run

        bundle = load_run(self.db, self._trace(trace_id))
        run = bundle.run
        if run is None:
            raise _tool_error(f"no run {trace_id!r}")
        names = {s.span_id: s.name for s in bundle.spans}
        paths = []
        for origin in (e for e in bundle.errors if e.role == "origin"):
            hops = [
                e
                for e in bundle.errors
                if e.span_id == origin.span_id or e.cause_span_id == origin.span_id
            ]
            paths.append(
                [
                    {
                        "agent": e.agent_name,
                        "span": e.span_name or names.get(e.span_id),
                        "span_id": e.span_id,
                        "role": e.role,
                        "error": e.error_type,
                        "message": clip(e.error_message, 300),
                    }
                    for e in hops
                ]
            )
        data = {
            "trace_id": run.trace_id,
            "name": run.name,
            "status": run.status,
            "duration_ms": run.duration_ms,
            "cost_usd": run.cost_usd,
            "spans": run.span_count,
            "root_cause": None
            if not run.root_cause_agent
            else {
                "agent": run.root_cause_agent,
                "error": run.root_cause_error,
                "message": clip(run.root_cause_message, 500),
                "span_id": run.root_cause_span_id,
            },
            **_capped(paths, 10, "error_paths"),
            "critical_path_ms": run.critical_path_ms,
            "agents": [
                {
                    "agent": a.agent_name,
                    "invocations": a.invocations,
                    "critical_path_share": a.critical_path_share,
                    "llm_calls": a.llm_calls,
                    "tokens": (a.input_tokens or 0) + (a.output_tokens or 0),
                    "cost_usd": a.cost_usd,
                    "inclusive_cost_usd": a.inclusive_cost_usd,
                    "errors": a.error_count,
                    "models": list(a.models),
                }
                for a in bundle.agents
            ],
            "handoffs": _capped(
                [
                    {
                        "from": h.from_agent,
                        "to": h.to_agent,
                        "kind": h.kind,
                        "payload": clip(h.payload_preview, 200),
                    }
                    for h in bundle.handoffs
                ],
                50,
                "edges",
            ),
            "rejections": [
                {
                    "by": r.agent,
                    "rejected_span_id": r.rejected_span_id,
                    "reason": clip(r.reason, 300),
                }
                for r in bundle.rejections
            ],
        }
        return answer(data)

    def span(self, trace_id: str, span_id: str) -> str:
        """One span: timing, status, error, model and tokens, captured input / output,
        model messages, attributes, events and the handoffs into it."""
        from collector.queries import span_detail

        d = span_detail(self.db, self._trace(trace_id), span_id)
        if d is None:
            raise _tool_error(f"no span {span_id!r} in run {trace_id!r}")
        attrs = dict(list(d.attributes.items())[:80])
        data = {
            "span_id": d.span_id,
            "parent_span_id": d.parent_span_id,
            "name": d.name,
            "operation": d.operation,
            "agent": d.agent_name,
            "duration_ms": d.duration_ms,
            "status": d.status,
            "error": d.error_type,
            "error_message": clip(d.error_message),
            "error_role": d.error_role,
            "cause_span_id": d.cause_span_id,
            "model": d.model,
            "input_tokens": d.input_tokens,
            "output_tokens": d.output_tokens,
            "cost_usd": d.cost_usd,
            "pending": d.pending,
            "input": clip(d.input_preview),
            "output": clip(d.output_preview),
            "messages": {
                k: clip(_text(d.attributes.get(k)))
                for k in ("gen_ai.input.messages", "gen_ai.output.messages")
                if k in d.attributes
            },
            "attributes": {k: clip(_text(v), 300) for k, v in attrs.items()},
            "events": [
                {
                    "name": e.get("name"),
                    "attributes": {
                        k: clip(_text(v), 300) for k, v in (e.get("attributes") or {}).items()
                    },
                }
                for e in d.events[:20]
            ],
            "handoffs_in": [{"from": h.from_agent, "kind": h.kind} for h in d.handoffs_in],
            "stacktrace": clip(d.exception_stacktrace),
        }
        if len(d.attributes) > len(attrs):
            data["note"] = f"{len(d.attributes) - len(attrs)} more attributes not shown"
        return answer(data)

    def agents(self, status: str | None = None, limit: int = 50) -> str:
        """Every agent across runs (of one status, optionally): runs, invocations, mean
        critical-path share, model calls, cost in total and per run, errors."""
        from collector.queries import reader

        where, params = ("WHERE r.status = ?", [status]) if status else ("", [])
        sql = (
            "SELECT a.agent_name, count(DISTINCT a.trace_id), sum(a.invocations),"
            " avg(a.critical_path_share), sum(a.llm_calls), sum(a.cost_usd),"
            " sum(a.cost_usd) / count(DISTINCT a.trace_id), sum(a.error_count),"
            " string_agg(DISTINCT a.models, ',')"
            f" FROM agents a JOIN runs r USING (trace_id) {where}"
            " GROUP BY 1 ORDER BY 6 DESC NULLS LAST, 1 LIMIT ?"
        )
        with reader(self.db) as r:
            rows = r.conn.execute(sql, [*params, max(1, min(limit, 500))]).fetchall()
        keys = ("agent", "runs", "invocations", "critical_path_share_mean", "llm_calls",
                "cost_usd", "cost_usd_per_run", "errors", "models")  # fmt: skip
        return answer({"agents": [dict(zip(keys, r, strict=True)) for r in rows]})

    def insights(
        self,
        status: str | None = None,
        name: str = "",
        speedup: float = 0.5,
        model: str | None = None,
        limit: int = 10,
    ) -> str:
        """Ranked, quantified changes worth making over the runs of a filter: what-if speed
        per agent, parallelisable hops, model swaps (also to `model`), waste, blame."""
        from collector.queries import RunFilter, insights

        try:
            report = insights(self.db, RunFilter(status=status or None, name=name),
                              speedup=speedup, model=model or None)  # fmt: skip
        except ValueError as exc:
            raise _tool_error(str(exc)) from None
        data = report.to_json()
        found = data.pop("insights")
        for i in found:
            i["evidence"] = i["evidence"][:3]
        data.update(_capped(found, max(1, min(limit, 100)), "insights"))
        return answer(data)

    def compare_runs(self, run_a: str, run_b: str) -> str:
        """Two runs side by side: aligned agent hops, the first divergence, per-agent deltas."""
        from collector.queries import compare_runs, diff_json

        return answer(diff_json(compare_runs(self.db, self._trace(run_a), self._trace(run_b))))

    def sql(self, query: str, max_rows: int = 100) -> str:
        """Read-only SQL (DuckDB dialect) over the views; writes, file access and settings
        are refused. At most 500 rows."""
        from collector.sql import run_guarded

        cap = max(1, min(max_rows, SQL_MAX_ROWS))
        table = run_guarded(query, self.db, max_rows=cap)
        rows = [
            [clip(v, 500) for v in row]
            for row in zip(*(c.to_pylist() for c in table.columns), strict=True)
        ]
        out: dict[str, Any] = {"columns": table.column_names, "rows": rows[:cap]}
        if len(rows) > cap:
            out["note"] = f"more than {cap} rows; only the first {cap} shown"
        return answer(out)


def _text(value: Any) -> Any:
    return (
        value
        if isinstance(value, str | int | float | bool) or value is None
        else json.dumps(value, default=str)
    )


def _tool_error(message: str) -> Exception:
    from mcp.server.mcpserver.exceptions import ToolError

    return ToolError(message)


TOOL_NAMES = ("list_runs", "run_summary", "span", "agents", "insights", "compare_runs", "sql")


def _guarded(fn: Callable[..., str]) -> Callable[..., str]:
    """Turn the store's and the guard's errors into one-line tool errors."""
    import functools

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> str:
        import duckdb

        from collector.queries import RunNotFoundError
        from collector.sql import ParseError, Refused
        from collector.store import StoreError

        try:
            return fn(*args, **kwargs)
        except Refused as exc:
            raise _tool_error(str(exc)) from None
        except (ParseError, StoreError, RunNotFoundError, duckdb.Error) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise _tool_error(first) from None

    return call


def build_server(db: str | Path | None) -> Any:
    """The MCPServer with hoptrace's tools over `db`."""
    from mcp.server.mcpserver import MCPServer
    from mcp.types import ToolAnnotations

    from tracer._version import __version__

    server = MCPServer(
        "hoptrace", instructions=INSTRUCTIONS, version=__version__, log_level="WARNING"
    )
    tools = _Tools(db)
    read_only = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True)
    for name in TOOL_NAMES:
        server.add_tool(_guarded(getattr(tools, name)), name=name, annotations=read_only,
                        structured_output=False)  # fmt: skip
    return server


def run(args: argparse.Namespace) -> int:
    """Entry point called by `hoptrace._cli`: serve until the client closes stdin."""
    try:
        server = build_server(args.db)
    except ImportError:
        print("hoptrace mcp: the MCP SDK is missing: pip install 'hoptrace[mcp]'", file=sys.stderr)
        return 2
    if args.http is not None:
        # loopback only: the store is the user's, not the network's
        server.run("streamable-http", host="127.0.0.1", port=args.http)
    else:
        server.run("stdio")
    return 0
