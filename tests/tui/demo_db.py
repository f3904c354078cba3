"""A deterministic, demo-shaped trace store for the TUI's tests and snapshots.

Hand-made traces with fixed ids and timestamps, written through the real
`collector.SpanStore`, with the demo's agents (orchestrator, researcher, coder,
analyst, reviewer, memory): an OK run with concurrent specialists and handoffs,
a failed run with a rejection and a recovered memory error, a failed run with a
plain cause chain and a stack trace, and a run still going (pending spans and an
orphan).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from collector import SpanBatch, SpanStore

MS = 1_000_000
T0 = 1_768_467_600 * 10**9  # 2026-01-15 09:00:00 UTC
NOW = T0 + 3_600 * 10**9  # the clock snapshots run at: one hour later
RESOURCE = {"service.name": "research-team"}

OK_RUN = f"{0xA1:032x}"
REJECTED_RUN = f"{0xB2:032x}"
CHAIN_RUN = f"{0xC3:032x}"
PENDING_RUN = f"{0xD4:032x}"

STACK = (
    "Traceback (most recent call last):\n"
    '  File "sample_pipelines/research_team.py", line 88, in web_search\n'
    "    return client.get(url, timeout=2.0)\n"
    '  File "httpx/_client.py", line 1054, in get\n'
    "    raise ConnectError(msg)\n"
    "ConnectionError: search backend unreachable"
)


class _Trace:
    """Builds one trace's spans with short numeric ids."""

    def __init__(self, batch: SpanBatch, trace_id: str, base_ns: int, prefix: int) -> None:
        self.batch, self.trace_id, self.base, self.prefix = batch, trace_id, base_ns, prefix
        self.n = 0

    def span(
        self,
        name: str,
        parent: str | None,
        start_ms: float,
        end_ms: float | None,
        attrs: dict[str, Any],
        *,
        status: str = "OK",
        message: str | None = None,
        events: list[dict[str, Any]] | None = None,
        links: list[dict[str, Any]] | None = None,
        span_id: str | None = None,
    ) -> str:
        self.n += 1
        sid = span_id or f"{self.prefix:08x}{self.n:08x}"
        attrs = dict(attrs)
        if end_ms is None:
            attrs["hoptrace.pending"] = True
        self.batch.add(
            trace_id=self.trace_id,
            span_id=sid,
            parent_span_id=parent,
            name=name,
            kind="INTERNAL",
            start_ns=self.base + int(start_ms * MS),
            end_ns=None if end_ms is None else self.base + int(end_ms * MS),
            status_code=status,
            status_message=message,
            attributes=attrs,
            events=events or [],
            links=links or [],
            resource=RESOURCE,
            scope_name="hoptrace",
            scope_version="0.1.0",
        )
        return sid

    def workflow(self, name: str, start: float, end: float | None, **kw: Any) -> str:
        attrs = {
            "gen_ai.operation.name": "invoke_workflow",
            "hoptrace.kind": "workflow",
            "gen_ai.workflow.name": name,
            "hoptrace.input": json.dumps({"question": "How do LLM agents hand off work?"}),
        }
        attrs.update(kw.pop("attrs", {}))
        return self.span(f"invoke_workflow {name}", None, start, end, attrs, **kw)

    def agent(
        self,
        name: str,
        parent: str,
        start: float,
        end: float | None,
        *,
        by: tuple[str, str] | None = None,
        **kw: Any,
    ) -> str:
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent",
            "hoptrace.kind": "agent",
            "gen_ai.agent.name": name,
            "hoptrace.input": json.dumps({"task": f"{name} task"}),
        }
        if end is not None:
            attrs["hoptrace.output"] = json.dumps({"result": f"{name} result"})
        if by is not None:
            attrs["hoptrace.handoff.from_agent"] = by[0]
            attrs["hoptrace.handoff.from_span_id"] = by[1]
            attrs["hoptrace.handoff.payload"] = json.dumps(f"work for {name}")
        attrs.update(kw.pop("attrs", {}))
        return self.span(f"invoke_agent {name}", parent, start, end, attrs, **kw)

    def chat(
        self,
        agent: tuple[str, str],
        start: float,
        end: float | None,
        tokens: tuple[int, int],
        **kw: Any,
    ) -> str:
        attrs = {
            "gen_ai.operation.name": "chat",
            "hoptrace.kind": "llm",
            "gen_ai.agent.name": agent[0],
            "hoptrace.agent.span_id": agent[1],
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini",
            "gen_ai.provider.name": "openai",
            "gen_ai.usage.input_tokens": tokens[0],
            "gen_ai.usage.output_tokens": tokens[1],
            "hoptrace.cost_usd": round(tokens[0] * 0.15e-6 + tokens[1] * 0.6e-6, 8),
        }
        return self.span("chat gpt-4o-mini", agent[1], start, end, attrs, **kw)

    def tool(
        self, name: str, agent: tuple[str, str], start: float, end: float | None, **kw: Any
    ) -> str:
        attrs = {
            "gen_ai.operation.name": "execute_tool",
            "hoptrace.kind": "tool",
            "gen_ai.tool.name": name,
            "gen_ai.agent.name": agent[0],
            "hoptrace.agent.span_id": agent[1],
        }
        attrs.update(kw.pop("attrs", {}))
        return self.span(f"execute_tool {name}", agent[1], start, end, attrs, **kw)


def _exception(kind: str, message: str, at_ns: int, stack: str | None = None) -> dict[str, Any]:
    attrs = {"exception.type": kind, "exception.message": message}
    if stack:
        attrs["exception.stacktrace"] = stack
    return {"name": "exception", "time_ns": at_ns, "attributes": attrs}


def data_link(trace_id: str, producer: str, from_agent: str, argument: str) -> dict[str, Any]:
    """A data-handoff link from a receiving agent span to its producer."""
    return {
        "trace_id": trace_id,
        "span_id": producer,
        "attributes": {
            "hoptrace.link.type": "handoff",
            "hoptrace.handoff.kind": "data",
            "hoptrace.handoff.from_agent": from_agent,
            "hoptrace.handoff.argument": argument,
            "hoptrace.handoff.payload": json.dumps("draft v1"),
        },
    }


def ok_run(batch: SpanBatch) -> None:
    """Concurrent researcher and analyst, a data handoff to the coder, a review."""
    t = _Trace(batch, OK_RUN, T0, 0xA1)
    wf = t.workflow("research_team", 0, 4000)
    orch = t.agent("orchestrator", wf, 10, 3990)
    o = ("orchestrator", orch)
    t.chat(o, 20, 400, (500, 120))
    mem = t.agent("memory", orch, 410, 600, by=o)
    t.tool("recall", ("memory", mem), 420, 590)
    res = t.agent("researcher", orch, 610, 2200, by=o)
    ana = t.agent("analyst", orch, 620, 1800, by=o)
    t.chat(("researcher", res), 620, 1500, (1200, 400))
    t.tool("web_search", ("researcher", res), 1500, 2100)
    t.chat(("analyst", ana), 630, 1700, (900, 300))
    coder = t.agent(
        "coder", orch, 2210, 3200, by=o, links=[data_link(OK_RUN, res, "researcher", "notes")]
    )
    t.chat(("coder", coder), 2220, 3100, (1500, 800))
    rev = t.agent(
        "reviewer", orch, 3210, 3900, by=o, links=[data_link(OK_RUN, coder, "coder", "draft")]
    )
    t.chat(("reviewer", rev), 3220, 3800, (700, 90))


def rejected_run(batch: SpanBatch) -> None:
    """Memory recovers a timeout; the reviewer rejects the coder's draft and fails the run."""
    base = T0 + 60_000 * MS
    t = _Trace(batch, REJECTED_RUN, base, 0xB2)
    coder_id = f"{0xB2:08x}{6:08x}"
    wf = t.workflow(
        "research_team",
        0,
        3000,
        status="ERROR",
        message="ReviewFailed: draft rejected",
        attrs={
            "error.type": "ReviewFailed",
            "hoptrace.error.role": "propagated",
            "hoptrace.error.cause_span_id": coder_id,
            "hoptrace.run.fault": "reject",
        },
        events=[_exception("ReviewFailed", "draft rejected", base + 2995 * MS)],
    )
    orch = t.agent(
        "orchestrator",
        wf,
        5,
        2990,
        status="ERROR",
        message="ReviewFailed: draft rejected",
        attrs={
            "error.type": "ReviewFailed",
            "hoptrace.error.role": "propagated",
            "hoptrace.error.cause_span_id": coder_id,
        },
        events=[_exception("ReviewFailed", "draft rejected", base + 2985 * MS)],
    )
    o = ("orchestrator", orch)
    t.chat(o, 10, 90, (400, 60))
    recall_id = f"{0xB2:08x}{5:08x}"
    mem = t.agent(
        "memory",
        orch,
        100,
        300,
        by=o,
        attrs={
            "hoptrace.error.role": "recovered",
            "hoptrace.recovered.span_ids": [recall_id],
            "hoptrace.recovered.types": ["TimeoutError"],
            "hoptrace.recovered.messages": ["vector store timed out"],
        },
    )
    t.tool(
        "recall",
        ("memory", mem),
        110,
        200,
        status="ERROR",
        message="TimeoutError: vector store timed out",
        attrs={"error.type": "TimeoutError", "hoptrace.error.role": "origin"},
        events=[_exception("TimeoutError", "vector store timed out", base + 199 * MS)],
        span_id=recall_id,
    )
    coder = t.agent("coder", orch, 400, 1500, by=o, span_id=coder_id)
    t.chat(("coder", coder), 410, 1450, (1600, 900))
    rev = t.agent(
        "reviewer",
        orch,
        1600,
        2900,
        by=o,
        status="ERROR",
        message="ReviewFailed: draft rejected",
        attrs={
            "error.type": "ReviewFailed",
            "hoptrace.error.role": "propagated",
            "hoptrace.error.cause_span_id": coder_id,
        },
        links=[data_link(REJECTED_RUN, coder, "coder", "draft")],
        events=[
            {
                "name": "hoptrace.reject",
                "time_ns": base + 2500 * MS,
                "attributes": {
                    "hoptrace.reject.span_id": coder_id,
                    "hoptrace.reject.agent": "coder",
                    "hoptrace.reject.reason": "tests fail on empty input",
                    "hoptrace.reject.value": json.dumps("def solve(): ..."),
                },
            },
            _exception("ReviewFailed", "draft rejected", base + 2890 * MS),
        ],
    )
    t.chat(("reviewer", rev), 1610, 2480, (2100, 150))


def chain_run(batch: SpanBatch) -> None:
    """web_search fails; the researcher, orchestrator and workflow propagate it."""
    base = T0 + 120_000 * MS
    t = _Trace(batch, CHAIN_RUN, base, 0xC3)
    origin = f"{0xC3:08x}{5:08x}"
    prop = {
        "error.type": "ConnectionError",
        "hoptrace.error.role": "propagated",
        "hoptrace.error.cause_span_id": origin,
    }
    msg = "ConnectionError: search backend unreachable"
    wf = t.workflow(
        "research_team",
        0,
        1300,
        status="ERROR",
        message=msg,
        attrs=prop,
        events=[_exception("ConnectionError", "search backend unreachable", base + 1299 * MS)],
    )
    orch = t.agent(
        "orchestrator",
        wf,
        5,
        1290,
        status="ERROR",
        message=msg,
        attrs=prop,
        events=[_exception("ConnectionError", "search backend unreachable", base + 1289 * MS)],
    )
    t.chat(("orchestrator", orch), 10, 200, (450, 80))
    res = t.agent(
        "researcher",
        orch,
        210,
        1280,
        by=("orchestrator", orch),
        status="ERROR",
        message=msg,
        attrs=prop,
        events=[_exception("ConnectionError", "search backend unreachable", base + 1279 * MS)],
    )
    t.tool(
        "web_search",
        ("researcher", res),
        1000,
        1270,
        status="ERROR",
        message=msg,
        attrs={"error.type": "ConnectionError", "hoptrace.error.role": "origin"},
        events=[
            _exception("ConnectionError", "search backend unreachable", base + 1269 * MS, STACK)
        ],
        span_id=origin,
    )
    t.chat(("researcher", res), 220, 990, (800, 200))


def pending_run(batch: SpanBatch) -> None:
    """Still running: pending workflow, orchestrator and coder; an orphaned tool span."""
    base = NOW - 5_000 * MS
    t = _Trace(batch, PENDING_RUN, base, 0xD4)
    wf = t.workflow("research_team", 0, None)
    orch = t.agent("orchestrator", wf, 5, None)
    o = ("orchestrator", orch)
    t.chat(o, 10, 900, (300, 50))
    res = t.agent("researcher", orch, 910, 2500, by=o)
    t.chat(("researcher", res), 920, 2400, (1000, 250))
    coder = t.agent("coder", orch, 2600, None, by=o)
    # its parent (an agent span) was never exported: shown as a root
    t.tool("run_tests", ("coder", f"{0xD4:08x}{0xFF:08x}"), 3000, 3500)
    _ = coder


def build_demo_db(path: Path) -> Path:
    """Write the four runs into a new store at `path` (two batches, like a live exporter)."""
    first, second = SpanBatch(), SpanBatch()
    ok_run(first)
    rejected_run(first)
    chain_run(second)
    pending_run(second)
    store = SpanStore(path)  # nothing stays open between writes
    store.write(first)
    store.write(second)
    return path


def extra_run(batch: SpanBatch, trace_id: str, start_ns: int) -> None:
    """A small finished run (what a live pipeline adds while the UI is open)."""
    t = _Trace(batch, trace_id, start_ns, int(trace_id[-8:], 16))
    wf = t.workflow("live_team", 0, 800)
    orch = t.agent("orchestrator", wf, 5, 790)
    t.chat(("orchestrator", orch), 10, 700, (100, 20))


def finish_pending_run(batch: SpanBatch) -> None:
    """The final copies of the pending run's unfinished spans (same ids)."""
    base = NOW - 5_000 * MS
    t = _Trace(batch, PENDING_RUN, base, 0xD4)
    wf = t.workflow("research_team", 0, 6000, span_id=f"{0xD4:08x}{1:08x}")
    orch = t.agent("orchestrator", wf, 5, 5990, span_id=f"{0xD4:08x}{2:08x}")
    t.agent("coder", orch, 2600, 5900, by=("orchestrator", orch), span_id=f"{0xD4:08x}{6:08x}")
