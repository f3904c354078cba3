"""The shapes insights are computed from and returned as (plain frozen dataclasses, no DuckDB)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from statistics import median
from typing import Any, NamedTuple

from collector.queries._insights_dag import TimedSpan

__all__ = [
    "KINDS",
    "Insight",
    "InsightEvidence",
    "InsightHandoff",
    "InsightReport",
    "InsightRun",
    "InsightSpan",
    "ModelPrice",
    "Prices",
]

KINDS = ("what_if", "parallel", "model_swap", "waste", "blame")
"""The insight kinds, in the order the issue names them."""


class InsightSpan(NamedTuple):
    """The columns of one span the insights read (one row of `spans`, pending resolved)."""

    span_id: str
    parent_span_id: str | None
    start_ns: int
    end_ns: int
    name: str = ""
    span_class: str | None = None
    agent_name: str | None = None
    status: str = "UNSET"
    error_role: str | None = None
    cause_span_id: str | None = None
    is_llm_call: bool = False
    model: str | None = None
    provider: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cost_usd: float | None = None
    agent_span_id: str | None = None
    request_key: str | None = None
    """Hash of model + recorded messages ('m:…'), else of model + the agent's captured
    input ('a:…', numbered by the call's position in its agent span); None if neither."""
    rejects: tuple[str, ...] = ()
    """Span ids this span rejected (`hoptrace.reject` events)."""

    def timed(self) -> TimedSpan:
        return TimedSpan(self.span_id, self.parent_span_id, self.start_ns, self.end_ns)


class InsightHandoff(NamedTuple):
    """One `handoffs` edge between two spans of a run."""

    from_span_id: str | None
    to_span_id: str | None
    kind: str
    from_agent: str | None = None
    to_agent: str | None = None


@dataclass(frozen=True, slots=True)
class InsightRun:
    """One run as the insights see it."""

    trace_id: str
    status: str
    spans: tuple[InsightSpan, ...]
    handoffs: tuple[InsightHandoff, ...] = ()
    root_span_id: str | None = None
    cost_usd: float | None = None
    root_cause_agent: str | None = None
    root_cause_span_id: str | None = None
    start_ns: int = 0


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One `model_prices` row (USD per token)."""

    model: str
    provider: str | None
    input: float | None
    output: float | None
    cache_read: float | None = None
    mode: str | None = "chat"

    def cost(
        self, input_tokens: int | None, output_tokens: int | None, cached: int | None
    ) -> float | None:
        """The cost of one call on this model, as the store computes it (cached input at the
        cache rate); None when the tokens or a needed price are unknown."""
        if input_tokens is None and output_tokens is None:
            return None
        it, ot, cr = input_tokens or 0, output_tokens or 0, min(cached or 0, input_tokens or 0)
        if (it and self.input is None) or (ot and self.output is None):
            return None
        inp = self.input or 0.0
        cache = self.cache_read if self.cache_read is not None else inp
        return cr * cache + (it - cr) * inp + ot * (self.output or 0.0)


_DATE_SUFFIX = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2}|latest)$")


class Prices:
    """`model_prices` and `model_price_aliases`, resolved the way the store prices spans."""

    def __init__(self, prices: Iterable[ModelPrice], aliases: dict[str, str] | None = None) -> None:
        self.prices = {p.model: p for p in prices}
        self.aliases = aliases or {}

    def resolve(self, model: str | None, provider: str | None = None) -> ModelPrice | None:
        if not model:
            return None
        model = model.strip()
        cands = [model, model.lower()]
        if provider:
            cands.insert(0, f"{provider}/{model}")
        cands += [c.split("/", 1)[1] for c in list(cands) if "/" in c]
        cands += [_DATE_SUFFIX.sub("", c) for c in list(cands) if _DATE_SUFFIX.search(c)]
        for c in cands:
            if c in self.prices:
                return self.prices[c]
            if c in self.aliases and self.aliases[c] in self.prices:
                return self.prices[self.aliases[c]]
        return None

    def chat_models(self, provider: str) -> list[ModelPrice]:
        """Priced chat models of a provider (both token prices known and non-zero)."""
        return [
            p
            for p in self.prices.values()
            if p.provider == provider and (p.mode or "chat") == "chat" and p.input and p.output
        ]


@dataclass(frozen=True, slots=True)
class InsightEvidence:
    """A run an insight rests on, and the spans in it that show it (openable in the TUI)."""

    trace_id: str
    span_ids: tuple[str, ...] = ()
    saving_s: float | None = None
    """This run's own saving, where the insight is computed run by run."""


@dataclass(frozen=True, slots=True)
class Insight:
    """One ranked, quantified piece of advice.

    `saving_s` / `saving_usd` are per run (how, in `how`); `score` is the larger of
    the two as a share of the filter's median run latency / mean cost per run,
    which is what makes seconds and dollars rank on one scale.
    """

    kind: str
    title: str
    agents: tuple[str, ...]
    saving_s: float | None
    saving_usd: float | None
    runs: int
    evidence: tuple[InsightEvidence, ...]
    how: str
    confidence: str
    details: dict[str, Any] = field(default_factory=dict)
    score: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (what `hoptrace insights --format json` prints)."""
        return {
            "kind": self.kind,
            "title": self.title,
            "agents": list(self.agents),
            "saving_s_per_run": _round(self.saving_s),
            "saving_usd_per_run": _round(self.saving_usd, 8),
            "runs": self.runs,
            "score": _round(self.score),
            "evidence": [
                {
                    "trace_id": e.trace_id,
                    "span_ids": list(e.span_ids),
                    "saving_s": _round(e.saving_s),
                }
                for e in self.evidence
            ],
            "how": self.how,
            "confidence": self.confidence,
            "details": self.details,
        }


@dataclass(frozen=True, slots=True)
class InsightReport:
    """Every insight over the runs of a filter, best first."""

    insights: tuple[Insight, ...]
    runs: int
    """Runs the insights were computed over (finished runs of the filter, newest first,
    within the run and span caps)."""
    runs_in_filter: int
    latency_p50_s: float | None
    cost_per_run_usd: float | None
    speedup: float
    model: str | None = None
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "runs_in_filter": self.runs_in_filter,
            "latency_p50_s": _round(self.latency_p50_s),
            "cost_per_run_usd": _round(self.cost_per_run_usd, 8),
            "speedup": self.speedup,
            "model": self.model,
            "notes": list(self.notes),
            "insights": [i.to_json() for i in self.insights],
        }


def _round(v: float | None, digits: int = 4) -> float | None:
    return None if v is None else round(v, digits)


def p50(values: list[float]) -> float | None:
    """The median, None for no values."""
    return median(values) if values else None
