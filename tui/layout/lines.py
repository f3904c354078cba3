"""Text lines of the errors and cost views, built from the layout results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .cost import CostTable, share_bar
from .error_paths import ErrorPath
from .fmt import fmt_cost, fmt_tokens, truncate

__all__ = ["Line", "cost_lines", "error_lines"]


@dataclass(frozen=True, slots=True)
class Line:
    """One line: its text, a `kind` the widget maps to a style, the span it stands for."""

    text: str
    kind: str = "text"
    span_id: str | None = None


_ROLE_MARK = {"origin": "✗", "propagated": "↑", "rejected": "⊘", "recovered": "✓"}
_OUTCOME_MARK = {"failed": "✗", "recovered": "✓", "rejected": "⊘", "open": "…", "absorbed": "·"}


def error_lines(paths: Sequence[ErrorPath], stacktraces: Mapping[str, str]) -> list[Line]:
    """Every path, hop by hop, then the origin's stack trace."""
    if not paths:
        return [Line("No errors in this run.", "muted")]
    out: list[Line] = []
    for n, path in enumerate(paths, 1):
        origin = path.hops[0]
        out.append(
            Line(
                f"{_OUTCOME_MARK[path.outcome]} Path {n}: {origin.error_type or 'error'} "
                f"in {origin.agent or '?'} — {path.outcome_text}",
                f"path-{path.outcome}",
                origin.span_id,
            )
        )
        for i, hop in enumerate(path.hops, 1):
            for edge in hop.crossed:
                out.append(Line(f"     ⇅ crossed handoff {edge}", "edge"))
            message = f": {hop.error_message}" if hop.error_message else ""
            out.append(
                Line(
                    f"  {i:>2}. {_ROLE_MARK.get(hop.role, '•')} [{hop.agent or 'run'}] "
                    f"{hop.span_name} — {hop.error_type or 'error'}{message} ({hop.role})",
                    f"hop-{hop.role}",
                    hop.span_id,
                )
            )
            if i == 1 and path.rejected_by:
                out.append(Line(f"      ⊘ output rejected by {path.rejected_by}", "rejected-by"))
        out.append(
            Line(f"      ⇒ {path.outcome_text}", f"outcome-{path.outcome}", path.outcome_span_id)
        )
        trace = stacktraces.get(path.origin_span_id)
        if trace:
            out.append(Line("      stack trace of the origin:", "muted"))
            out.extend(Line(f"        {t}", "trace") for t in trace.rstrip().splitlines())
        out.append(Line(""))
    return out


def cost_lines(table: CostTable, width: int) -> list[Line]:
    """A table of agents with own / inclusive cost, tokens, models and a share bar."""
    fixed = 14 + 11 + 11 + 8 + 8 + 6 + 7
    models_w = 18
    bar_w = max(10, width - fixed - models_w - 8)
    head = (
        f"{'AGENT':<14}{'OWN':>11}{'INCLUSIVE':>11}{'IN':>8}{'OUT':>8}{'CALLS':>6}"
        f"  {'MODELS':<{models_w}} {'SHARE':>6} "
    )
    out = [Line(head + "COST SHARE", "header")]
    if not table.lines:
        out.append(Line("No agents in this run.", "muted"))
    for c in table.lines:
        share = "" if c.share is None else f"{c.share:.0%}"
        priced = bool(c.llm_calls) and c.has_usage  # all calls failed: "-", not "n/a"
        own = fmt_cost(c.own_usd) if c.own_usd is not None or priced else "-"
        incl = fmt_cost(c.inclusive_usd) if c.inclusive_usd is not None or priced else "-"
        out.append(
            Line(
                f"{truncate(c.agent, 13):<14}{own:>11}"
                f"{incl:>11}{fmt_tokens(c.input_tokens):>8}"
                f"{fmt_tokens(c.output_tokens):>8}{c.llm_calls:>6}"
                f"  {truncate(', '.join(c.models), models_w):<{models_w}} {share:>6} "
                f"{share_bar(c.share, bar_w)}",
                "row" if c.share is not None or not priced else "unknown",
            )
        )
    out.append(Line(""))
    total = fmt_cost(table.total_usd)
    out.append(
        Line(
            f"run total {total}   tokens in {fmt_tokens(table.input_tokens)}"
            f" / out {fmt_tokens(table.output_tokens)}",
            "total",
        )
    )
    if table.unknown_cost:
        out.append(Line("n/a: model price unknown, not counted in the total", "muted"))
    return out
