"""Per-run chaos state: the injected fault, the time scale, seeded randomness.

It travels in a context variable so the pipeline's agents keep the signatures a
real pipeline would have (the fault plan never shows up in their input previews).
"""

from __future__ import annotations

import contextvars
import random
from dataclasses import dataclass, field

from sample_pipelines.faults import Fault

__all__ = ["RunChaos", "current", "use"]


@dataclass
class RunChaos:
    """Everything random about one run, derived from `key` (seed, run index, variant)."""

    key: str
    fault: Fault = field(default_factory=Fault)
    scale: float = 0.1
    live: bool = False
    attributes: dict[str, str | int | float | bool] = field(default_factory=dict)
    """Extra run attributes (demo batch, run index...) recorded on the run."""
    _calls: dict[str, int] = field(default_factory=dict)

    def rng(self, *parts: object) -> random.Random:
        """A generator for one decision; independent of the order concurrent agents run in."""
        return random.Random(":".join([self.key, *map(str, parts)]))

    def next_call(self, agent: str) -> int:
        """Index of `agent`'s next model call in this run (0 for its first)."""
        index = self._calls.get(agent, 0)
        self._calls[agent] = index + 1
        return index

    def latency(self, low: float, high: float, *parts: object) -> float:
        """Seconds a simulated call takes: uniform in [low, high], times the time scale."""
        return self.rng("latency", *parts).uniform(low, high) * self.scale

    def bad_output(self, agent: str, attempt: int) -> bool:
        """Whether `agent`'s draft number `attempt` (1-based) is defective."""
        if self.fault.hits(agent, "bad_output_exhausted"):
            return True
        return self.fault.hits(agent, "bad_output_retried") and attempt == 1

    def raises(self, agent: str) -> bool:
        """Whether `agent` must raise (the specialist_exception fault)."""
        return self.fault.hits(agent, "specialist_exception")

    def memory_down(self) -> bool:
        """Whether the memory store is unavailable in this run."""
        return self.fault.hits("memory", "memory_store_failure")

    def model_error(self, agent: str, call: int, attempt: int) -> str | None:
        """ "RateLimitError" / "Timeout" when this model attempt must fail, else None."""
        if call != 0:
            return None
        if self.fault.hits(agent, "rate_limit_retried"):
            return "RateLimitError" if attempt == 0 else None
        if self.fault.hits(agent, "rate_limit_exhausted"):
            return "RateLimitError"
        if self.fault.hits(agent, "timeout_exhausted"):
            return "Timeout"
        return None


_CURRENT: contextvars.ContextVar[RunChaos | None] = contextvars.ContextVar(
    "sample_pipelines_chaos", default=None
)


def current() -> RunChaos:
    """The running run's chaos state (a clean, fast one outside the demo runner)."""
    chaos = _CURRENT.get()
    if chaos is None:
        chaos = RunChaos(key="adhoc")
        _CURRENT.set(chaos)
    return chaos


def use(chaos: RunChaos) -> None:
    """Install `chaos` for the current task (each run runs in its own task)."""
    _CURRENT.set(chaos)
