"""The pipeline's models and its one way of calling them: `complete()` through litellm.

Each agent uses the model suited to it (all present in litellm's bundled price map,
so hoptrace records real prices). Calls are retried on rate limits and timeouts with
a short backoff; offline they are answered by litellm's `mock_response`.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from sample_pipelines import _chaos, _offline
from tracer import span

__all__ = [
    "ANALYST_MODEL",
    "BASELINE_MODEL",
    "CODE_MODEL",
    "MAX_ATTEMPTS",
    "MEMORY_MODEL",
    "ORCHESTRATOR_MODEL",
    "RESEARCH_MODEL",
    "REVIEWER_MODEL",
    "complete",
    "load_litellm",
    "missing_api_keys",
    "warm_up",
]

ORCHESTRATOR_MODEL = "gpt-4o"
REVIEWER_MODEL = "gpt-4o"
RESEARCH_MODEL = "gemini/gemini-2.5-flash"
CODE_MODEL = "claude-sonnet-4-5"
ANALYST_MODEL = "gemini/gemini-2.5-pro"
MEMORY_MODEL = "gpt-4o-mini"
BASELINE_MODEL = "gpt-4o"

MAX_ATTEMPTS = 3
"""Model attempts per call before the error is raised to the agent."""

_KEYS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "gemini": "GEMINI_API_KEY"}


def missing_api_keys(*, baseline: bool = False) -> list[str]:
    """Environment variables `--live` needs that are not set."""
    models = [
        ORCHESTRATOR_MODEL,
        REVIEWER_MODEL,
        RESEARCH_MODEL,
        CODE_MODEL,
        ANALYST_MODEL,
        MEMORY_MODEL,
    ]
    if baseline:
        models.append(BASELINE_MODEL)
    needed = sorted({_KEYS[_offline.provider_of(model)] for model in models})
    return [name for name in needed if not os.environ.get(name)]


def load_litellm() -> Any:
    """Import litellm with the bundled price map (no network at import)."""
    # the bundled price map: no network at import, and a 5 s stall avoided
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    return litellm


def warm_up() -> None:
    """One offline call outside any run (so not traced): litellm's first call in a
    process spends about a second on lazy setup, which would otherwise land in the
    latency of whichever runs start first."""
    litellm = load_litellm()
    litellm.completion(
        model=MEMORY_MODEL, messages=[{"role": "user", "content": "ping"}], mock_response="pong"
    )


async def complete(agent: str, purpose: str, model: str, messages: list[dict[str, str]]) -> str:
    """One chat completion for `agent`, retried on rate limits and timeouts.

    Args:
        agent: the calling agent's name (selects the offline reply and any injected fault).
        purpose: what the call is for, e.g. "plan" or "review" (selects the offline reply).
        model: a litellm model name.
        messages: OpenAI-style chat messages.

    Returns:
        The assistant message's text.

    Raises:
        litellm.RateLimitError, litellm.Timeout: the last attempt's error, once
            `MAX_ATTEMPTS` attempts failed.
    """
    litellm = load_litellm()
    chaos = _chaos.current()
    call = chaos.next_call(agent)
    for attempt in range(MAX_ATTEMPTS):
        extra = _offline.model_kwargs(chaos, agent, purpose, model, messages, call, attempt)
        try:
            response = await litellm.acompletion(model=model, messages=messages, **extra)
        except (litellm.RateLimitError, litellm.Timeout) as exc:
            if attempt + 1 == MAX_ATTEMPTS:
                raise
            backoff = 0.5 * 2**attempt * chaos.scale
            with span("retry backoff", attempt=attempt + 1, error=type(exc).__name__):
                await asyncio.sleep(backoff)
            continue
        return str(response.choices[0].message.content or "")
    raise AssertionError("unreachable: the loop returns or raises")
