"""Offline model responses: plausible text, token usage and latency per agent and task.

Each (agent, purpose) has its own latency range (1-3 s before time scaling), its own
hidden context size (retrieved documents, repository files...) and its own output
length, so the recorded token counts, and therefore litellm's costs, differ by agent
and model the way they do in production.
"""

from __future__ import annotations

import json
import random
from typing import Any

from sample_pipelines._chaos import RunChaos

__all__ = ["corrupt", "model_kwargs", "provider_of"]

# (agent, purpose) -> (latency low s, latency high s, extra input tokens, output tokens)
_PROFILES: dict[tuple[str, str], tuple[float, float, tuple[int, int], tuple[int, int]]] = {
    ("orchestrator", "plan"): (1.2, 2.0, (400, 900), (150, 320)),
    ("orchestrator", "compose"): (1.2, 2.2, (600, 1200), (350, 700)),
    ("memory", "recall"): (1.0, 1.3, (150, 400), (60, 140)),
    ("memory", "summarize"): (1.0, 1.4, (250, 600), (80, 160)),
    ("researcher", "research"): (1.6, 2.6, (3000, 6500), (700, 1300)),
    ("coder", "code"): (2.0, 3.0, (2000, 4500), (900, 1800)),
    ("analyst", "analyze"): (1.4, 2.4, (1500, 3000), (450, 900)),
    ("reviewer", "review"): (1.0, 1.6, (800, 1600), (80, 220)),
    ("assistant", "answer"): (2.4, 3.0, (3000, 6000), (1500, 2500)),
    ("assistant", "check"): (1.0, 1.8, (2500, 4500), (150, 300)),
}
_DEFAULT_PROFILE = (1.0, 2.0, (200, 400), (100, 200))

CODE_DEFECT = "# TODO: implement"
ANALYSIS_DEFECT = "growth: NaN%"


def provider_of(model: str) -> str:
    """litellm provider name of one of the pipeline's models."""
    if "/" in model:
        return model.split("/", 1)[0]
    if model.startswith("claude"):
        return "anthropic"
    return "openai"


def _last_user_text(messages: list[dict[str, str]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return message.get("content", "")
    return ""


def _reply(agent: str, purpose: str, messages: list[dict[str, str]], rng: random.Random) -> str:
    prompt = _last_user_text(messages)
    topic = prompt.splitlines()[0][:120] if prompt else "the request"
    if (agent, purpose) == ("orchestrator", "plan"):
        return json.dumps(
            {
                "research": f"Collect recent sources and figures on: {topic}",
                "code": f"Write a tested helper that automates: {topic}",
                "analysis": "Quantify the trend and flag anomalies in the findings",
            }
        )
    if (agent, purpose) == ("orchestrator", "compose"):
        return (
            f"Here is what the team found about {topic}.\n"
            "1. Key findings, with sources.\n2. A tested helper function.\n"
            "3. The numbers behind the trend, with caveats."
        )
    if (agent, purpose) == ("memory", "recall"):
        return "Relevant context: " + (prompt.split("\n", 1)[-1][:300] or "none")
    if (agent, purpose) == ("memory", "summarize"):
        return f"User asked: {topic[:80]}. Delivered findings, code and analysis."
    if agent == "researcher":
        sources = rng.sample(
            [
                "arXiv:2405.0112",
                "vendor blog",
                "internal wiki",
                "SEC 10-Q",
                "Gartner note",
                "GitHub issue #4411",
            ],
            3,
        )
        return f"Findings on {topic}: three independent sources agree ({', '.join(sources)})."
    if agent == "coder":
        return (
            "```python\ndef run_task(rows: list[dict]) -> dict:\n"
            '    """Aggregate rows by segment."""\n'
            "    out: dict = {}\n    for row in rows:\n"
            "        out[row['segment']] = out.get(row['segment'], 0) + row['value']\n"
            "    return out\n```\nTests: 6 passed."
        )
    if agent == "analyst":
        return f"Trend: growth: {rng.uniform(-4, 12):.1f}% quarter over quarter; no anomalies."
    if agent == "reviewer":
        if CODE_DEFECT in prompt:
            return "REJECT: the function body is a TODO stub and there are no tests"
        if ANALYSIS_DEFECT in prompt:
            return "REJECT: the growth rate is NaN; the figures were never computed"
        return "APPROVE: correct, sourced and tested"
    if agent == "assistant" and purpose == "check":
        return "Self-check: looks consistent."
    return f"Answer to {topic}: findings, code and analysis in one response."


def corrupt(agent: str, text: str) -> str:
    """The defective version of a specialist's output (the bad_output faults)."""
    if agent == "coder":
        return f"```python\ndef run_task(rows):\n    {CODE_DEFECT}\n    pass\n```"
    return f"Trend: {ANALYSIS_DEFECT} (insufficient data)"


def _model_error(kind: str, model: str) -> Exception:
    from litellm.exceptions import RateLimitError, Timeout

    provider = provider_of(model)
    if kind == "Timeout":
        return Timeout(message="Request timed out after 30 s", model=model, llm_provider=provider)
    return RateLimitError(
        message=f"429 Too Many Requests: rate limit reached for {model} (tokens per minute)",
        llm_provider=provider,
        model=model,
    )


def model_kwargs(
    chaos: RunChaos,
    agent: str,
    purpose: str,
    model: str,
    messages: list[dict[str, str]],
    call: int,
    attempt: int,
) -> dict[str, Any]:
    """Extra `litellm.acompletion` arguments for one attempt: the mock, its delay, or nothing.

    Live runs get no mock unless the fault plan makes this attempt fail.
    """
    import litellm

    low, high, extra_in, out = _PROFILES.get((agent, purpose), _DEFAULT_PROFILE)
    parts = (agent, purpose, call, attempt)
    error = chaos.model_error(agent, call, attempt)
    if error is not None:
        # a timeout costs the whole wait; a 429 comes back quickly
        wait = high * chaos.scale if error == "Timeout" else chaos.latency(0.1, 0.3, *parts)
        return {"mock_response": _model_error(error, model), "mock_delay": wait}
    if chaos.live:
        return {}
    rng = chaos.rng("reply", *parts)
    text = _reply(agent, purpose, messages, rng)
    prompt_tokens = sum(len(m.get("content", "")) for m in messages) // 4 + rng.randint(*extra_in)
    completion_tokens = rng.randint(*out)
    response = litellm.ModelResponse(
        model=model,
        choices=[
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": text},
            }
        ],
        usage={
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    )
    return {"mock_response": response, "mock_delay": chaos.latency(low, high, *parts)}
