"""The single-model baseline: the same task in one agent, to compare with the multi-agent run.

One generalist on one model drafts the whole answer (research, code and analysis) in
one long call, then checks itself once. Runs carry `hoptrace.run.variant="baseline"`,
so `runs`/`agents` can be grouped by variant to see what the extra hops cost.
"""

from __future__ import annotations

from typing import Any

from sample_pipelines import _chaos
from sample_pipelines.models import BASELINE_MODEL, complete
from tracer import agent, set_run_attributes, workflow

__all__ = ["assistant", "single_model_baseline"]


@agent(name="assistant", model=BASELINE_MODEL, role="generalist")
async def assistant(request: str) -> str:
    """Answer the whole request in one response, then self-check it."""
    answer = await complete(
        "assistant",
        "answer",
        BASELINE_MODEL,
        [
            {
                "role": "system",
                "content": "Research, write tested code and analyse the numbers, in one answer.",
            },
            {"role": "user", "content": request},
        ],
    )
    await complete(
        "assistant",
        "check",
        BASELINE_MODEL,
        [
            {"role": "system", "content": "Check the answer for mistakes."},
            {"role": "user", "content": f"{request}\n---\n{answer}"},
        ],
    )
    return answer


@workflow(name="single_model_baseline")
async def single_model_baseline(request: str, conversation_id: str = "", turn: int = 1) -> str:
    """The baseline run for one request."""
    chaos = _chaos.current()
    attributes: dict[str, Any] = {"variant": "baseline", "turn": turn}
    attributes.update(chaos.fault.run_attributes(), **chaos.attributes)
    set_run_attributes(conversation_id=conversation_id or None, **attributes)
    return await assistant(request)
