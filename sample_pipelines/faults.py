"""Fault injection for the reference pipeline: which fault a run gets, and its ground truth.

Every run draws at most one fault from a seeded random generator, so `--seed`
reproduces the same faults in the same runs. The fault is recorded on the run
(`hoptrace.run.fault`, `hoptrace.run.fault_agent`, `hoptrace.run.expected_outcome`)
so a diagnosis made from the trace can be checked against what really happened.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = [
    "BASELINE_FAULTS",
    "FAILING_KINDS",
    "FAULT_KINDS",
    "Fault",
    "choose_fault",
]

MULTI_AGENT_MODEL_AGENTS = ("orchestrator", "researcher", "coder", "analyst", "reviewer")
SPECIALISTS = ("researcher", "coder", "analyst")
REVIEWED = ("coder", "analyst")

# kind -> agents it can hit in the multi-agent pipeline
FAULT_KINDS: dict[str, tuple[str, ...]] = {
    # a 429 on the first attempt; the agent retries and succeeds
    "rate_limit_retried": (*MULTI_AGENT_MODEL_AGENTS, "memory"),
    # 429 on every attempt: retries exhausted, the run fails
    "rate_limit_exhausted": MULTI_AGENT_MODEL_AGENTS,
    # the provider times out on every attempt, the run fails
    "timeout_exhausted": MULTI_AGENT_MODEL_AGENTS,
    # a specialist raises; the exception propagates to the workflow
    "specialist_exception": SPECIALISTS,
    # the first draft is bad; the reviewer rejects it, the second draft passes
    "bad_output_retried": REVIEWED,
    # every draft is bad; the reviewer fails the run after the last try
    "bad_output_exhausted": REVIEWED,
    # the memory store is down; the orchestrator carries on without context
    "memory_store_failure": ("memory",),
}
FAILING_KINDS = frozenset(
    {"rate_limit_exhausted", "timeout_exhausted", "specialist_exception", "bad_output_exhausted"}
)
BASELINE_FAULTS: dict[str, tuple[str, ...]] = {
    kind: ("assistant",)
    for kind in ("rate_limit_retried", "rate_limit_exhausted", "timeout_exhausted")
}


@dataclass(frozen=True)
class Fault:
    """The fault injected into one run (`kind="none"` for a clean run)."""

    kind: str = "none"
    agent: str = ""

    @property
    def expected_outcome(self) -> str:
        """ "error" when this fault must fail the run, else "ok"."""
        return "error" if self.kind in FAILING_KINDS else "ok"

    def hits(self, agent: str, *kinds: str) -> bool:
        """Whether this fault is one of `kinds` aimed at `agent`."""
        return self.agent == agent and self.kind in kinds

    def run_attributes(self) -> dict[str, str]:
        """Ground truth for `tracer.set_run_attributes`."""
        return {
            "fault": self.kind,
            "fault_agent": self.agent,
            "expected_outcome": self.expected_outcome,
        }


def choose_fault(rng: random.Random, fail_rate: float, *, baseline: bool = False) -> Fault:
    """Draw the fault for one run: none with probability `1 - fail_rate`.

    Args:
        rng: the run's own generator (seeded from the demo seed and the run index).
        fail_rate: probability in 0..1 that the run gets a fault.
        baseline: draw from the faults the single-agent baseline can have.
    """
    if not 0.0 <= fail_rate <= 1.0:
        raise ValueError(f"fail_rate must be between 0 and 1, got {fail_rate}")
    table = BASELINE_FAULTS if baseline else FAULT_KINDS
    # always draw all three numbers so a run's fault does not shift the next run's
    roll, kind_roll, agent_roll = rng.random(), rng.random(), rng.random()
    if roll >= fail_rate:
        return Fault()
    kinds = sorted(table)
    kind = kinds[int(kind_roll * len(kinds))]
    agents = table[kind]
    return Fault(kind=kind, agent=agents[int(agent_roll * len(agents))])
