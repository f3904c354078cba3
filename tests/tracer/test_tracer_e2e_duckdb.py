"""tracer -> collector.DuckDBSpanExporter -> views: the contract between the two, end to end."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tracer import Hoptrace, PendingSpanProcessor

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
litellm = pytest.importorskip("litellm")
collector = pytest.importorskip("collector")

pytestmark = pytest.mark.filterwarnings("ignore:.*`ReadOnly` qualifier:UserWarning")
MESSAGES = [{"role": "user", "content": "x"}]


@pytest.fixture
def stored(tmp_path: Path) -> Iterator[tuple[Hoptrace, Path]]:
    db = tmp_path / "e2e.duckdb"
    provider = TracerProvider(
        resource=Resource.create({"service.name": "e2e"}), shutdown_on_exit=False
    )
    exporter = collector.DuckDBSpanExporter(db, flush_interval=0)
    provider.add_span_processor(PendingSpanProcessor(SimpleSpanProcessor(exporter)))
    ht = Hoptrace()
    ht.configure(tracer_provider=provider)
    yield ht, db
    provider.shutdown()


def test_pipeline_lands_in_the_views(stored: tuple[Hoptrace, Path]) -> None:
    ht, db = stored

    @ht.agent(model="gpt-4o-mini")
    def researcher(topic: str) -> str:
        # fails, then is retried below: this agent recovers
        with contextlib.suppress(litellm.RateLimitError):
            litellm.completion(
                model="gpt-4o-mini",
                messages=MESSAGES,
                mock_response=litellm.RateLimitError("429", llm_provider="openai", model="m"),
            )
        reply = litellm.completion(model="gpt-4o-mini", messages=MESSAGES, mock_response="facts")
        return f"notes on {topic}: {reply.choices[0].message.content}"

    @ht.agent
    def writer(notes: str) -> str:
        ht.handoff("reviewer", "please review")
        return "draft built from " + notes

    @ht.agent(role="reviewer")
    def reviewer(draft: str) -> None:
        ht.reject(draft, "made up facts")
        raise ValueError("rejected draft")

    @ht.agent
    def orchestrator(topic: str) -> None:
        reviewer(writer(researcher(topic)))

    @ht.workflow
    def pipeline(topic: str) -> None:
        ht.set_run_attributes(injected_fault="writer")
        orchestrator(topic)

    with pytest.raises(ValueError, match="rejected draft"):
        pipeline("cats")
    ht.flush()

    [run] = collector.query("SELECT * FROM runs", db=db).to_dicts()
    assert run["name"] == "pipeline"
    assert run["root_span_name"] == "invoke_workflow pipeline"
    assert run["status"] == "ERROR"
    assert run["service_name"] == "e2e"
    assert run["agent_count"] == 4
    assert run["llm_calls"] == 2
    assert run["pending_spans"] == 0
    assert run["root_cause_agent"] == "writer"
    assert run["root_cause_error"] == "Rejected"
    assert "hoptrace.run.injected_fault" in str(run["attributes"])

    handoffs = collector.query(
        "SELECT from_agent, to_agent, kind FROM handoffs ORDER BY 1, 2, 3", db=db
    ).rows()
    assert handoffs == [
        ("orchestrator", "researcher", "delegate"),
        ("orchestrator", "reviewer", "delegate"),
        ("orchestrator", "writer", "delegate"),
        ("researcher", "writer", "data"),
        ("writer", "reviewer", "data"),
        ("writer", "reviewer", "explicit"),
    ]
    roles = dict(
        collector.query("SELECT span_name, role FROM errors", db=db).rows()  # type: ignore[arg-type]
    )
    assert roles == {
        "chat gpt-4o-mini": "origin",
        "invoke_agent researcher": "recovered",
        "invoke_agent writer": "rejected",
        "invoke_agent reviewer": "propagated",
        "invoke_agent orchestrator": "propagated",
        "invoke_workflow pipeline": "propagated",
    }
    # the recovered row names the error it absorbed and points at that error's origin
    recovered = collector.query(
        "SELECT e.error_type, e.cause_span_id = o.span_id FROM errors e, errors o "
        "WHERE e.role = 'recovered' AND o.role = 'origin'",
        db=db,
    ).rows()
    assert recovered == [("RateLimitError", True)]
    [cost] = collector.query(
        "SELECT cost_usd FROM agents WHERE agent_name = 'researcher'", db=db
    ).rows()
    assert cost[0] == pytest.approx(1.35e-05)
