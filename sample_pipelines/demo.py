"""Run many conversations through the pipeline (and the baseline) with injected faults.

Runs are grouped into conversations of a few turns that share a conversation id;
turns of one conversation run in order (the memory agent needs the earlier ones),
conversations run concurrently. Run `i` always gets the same fault for the same seed.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sample_pipelines import _chaos
from sample_pipelines.baseline import single_model_baseline
from sample_pipelines.faults import Fault, choose_fault
from sample_pipelines.models import warm_up
from sample_pipelines.pipeline import research_assistant

__all__ = ["CONVERSATIONS", "DemoConfig", "RunRecord", "fault_for", "run_demo"]

CONVERSATIONS: tuple[tuple[str, ...], ...] = (
    (
        "Why did EU churn rise last quarter? Build a churn-by-segment query for the dashboard.",
        "Break the churn down by plan tier.",
        "Which tier should the retention campaign target first?",
    ),
    (
        "Why did p95 checkout latency jump after release 3.2? Propose a fix.",
        "Write a load test that reproduces it.",
        "How much would the fix save in compute cost per month?",
    ),
    (
        "Summarise recent work on rerankers for retrieval and prototype one.",
        "Compare it with our BM25 baseline on last week's queries.",
        "Estimate the latency cost of adding it to search.",
    ),
    (
        "Forecast GPU spend for Q3 from the last six months of invoices.",
        "Flag any invoice that looks like an anomaly.",
        "Draft the budget note for finance.",
    ),
)


@dataclass(frozen=True)
class DemoConfig:
    """What `hoptrace demo` runs.

    Attributes:
        runs: multi-agent runs (the baseline, if on, adds as many again).
        seed: makes the faults reproducible.
        fail_rate: probability that a run gets a fault (about half of them fail the run).
        scale: time scale of simulated latency (1.0 = realistic 1-3 s per model call).
        baseline: also run the single-model baseline on every request.
        live: call the real providers instead of litellm's mock responses.
        turns: turns per conversation.
        concurrency: conversations in flight at once.
    """

    runs: int = 20
    seed: int = 7
    fail_rate: float = 0.3
    scale: float = 0.1
    baseline: bool = False
    live: bool = False
    turns: int = 3
    concurrency: int = 16


@dataclass(frozen=True)
class RunRecord:
    """The outcome of one run as the demo runner saw it."""

    index: int
    variant: str
    conversation_id: str
    turn: int
    fault: Fault
    ok: bool
    error: str
    seconds: float


def fault_for(config: DemoConfig, index: int, variant: str) -> Fault:
    """The fault run `index` of `variant` gets with this config's seed and fail rate."""
    rng = random.Random(f"{config.seed}:{index}:{variant}")
    return choose_fault(rng, config.fail_rate, baseline=variant == "baseline")


async def _one_run(
    config: DemoConfig, batch: str, index: int, variant: str, conversation_id: str, turn: int
) -> RunRecord:
    fault = fault_for(config, index, variant)
    _chaos.use(
        _chaos.RunChaos(
            key=f"{config.seed}:{index}:{variant}",
            fault=fault,
            scale=config.scale,
            live=config.live,
            attributes={"demo_batch": batch, "run_index": index, "seed": config.seed},
        )
    )
    topic = CONVERSATIONS[(index // config.turns) % len(CONVERSATIONS)]
    request = topic[(turn - 1) % len(topic)]
    started = time.perf_counter()
    try:
        if variant == "baseline":
            await single_model_baseline(request, turn=turn)
        else:
            await research_assistant(request, conversation_id, turn=turn)
    except Exception as exc:  # the run failed; the trace says why
        return RunRecord(
            index,
            variant,
            conversation_id,
            turn,
            fault,
            False,
            f"{type(exc).__name__}: {exc}",
            time.perf_counter() - started,
        )
    return RunRecord(
        index, variant, conversation_id, turn, fault, True, "", time.perf_counter() - started
    )


async def run_demo(
    config: DemoConfig,
    *,
    batch: str | None = None,
    on_run_done: Callable[[RunRecord], None] | None = None,
) -> list[RunRecord]:
    """Run the demo; returns one record per run, in run order.

    Args:
        config: what to run.
        batch: id recorded on every run as `hoptrace.run.demo_batch` (random if None).
        on_run_done: called after each run (e.g. to advance a progress bar).
    """
    if config.runs < 0:
        raise ValueError(f"runs must be >= 0, got {config.runs}")
    if config.turns < 1 or config.concurrency < 1:
        raise ValueError("turns and concurrency must be >= 1")
    batch = batch or uuid.uuid4().hex[:8]
    # litellm's import and first call take seconds: pay them before any run starts
    warm_up()
    gate = asyncio.Semaphore(config.concurrency)
    records: list[RunRecord] = []

    async def conversation(first: int) -> None:
        conversation_id = f"demo-{batch}-c{first // config.turns:03d}"
        async with gate:
            for index in range(first, min(first + config.turns, config.runs)):
                turn = index - first + 1
                variants = ("multi_agent", "baseline") if config.baseline else ("multi_agent",)
                for variant in variants:
                    record = await _one_run(config, batch, index, variant, conversation_id, turn)
                    records.append(record)
                    if on_run_done is not None:
                        on_run_done(record)

    await asyncio.gather(*(conversation(i) for i in range(0, config.runs, config.turns)))
    return sorted(records, key=lambda r: (r.index, r.variant != "multi_agent"))
