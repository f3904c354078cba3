"""The comparisons as plain text lines and as JSON-ready dicts (`hoptrace diff` and the TUI)."""

from __future__ import annotations

from typing import Any

from collector.queries._compare import AgentDelta, AlignedHop, Hop, RunDiff, RunSide, outcome_text
from collector.queries._compare_groups import GroupComparison, GroupStats

__all__ = ["OP_MARKS", "diff_json", "diff_lines", "groups_json", "groups_lines", "hop_label"]

OP_MARKS = {"match": "=", "changed": "~", "missing": "-", "extra": "+"}
"""One character per alignment op: = same, ~ changed, - only in A, + only in B."""
PREVIEW_WIDTH = 240


def fmt_ms(ms: float | None) -> str:
    """120 ms, 1.42 s; '-' when unknown."""
    if ms is None:
        return "-"
    return f"{ms / 1000:.2f} s" if abs(ms) >= 1000 else f"{ms:.0f} ms"


def fmt_cost(usd: float | None) -> str:
    """$0.0123; '-' when unknown."""
    return "-" if usd is None else f"${usd:.4f}"


def _signed(x: float | None, unit: str = "", digits: int = 0) -> str:
    if x is None:
        return "?"
    if abs(x) < 10**-digits / 2:
        return "0"
    return f"{x:+.{digits}f}{unit}"


def hop_label(h: Hop | None) -> str:
    """`agent <- caller [data: x] (outcome)`."""
    if h is None:
        return ""
    text = h.agent
    if h.caller:
        text += f" <- {h.caller}"
    if h.sources:
        text += f" [data: {', '.join(h.sources)}]"
    if h.outcome != "ok":
        text += f": {outcome_text(h)}"
    return text


def _side_lines(tag: str, s: RunSide) -> list[str]:
    more = "  (first hops only)" if s.truncated else ""
    lines = [
        f"{tag}  {s.trace_id}  {s.name or '?'}  {s.status}  {fmt_ms(s.duration_ms)}"
        f"  {fmt_cost(s.cost_usd)}  {s.llm_calls} calls  {s.tokens} tokens{more}"
    ]
    if s.root_cause_agent:
        lines.append(f"   root cause: {s.root_cause_agent} ({s.root_cause_error or 'error'})")
    return lines


def _preview(text: str | None) -> str:
    if text is None:
        return "(not recorded)"
    one = " ".join(text.split())
    return one if len(one) <= PREVIEW_WIDTH else one[: PREVIEW_WIDTH - 1] + "…"


def _io_lines(tag: str, h: Hop | None) -> list[str]:
    if h is None:
        return [f"  {tag}: (no such hop)"]
    lines = [
        f"  {tag}: {hop_label(h)}  span {h.span_id}  {fmt_ms(h.duration_ms)}"
        f"  {fmt_cost(h.cost_usd)}",
        f"     input : {_preview(h.input_preview)}",
        f"     output: {_preview(h.output_preview)}",
    ]
    for model, given, answer in h.messages:
        lines.append(f"     {model} in : {_preview(given)}")
        lines.append(f"     {model} out: {_preview(answer)}")
    return lines


def _step_line(n: int, s: AlignedHop, width: int) -> str:
    again = " (again)" if s.repeat else ""
    left = hop_label(s.a) + (again if s.op == "missing" else "")
    right = hop_label(s.b) + (again if s.op == "extra" else "")
    return f"  {n:>3} {OP_MARKS[s.op]} {left:<{width}}  {right}".rstrip()


def _agent_line(d: AgentDelta) -> str:
    return (
        f"  {d.agent:<14} {d.a.invocations:>2}/{d.b.invocations:<2}"
        f" {fmt_ms(d.a.duration_ms):>9} {_signed(d.d_duration_ms, ' ms'):>10}"
        f" {fmt_ms(d.a.critical_path_ms):>9} {_signed(d.d_critical_path_ms, ' ms'):>10}"
        f" {d.a.tokens:>7} {_signed(d.d_tokens):>7}"
        f" {fmt_cost(d.a.cost_usd):>8} {_signed(d.d_cost_usd, '', 4):>8}"
        f" {d.a.llm_calls:>3} {_signed(d.d_llm_calls):>3}"
        f" {d.a.errors:>3} {_signed(d.d_errors):>3}"
    )


def diff_lines(diff: RunDiff) -> list[str]:
    """The whole pair comparison as text (what `hoptrace diff A B` prints)."""
    c = diff.counts
    lines = [
        *_side_lines("A", diff.a),
        *_side_lines("B", diff.b),
        f"hops: {c['match']} same, {c['changed']} changed, {c['missing']} only in A,"
        f" {c['extra']} only in B",
        "",
    ]
    div = diff.divergence
    if div is None:
        lines.append("no divergence: both runs made the same hops with the same outcomes")
    else:
        lines.append(f"first divergence at hop {div.index + 1} [{div.kind}]: {div.text}")
        lines += _io_lines("A", div.a) + _io_lines("B", div.b)
    lines += ["", "hops (= same, ~ changed, - only in A, + only in B)"]
    width = max([len(hop_label(s.a)) + 8 for s in diff.steps] + [10])
    width = min(width, 60)
    lines += [_step_line(i + 1, s, width) for i, s in enumerate(diff.steps)]
    lines += [
        "",
        "per agent: A value, then B - A",
        f"  {'agent':<14} {'runs':>5} {'wall':>9} {'Δ':>10} {'crit path':>9} {'Δ':>10}"
        f" {'tokens':>7} {'Δ':>7} {'cost':>8} {'Δ':>8} {'calls':>7} {'errors':>7}",
    ]
    lines += [_agent_line(d) for d in diff.agents]
    lines += [
        "",
        "critical path",
        f"  A: {' > '.join(diff.a.critical_path) or '-'}  ({fmt_ms(diff.a.critical_path_ms)})",
        f"  B: {' > '.join(diff.b.critical_path) or '-'}  ({fmt_ms(diff.b.critical_path_ms)})",
    ]
    if diff.critical_path_moves:
        moved = ", ".join(
            f"{d.agent} {_signed(d.d_critical_path_ms, ' ms')}" for d in diff.critical_path_moves
        )
        lines.append(f"  moved: {moved}")
    return lines


def _hop_json(h: Hop | None) -> dict[str, Any] | None:
    if h is None:
        return None
    out = {f: getattr(h, f) for f in h.__dataclass_fields__}
    out["messages"] = [{"model": m, "input": i, "output": o} for m, i, o in h.messages]
    return out


def _side_json(s: RunSide) -> dict[str, Any]:
    out = {f: getattr(s, f) for f in s.__dataclass_fields__ if f != "hops"}
    out["critical_path"] = list(s.critical_path)
    out["hops"] = len(s.hops)
    return out


def _delta_json(d: AgentDelta) -> dict[str, Any]:
    a, b = d.a, d.b
    return {
        "agent": d.agent,
        "a": {f: getattr(a, f) for f in a.__dataclass_fields__},
        "b": {f: getattr(b, f) for f in b.__dataclass_fields__},
        "delta": {
            "duration_ms": d.d_duration_ms,
            "critical_path_ms": d.d_critical_path_ms,
            "tokens": d.d_tokens,
            "cost_usd": d.d_cost_usd,
            "llm_calls": d.d_llm_calls,
            "errors": d.d_errors,
        },
    }


def diff_json(diff: RunDiff) -> dict[str, Any]:
    """The pair comparison as JSON-ready data (what `--format json` prints)."""
    div = diff.divergence
    return {
        "a": _side_json(diff.a),
        "b": _side_json(diff.b),
        "counts": diff.counts,
        "divergence": None
        if div is None
        else {
            "index": div.index,
            "kind": div.kind,
            "text": div.text,
            "a": _hop_json(div.a),
            "b": _hop_json(div.b),
        },
        "steps": [
            {
                "op": s.op,
                "repeat": s.repeat,
                "a": None if s.a is None else {"span_id": s.a.span_id, "label": hop_label(s.a)},
                "b": None if s.b is None else {"span_id": s.b.span_id, "label": hop_label(s.b)},
            }
            for s in diff.steps
        ],
        "agents": [_delta_json(d) for d in diff.agents],
        "critical_path_moves": [
            {"agent": d.agent, "delta_ms": d.d_critical_path_ms} for d in diff.critical_path_moves
        ],
    }


def _group_line(g: GroupStats) -> str:
    more = "  (newest runs only)" if g.truncated else ""
    rate = "-" if g.failure_rate is None else f"{g.failure_rate:.0%}"
    calls = "-" if g.model_calls_per_run is None else f"{g.model_calls_per_run:.1f}"
    return (
        f"  {g.name:<16} {g.runs:>6} {g.failed:>6} {rate:>6} {fmt_ms(g.p50_ms):>9}"
        f" {fmt_ms(g.p95_ms):>9} {fmt_cost(g.cost_per_run_usd):>9} {calls:>7}{more}"
    )


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}x"


def groups_lines(c: GroupComparison) -> list[str]:
    """The group comparison as text (what `hoptrace diff --group-by` prints)."""
    lines = [
        f"grouped by {c.grouping}",
        f"  {'group':<16} {'runs':>6} {'failed':>6} {'rate':>6} {'p50':>9} {'p95':>9}"
        f" {'cost/run':>9} {'calls/run':>7}",
        _group_line(c.a),
        _group_line(c.b),
        f"  {'ratio a/b':<16} {'':>6} {'':>6} {'':>6} {_ratio(c.latency_ratio):>9} {'':>9}"
        f" {_ratio(c.cost_ratio):>9} {_ratio(c.calls_ratio):>7}",
        "",
        c.verdict,
    ]
    rest = [f"{g} ({n})" for g, n in c.others if g not in (c.a.name, c.b.name)]
    if rest:
        lines.append("other groups: " + ", ".join(rest))
    return lines


def _stats_json(g: GroupStats) -> dict[str, Any]:
    out = {f: getattr(g, f) for f in g.__dataclass_fields__}
    out["failure_rate"] = g.failure_rate
    return out


def groups_json(c: GroupComparison) -> dict[str, Any]:
    """The group comparison as JSON-ready data."""
    return {
        "grouping": c.grouping,
        "a": _stats_json(c.a),
        "b": _stats_json(c.b),
        "latency_ratio": c.latency_ratio,
        "cost_ratio": c.cost_ratio,
        "calls_ratio": c.calls_ratio,
        "verdict": c.verdict,
        "groups": [{"name": g, "runs": n} for g, n in c.others],
    }
