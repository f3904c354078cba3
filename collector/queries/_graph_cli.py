"""`hoptrace graph [RUN] [--db PATH] [--format text|mermaid|dot]`: the handoff graph, printed.

RUN (a trace id or a unique prefix) draws one run; without it the graph is
aggregated over every run in the store. `text` is the TUI's own layout; `mermaid`
and `dot` are for docs and pull requests. Exit codes: 0 ok; 1 no store, no such
run, or a DuckDB error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from collector.queries._graph import (
    GraphEdge,
    GraphNode,
    HandoffGraph,
    graph_over_runs,
    handoff_graph,
)
from collector.queries._graph_layout import layout_graph, node_lines
from collector.queries._read import reader
from collector.queries._run import load_run
from collector.queries._runs import RunNotFoundError, resolve_run_id

FORMATS = ("text", "mermaid", "dot")


def run(args: argparse.Namespace) -> int:
    """Entry point called by `hoptrace._cli`."""
    return execute(args.run, db=args.db, fmt=args.format, out=sys.stdout, err=sys.stderr)


def execute(run_id: str | None, db: str | None, fmt: str, out: TextIO, err: TextIO) -> int:
    """Read, lay out and print the graph; return the exit code."""
    import duckdb

    from collector.store import StoreError

    try:
        with reader(db) as conn:
            if run_id:
                graph = handoff_graph(load_run(conn, resolve_run_id(conn, run_id)))
            else:
                graph = graph_over_runs(conn)
    except (RunNotFoundError, StoreError, duckdb.Error) as exc:
        print(f"hoptrace graph: {exc}", file=err)
        return 1
    out.write(render(graph, fmt))
    return 0


def render(graph: HandoffGraph, fmt: str) -> str:
    """The graph as text (grid and edge list), Mermaid or Graphviz dot."""
    if fmt == "mermaid":
        return mermaid(graph)
    if fmt == "dot":
        return dot(graph)
    return text(graph)


def _title(graph: HandoffGraph) -> str:
    if graph.trace_id:
        return f"handoff graph of run {graph.trace_id}"
    more = " (truncated)" if graph.truncated else ""
    return f"handoff graph over {graph.runs} runs{more}"


def _marks(edge: GraphEdge) -> str:
    parts = []
    if edge.errors:
        parts.append(f"{edge.errors} error hop{'s' if edge.errors != 1 else ''} crossed")
    if edge.rejections:
        parts.append(f"{edge.rejections} rejection{'s' if edge.rejections != 1 else ''}")
    if edge.critical:
        parts.append("critical path")
    return f"  ({', '.join(parts)})" if parts else ""


def text(graph: HandoffGraph) -> str:
    """The TUI's layout, then every edge in words (labels that found no room included)."""
    lines = [_title(graph), "", *layout_graph(graph).lines]
    if graph.edges:
        lines += ["", "edges:"]
        for e in graph.edges:
            kinds = ", ".join(f"{n} {k}" for k, n in e.kinds)
            lines.append(f"  {e.source} → {e.target}: {kinds}{_marks(e)}")
    lines.append("")
    lines.append("✗ an error crossed the edge  ⊘ a rejection crossed it  ↻ hands over to itself")
    return "\n".join(lines) + "\n"


def _ids(graph: HandoffGraph) -> dict[str, str]:
    return {n.agent: f"n{i}" for i, n in enumerate(graph.nodes)}


def _node_label(node: GraphNode, graph: HandoffGraph) -> tuple[str, str]:
    loops = next((e.count for e in graph.edges if e.source == e.target == node.agent), 0)
    return node_lines(node, loops)


def mermaid(graph: HandoffGraph) -> str:
    """A Mermaid flowchart: red edges an error crossed, orange rejections, thick critical."""
    ids = _ids(graph)
    out = [f"%% {_title(graph)}", "flowchart TD"]
    for n in graph.nodes:
        name, stats = _node_label(n, graph)
        out.append(f'    {ids[n.agent]}["{_mm(name)}<br/>{_mm(stats)}"]')
    styles = []
    for i, e in enumerate(graph.edges):
        arrow = "==>" if e.critical else "-->"
        out.append(f'    {ids[e.source]} {arrow}|"{_mm(e.label)}"| {ids[e.target]}')
        if e.errors:
            styles.append(f"    linkStyle {i} stroke:#d33,color:#d33")
        elif e.rejections:
            styles.append(f"    linkStyle {i} stroke:#e80,color:#e80")
    for n in graph.nodes:
        if n.error_count:
            styles.append(f"    style {ids[n.agent]} stroke:#d33")
    return "\n".join(out + styles) + "\n"


def _mm(value: str) -> str:
    # Mermaid labels in quotes: a quote or angle bracket would end or open markup
    return value.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def dot(graph: HandoffGraph) -> str:
    """A Graphviz digraph with the same marks."""
    ids = _ids(graph)
    out = [f"// {_title(graph)}", "digraph handoffs {", "  node [shape=box];"]
    for n in graph.nodes:
        name, stats = _node_label(n, graph)
        color = ', color="#d33"' if n.error_count else ""
        out.append(
            f"  {ids[n.agent]} [label={json.dumps(name + chr(10) + stats, ensure_ascii=False)}{color}];"
        )
    for e in graph.edges:
        attrs = [f"label={json.dumps(e.label, ensure_ascii=False)}"]
        if e.errors:
            attrs.append('color="#d33"')
        elif e.rejections:
            attrs.append('color="#e80"')
        if e.critical:
            attrs.append("penwidth=2")
        out.append(f"  {ids[e.source]} -> {ids[e.target]} [{', '.join(attrs)}];")
    out.append("}")
    return "\n".join(out) + "\n"
