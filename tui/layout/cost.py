"""Per-agent cost lines, critical-path shares and proportional bars."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from collector.queries import AgentRow, SpanRow

__all__ = ["CostLine", "CostTable", "cost_table", "critical_shares", "share_bar"]

_EIGHTHS = " ▏▎▍▌▋▊▉"


def share_bar(share: float | None, width: int) -> str:
    """`share` (0..1) of `width` cells in eighth-block resolution, padded to `width`."""
    if width <= 0:
        return ""
    if share is None or share <= 0:
        return " " * width
    eighths = round(min(1.0, share) * width * 8)
    full, rest = divmod(eighths, 8)
    bar = "█" * full + (_EIGHTHS[rest] if rest else "")
    return bar.ljust(width)[:width]


@dataclass(frozen=True, slots=True)
class CostLine:
    """One agent's row of the cost view; `share` is of the run's known cost."""

    agent: str
    own_usd: float | None
    inclusive_usd: float | None
    input_tokens: int
    output_tokens: int
    llm_calls: int
    models: tuple[str, ...]
    share: float | None

    @property
    def has_usage(self) -> bool:
        """Whether its model calls reported any tokens (failed calls report none)."""
        return bool(self.input_tokens or self.output_tokens)


@dataclass(frozen=True, slots=True)
class CostTable:
    """Lines sorted by own cost, the run total and whether some cost is unknown."""

    lines: tuple[CostLine, ...]
    total_usd: float | None
    input_tokens: int
    output_tokens: int
    unknown_cost: bool


def cost_table(agents: Sequence[AgentRow], run_total_usd: float | None = None) -> CostTable:
    """Shares of the run's cost per agent.

    The total is the run's when the store knows it, else the sum of the agents'
    own costs (own costs do not overlap, inclusive ones do). An agent with model
    calls but no known cost keeps `None`: unknown is never shown as $0.
    """
    known = [a.cost_usd for a in agents if a.cost_usd is not None]
    total = run_total_usd if run_total_usd is not None else (sum(known) if known else None)
    lines = [
        CostLine(
            agent=a.agent_name,
            own_usd=a.cost_usd,
            inclusive_usd=a.inclusive_cost_usd,
            input_tokens=int(a.input_tokens or 0),
            output_tokens=int(a.output_tokens or 0),
            llm_calls=a.llm_calls,
            models=a.models,
            share=(a.cost_usd / total) if (a.cost_usd is not None and total) else None,
        )
        for a in agents
    ]
    lines.sort(key=lambda c: (-(c.own_usd or 0.0), -(c.inclusive_usd or 0.0), c.agent))
    return CostTable(
        lines=tuple(lines),
        total_usd=total,
        input_tokens=sum(c.input_tokens for c in lines),
        output_tokens=sum(c.output_tokens for c in lines),
        # calls that reported no tokens (failed calls) cost nothing knowable, but their
        # price is not what is missing: only priced-but-unknown usage earns the "n/a" note
        unknown_cost=any(c.own_usd is None and c.llm_calls and c.has_usage for c in lines),
    )


def critical_shares(
    agents: Sequence[AgentRow], spans: Sequence[SpanRow] = ()
) -> list[tuple[str, float]]:
    """Each agent's share of the critical path, largest first.

    Uses the `agents` view's `critical_path_share` when present; otherwise sums
    `critical_path_ms` of the spans on the path by agent.
    """
    shares = [(a.agent_name, a.critical_path_share) for a in agents if a.critical_path_share]
    if not shares:
        per_agent: dict[str, float] = {}
        for s in spans:
            if s.on_critical_path and s.critical_path_ms:
                key = s.agent_name or s.name
                per_agent[key] = per_agent.get(key, 0.0) + s.critical_path_ms
        total = sum(per_agent.values())
        shares = [(k, v / total) for k, v in per_agent.items()] if total else []
    return sorted(((k, float(v)) for k, v in shares if v), key=lambda kv: (-kv[1], kv[0]))
