"""The reference multi-agent pipeline, written with hoptrace's public `tracer` API only.

    research_assistant (workflow)
    └── orchestrator            gpt-4o            plans, routes, composes the answer
        ├── memory (recall)     gpt-4o-mini       context from earlier turns (may be down)
        ├── researcher ─┐       gemini-2.5-flash  web search + findings      ┐ concurrent
        │   analyst  ◀──┘ data  gemini-2.5-pro    needs the researcher's output │ with
        ├── coder               claude-sonnet-4-5 writes and tests code      ┘ each other
        ├── reviewer            gpt-4o            approves or rejects each draft; a rejected
        │                                         draft goes back to its author (max 3 tries)
        └── memory (remember)   gpt-4o-mini       stores a summary of the turn

Faults come from `sample_pipelines.faults` through the per-run chaos state; the code
below handles them the way production code would (retry, recover, or fail the run).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sample_pipelines import _chaos
from sample_pipelines._offline import corrupt
from sample_pipelines.models import (
    ANALYST_MODEL,
    CODE_MODEL,
    MEMORY_MODEL,
    ORCHESTRATOR_MODEL,
    RESEARCH_MODEL,
    REVIEWER_MODEL,
    complete,
)
from tracer import agent, handoff, reject, set_run_attributes, tool, workflow

__all__ = [
    "MAX_REVIEW_ROUNDS",
    "AnalysisError",
    "Answer",
    "Context",
    "Draft",
    "Findings",
    "MemoryStoreUnavailable",
    "ReviewFailed",
    "SandboxError",
    "SearchBackendError",
    "Verdict",
    "research_assistant",
]

MAX_REVIEW_ROUNDS = 3


class MemoryStoreUnavailable(ConnectionError):
    """The conversation memory store cannot be reached."""


class SearchBackendError(RuntimeError):
    """The researcher's search backend failed."""


class SandboxError(RuntimeError):
    """The coder's test sandbox crashed."""


class AnalysisError(ValueError):
    """The analyst could not compute anything from the findings."""


class ReviewFailed(RuntimeError):
    """A draft was still rejected after the last review round."""


@dataclass
class Context:
    """What the memory agent remembers of a conversation."""

    turns: list[str] = field(default_factory=list)
    summary: str = ""


@dataclass
class Plan:
    """The orchestrator's routing: one subtask per specialist."""

    research: str
    code: str
    analysis: str


@dataclass
class Findings:
    """What the researcher found (the analyst's input: a data handoff)."""

    query: str
    text: str
    sources: list[str]


@dataclass
class Draft:
    """A specialist's output, up for review."""

    author: str
    attempt: int
    text: str


@dataclass
class Verdict:
    """The reviewer's decision on a draft."""

    approved: bool
    reason: str


@dataclass
class Answer:
    """What the user gets back for one turn."""

    text: str
    code: Draft
    analysis: Draft
    context_turns: int


# --- memory ---------------------------------------------------------------------

_MEMORY: dict[str, list[str]] = {}
"""The conversation store (a stand-in for Redis): conversation id -> turn summaries."""


async def _store_roundtrip() -> None:
    chaos = _chaos.current()
    await asyncio.sleep(chaos.latency(0.02, 0.06, "store"))
    if chaos.memory_down():
        raise MemoryStoreUnavailable("memory store redis://memory:6379 refused the connection")


@tool
async def memory_load(conversation_id: str) -> list[str]:
    """Earlier turns of the conversation."""
    await _store_roundtrip()
    return list(_MEMORY.get(conversation_id, []))


@tool
async def memory_save(conversation_id: str, summary: str) -> int:
    """Append a turn summary; returns the number of stored turns."""
    await _store_roundtrip()
    turns = _MEMORY.setdefault(conversation_id, [])
    turns.append(summary)
    return len(turns)


@agent(name="memory", model=MEMORY_MODEL, role="memory")
async def recall(conversation_id: str, request: str) -> Context:
    """Bring back what matters from earlier turns for this request."""
    turns = await memory_load(conversation_id)
    if not turns:
        return Context()
    history = "\n".join(f"- turn {i}: {t}" for i, t in enumerate(turns, 1))
    summary = await complete(
        "memory",
        "recall",
        MEMORY_MODEL,
        [
            {"role": "system", "content": "Condense the history to what the request needs."},
            {"role": "user", "content": f"{request}\n{history}"},
        ],
    )
    return Context(turns=turns, summary=summary)


@agent(name="memory", model=MEMORY_MODEL, role="memory")
async def remember(conversation_id: str, request: str, answer: str) -> int:
    """Summarise the turn with a cheap model and store it."""
    summary = await complete(
        "memory",
        "summarize",
        MEMORY_MODEL,
        [
            {"role": "system", "content": "Summarise this exchange in one sentence."},
            {"role": "user", "content": f"{request}\n---\n{answer}"},
        ],
    )
    return await memory_save(conversation_id, summary)


# --- specialists ------------------------------------------------------------------


@tool
async def web_search(query: str) -> list[str]:
    """Search the web (simulated) and return source ids."""
    chaos = _chaos.current()
    await asyncio.sleep(chaos.latency(0.2, 0.5, "search"))
    if chaos.raises("researcher"):
        raise SearchBackendError(f"search backend returned HTTP 503 for {query[:40]!r}")
    rng = chaos.rng("sources")
    return rng.sample(["arxiv.org", "docs.vendor.com", "wiki.internal", "sec.gov", "github.com"], 3)


@agent(name="researcher", model=RESEARCH_MODEL, role="specialist")
async def researcher(task: str) -> Findings:
    """Find and summarise sources for a research subtask."""
    sources = await web_search(task)
    text = await complete(
        "researcher",
        "research",
        RESEARCH_MODEL,
        [
            {"role": "system", "content": "You are a meticulous researcher. Cite sources."},
            {"role": "user", "content": f"{task}\nSources: {', '.join(sources)}"},
        ],
    )
    return Findings(query=task, text=text, sources=sources)


@tool
async def run_tests(code: str) -> str:
    """Run the generated code's tests in a sandbox (simulated)."""
    chaos = _chaos.current()
    await asyncio.sleep(chaos.latency(0.1, 0.3, "tests", len(code)))
    if chaos.raises("coder"):
        raise SandboxError("test sandbox crashed: exit code 137 (out of memory)")
    return "0 tests collected" if "TODO" in code else "6 passed"


@agent(name="coder", model=CODE_MODEL, role="specialist")
async def coder(task: str, attempt: int = 1, feedback: str = "") -> Draft:
    """Write code for a subtask; on a retry, address the reviewer's feedback."""
    prompt = f"{task}\nReviewer feedback: {feedback}" if feedback else task
    text = await complete(
        "coder",
        "code",
        CODE_MODEL,
        [
            {"role": "system", "content": "You write small, tested Python functions."},
            {"role": "user", "content": prompt},
        ],
    )
    if _chaos.current().bad_output("coder", attempt):
        text = corrupt("coder", text)
    report = await run_tests(text)
    return Draft(author="coder", attempt=attempt, text=f"{text}\nTests: {report}")


@agent(name="analyst", model=ANALYST_MODEL, role="specialist")
async def analyst(findings: Findings, attempt: int = 1, feedback: str = "") -> Draft:
    """Quantify the researcher's findings (needs the researcher's output)."""
    prompt = f"Analyse: {findings.query}\n{findings.text}"
    if feedback:
        prompt += f"\nReviewer feedback: {feedback}"
    text = await complete(
        "analyst",
        "analyze",
        ANALYST_MODEL,
        [
            {"role": "system", "content": "You are a data analyst. Give numbers."},
            {"role": "user", "content": prompt},
        ],
    )
    chaos = _chaos.current()
    if chaos.raises("analyst"):
        raise AnalysisError(
            f"no numeric series in {len(findings.sources)} sources; cannot compute a trend"
        )
    if chaos.bad_output("analyst", attempt):
        text = corrupt("analyst", text)
    return Draft(author="analyst", attempt=attempt, text=text)


# --- reviewer -----------------------------------------------------------------------


@agent(name="reviewer", model=REVIEWER_MODEL, role="reviewer")
async def reviewer(draft: Draft, last_try: bool = False) -> Verdict:
    """Approve a draft, or reject it (and fail the run when it was the last try)."""
    reply = await complete(
        "reviewer",
        "review",
        REVIEWER_MODEL,
        [
            {
                "role": "system",
                "content": "Review the draft. Answer 'APPROVE: why' or 'REJECT: what is wrong'.",
            },
            {"role": "user", "content": f"Draft by {draft.author}:\n{draft.text}"},
        ],
    )
    verdict, _, reason = reply.partition(":")
    if verdict.strip().upper() == "APPROVE":
        return Verdict(approved=True, reason=reason.strip())
    reason = reason.strip() or reply
    reject(draft, reason)
    if last_try:
        raise ReviewFailed(f"{draft.author} draft rejected {draft.attempt} times: {reason}")
    # send the draft back: the author's next attempt is linked to this handoff
    handoff(draft.author, payload=reason)
    return Verdict(approved=False, reason=reason)


async def _until_approved(produce: Callable[[int, str], Awaitable[Draft]]) -> Draft:
    """Produce a draft, review it, and send it back with the feedback until approved."""
    feedback = ""
    for attempt in range(1, MAX_REVIEW_ROUNDS + 1):
        draft = await produce(attempt, feedback)
        verdict = await reviewer(draft, last_try=attempt == MAX_REVIEW_ROUNDS)
        if verdict.approved:
            return draft
        feedback = verdict.reason
    raise AssertionError("unreachable: the reviewer raises on the last try")


# --- orchestrator -------------------------------------------------------------------


async def _plan(request: str, context: Context) -> Plan:
    history = f"\nConversation so far: {context.summary}" if context.summary else ""
    reply = await complete(
        "orchestrator",
        "plan",
        ORCHESTRATOR_MODEL,
        [
            {
                "role": "system",
                "content": "Split the request into research, code and analysis subtasks. Reply in JSON.",
            },
            {"role": "user", "content": f"{request}{history}"},
        ],
    )
    try:
        parts = json.loads(reply)
        return Plan(parts["research"], parts["code"], parts["analysis"])
    except (ValueError, KeyError, TypeError):
        # a live model may answer in prose: route the whole request to everyone
        return Plan(request, request, request)


async def _research_and_analyse(plan: Plan) -> Draft:
    findings = await researcher(plan.research)
    return await _until_approved(lambda attempt, fb: analyst(findings, attempt, fb))


@agent(name="orchestrator", model=ORCHESTRATOR_MODEL, role="orchestrator")
async def orchestrator(request: str, conversation_id: str) -> Answer:
    """Plan the request, route subtasks to specialists, compose the answer."""
    try:
        context = await recall(conversation_id, request)
    except MemoryStoreUnavailable:
        context = Context()  # answer without history rather than not at all
    plan = await _plan(request, context)
    # independent branches run concurrently; wait for both, then surface a failure
    code, analysis = await asyncio.gather(
        _until_approved(lambda attempt, fb: coder(plan.code, attempt, fb)),
        _research_and_analyse(plan),
        return_exceptions=True,
    )
    if isinstance(code, BaseException):
        raise code
    if isinstance(analysis, BaseException):
        raise analysis
    text = await complete(
        "orchestrator",
        "compose",
        ORCHESTRATOR_MODEL,
        [
            {"role": "system", "content": "Compose one clear answer for the user."},
            {"role": "user", "content": f"{request}\n{code.text}\n{analysis.text}"},
        ],
    )
    # the user still gets the answer if the store is down; this turn is just not remembered
    with contextlib.suppress(MemoryStoreUnavailable):
        await remember(conversation_id, request, text)
    return Answer(text=text, code=code, analysis=analysis, context_turns=len(context.turns))


@workflow(name="research_assistant")
async def research_assistant(request: str, conversation_id: str, turn: int = 1) -> Answer:
    """One turn of a conversation with the multi-agent research assistant."""
    chaos = _chaos.current()
    set_run_attributes(
        conversation_id=conversation_id,
        variant="multi_agent",
        turn=turn,
        **chaos.fault.run_attributes(),
        **chaos.attributes,
    )
    return await orchestrator(request, conversation_id)
