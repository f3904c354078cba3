"""Per agent totals of one run's hops, and their change from run A to run B."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collector.queries._compare import Hop

__all__ = ["AgentDelta", "AgentTotals", "agent_totals"]


@dataclass(frozen=True, slots=True)
class AgentTotals:
    """One agent's totals over its invocations in one run."""

    invocations: int = 0
    duration_ms: float = 0.0
    critical_path_ms: float = 0.0
    llm_calls: int = 0
    tokens: int = 0
    cost_usd: float | None = None
    errors: int = 0


def _add(t: AgentTotals, h: Hop) -> AgentTotals:
    cost = t.cost_usd
    if h.cost_usd is not None:  # unknown stays unknown, never a 0 that looks known
        cost = (cost or 0.0) + h.cost_usd
    return AgentTotals(
        t.invocations + 1,
        t.duration_ms + (h.duration_ms or 0.0),
        t.critical_path_ms + h.critical_path_ms,
        t.llm_calls + h.llm_calls,
        t.tokens + h.tokens,
        cost,
        t.errors + h.errors,
    )


def agent_totals(hops: Sequence[Hop]) -> dict[str, AgentTotals]:
    """Per agent: invocations, summed wall time, critical-path time, calls, tokens, cost, errors."""
    out: dict[str, AgentTotals] = {}
    for h in hops:
        out[h.agent] = _add(out.get(h.agent, AgentTotals()), h)
    return out


@dataclass(frozen=True, slots=True)
class AgentDelta:
    """One agent in both runs; B minus A in each `d_*`."""

    agent: str
    a: AgentTotals
    b: AgentTotals

    @property
    def d_duration_ms(self) -> float:
        """Change of summed wall time."""
        return self.b.duration_ms - self.a.duration_ms

    @property
    def d_critical_path_ms(self) -> float:
        """Change of critical-path time."""
        return self.b.critical_path_ms - self.a.critical_path_ms

    @property
    def d_tokens(self) -> int:
        """Change of tokens."""
        return self.b.tokens - self.a.tokens

    @property
    def d_cost_usd(self) -> float | None:
        """Change of cost (None if a side that ran the agent has no known cost)."""
        # an agent absent from a run cost nothing there; present with no price is unknown
        ca = 0.0 if self.a.invocations == 0 else self.a.cost_usd
        cb = 0.0 if self.b.invocations == 0 else self.b.cost_usd
        if ca is None or cb is None:
            return None
        return cb - ca

    @property
    def d_llm_calls(self) -> int:
        """Change of model calls."""
        return self.b.llm_calls - self.a.llm_calls

    @property
    def d_errors(self) -> int:
        """Change of error spans."""
        return self.b.errors - self.a.errors
