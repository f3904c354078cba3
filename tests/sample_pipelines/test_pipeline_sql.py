"""The recorded demo, read back through the SQL views, matches each run's ground truth."""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from typing import Any

import pytest

from sample_pipelines._summary import BATCH_RUNS
from sample_pipelines.faults import FAULT_KINDS
from sample_pipelines.models import (
    ANALYST_MODEL,
    BASELINE_MODEL,
    CODE_MODEL,
    MAX_ATTEMPTS,
    MEMORY_MODEL,
    ORCHESTRATOR_MODEL,
    RESEARCH_MODEL,
    REVIEWER_MODEL,
)
from sample_pipelines.pipeline import MAX_REVIEW_ROUNDS

MODELS = {
    "orchestrator": ORCHESTRATOR_MODEL,
    "memory": MEMORY_MODEL,
    "researcher": RESEARCH_MODEL,
    "coder": CODE_MODEL,
    "analyst": ANALYST_MODEL,
    "reviewer": REVIEWER_MODEL,
}
SPECIALIST_ERRORS = {
    "researcher": "SearchBackendError",
    "coder": "SandboxError",
    "analyst": "AnalysisError",
}


def _runs(db: Any) -> list[dict[str, Any]]:
    return db.query(f"{BATCH_RUNS} ORDER BY run_index, variant", batch=db.batch)


def _by_fault(db: Any, kind: str) -> list[dict[str, Any]]:
    found = [r for r in _runs(db) if r["fault"] == kind and r["variant"] == "multi_agent"]
    assert found, f"no multi-agent run with fault {kind}"
    return found


def _rows(db: Any, view: str, trace_id: str) -> list[dict[str, Any]]:
    return db.query(f"SELECT * FROM {view} WHERE trace_id = $t", t=trace_id)


def test_every_fault_kind_is_exercised(demo_db: Any) -> None:
    kinds = Counter(r["fault"] for r in _runs(demo_db) if r["variant"] == "multi_agent")
    assert set(FAULT_KINDS) | {"none"} <= set(kinds), kinds


def test_runs_match_the_runner_and_the_ground_truth(demo_db: Any) -> None:
    runs = {(r["run_index"], r["variant"]): r for r in _runs(demo_db)}
    assert len(runs) == len(demo_db.records) == 48
    for record in demo_db.records:
        run = runs[(record.index, record.variant)]
        assert run["fault"] == record.fault.kind
        assert run["fault_agent"] == record.fault.agent
        assert run["expected_outcome"] == record.fault.expected_outcome
        # the injected fault decides the outcome, and hoptrace recorded that outcome
        assert run["status"] == ("OK" if record.fault.expected_outcome == "ok" else "ERROR")
        assert record.ok == (run["status"] == "OK")
        assert run["pending_spans"] == 0


def test_root_cause_of_every_failed_run_is_the_injected_agent(demo_db: Any) -> None:
    failed = [r for r in _runs(demo_db) if r["status"] == "ERROR"]
    assert len(failed) >= 8
    assert {r["variant"] for r in failed} == {"multi_agent", "baseline"}
    for run in failed:
        assert run["root_cause_agent"] == run["fault_agent"], run


def test_root_cause_error_names_the_injected_fault(demo_db: Any) -> None:
    for run in _runs(demo_db):
        if run["status"] != "ERROR":
            assert run["root_cause_agent"] is None
            continue
        expected = {
            "rate_limit_exhausted": "RateLimitError",
            "timeout_exhausted": "Timeout",
            "specialist_exception": SPECIALIST_ERRORS.get(run["fault_agent"]),
            "bad_output_exhausted": "Rejected",
        }[run["fault"]]
        assert run["root_cause_error"] == expected, run


def test_agents_and_their_models(demo_db: Any) -> None:
    for run in _runs(demo_db):
        if run["fault"] != "none":
            continue
        agents = {a["agent_name"]: a for a in _rows(demo_db, "agents", run["trace_id"])}
        if run["variant"] == "baseline":
            assert set(agents) == {"assistant"}
            assert BASELINE_MODEL in agents["assistant"]["models"]
            assert agents["assistant"]["llm_calls"] == 2
            continue
        assert set(agents) == set(MODELS)
        for name, model in MODELS.items():
            assert model in agents[name]["models"], (name, agents[name]["models"])
            assert agents[name]["error_count"] == 0
        assert agents["orchestrator"]["llm_calls"] == 2  # plan + compose
        assert agents["reviewer"]["invocations"] == 2  # the code and the analysis


def test_delegate_and_data_handoffs(demo_db: Any) -> None:
    clean = [r for r in _by_fault(demo_db, "none")]
    for run in clean:
        edges = {
            (h["from_agent"], h["to_agent"], h["kind"])
            for h in _rows(demo_db, "handoffs", run["trace_id"])
        }
        for specialist in ("memory", "researcher", "coder", "analyst", "reviewer"):
            assert ("orchestrator", specialist, "delegate") in edges
        # the analyst gets the researcher's findings; the reviewer gets both drafts
        assert ("researcher", "analyst", "data") in edges
        assert ("coder", "reviewer", "data") in edges
        assert ("analyst", "reviewer", "data") in edges
        assert not any(kind == "data" and to == "coder" for _, to, kind in edges)
        assert not any(kind == "explicit" for _, _, kind in edges)


def test_rejected_draft_goes_back_to_its_author(demo_db: Any) -> None:
    for run in _by_fault(demo_db, "bad_output_retried"):
        author = run["fault_agent"]
        assert run["status"] == "OK"
        agents = {a["agent_name"]: a for a in _rows(demo_db, "agents", run["trace_id"])}
        assert agents[author]["invocations"] == 2
        errors = _rows(demo_db, "errors", run["trace_id"])
        rejected = [e for e in errors if e["role"] == "rejected"]
        assert [(e["agent_name"], e["error_type"]) for e in rejected] == [(author, "Rejected")]
        assert "TODO" in rejected[0]["error_message"] or "NaN" in rejected[0]["error_message"]
        edges = {
            (h["from_agent"], h["to_agent"], h["kind"])
            for h in _rows(demo_db, "handoffs", run["trace_id"])
        }
        assert (author, "reviewer", "data") in edges  # both drafts went to the reviewer
        # the reviewer sends the draft back with an explicit handoff to its author
        explicit = [
            h for h in _rows(demo_db, "handoffs", run["trace_id"]) if h["kind"] == "explicit"
        ]
        assert [(h["from_agent"], h["to_agent"]) for h in explicit] == [("reviewer", author)]
        assert explicit[0]["to_span_id"] is not None  # linked to the author's second attempt
        assert explicit[0]["payload_preview"]


def test_last_rejection_fails_the_run(demo_db: Any) -> None:
    for run in _by_fault(demo_db, "bad_output_exhausted"):
        author = run["fault_agent"]
        assert run["status"] == "ERROR"
        agents = {a["agent_name"]: a for a in _rows(demo_db, "agents", run["trace_id"])}
        assert agents[author]["invocations"] == MAX_REVIEW_ROUNDS
        errors = _rows(demo_db, "errors", run["trace_id"])
        rejected = [e for e in errors if e["role"] == "rejected"]
        assert len(rejected) == MAX_REVIEW_ROUNDS
        assert {e["agent_name"] for e in rejected} == {author}
        handoffs = _rows(demo_db, "handoffs", run["trace_id"])
        sent_back = [h for h in handoffs if h["kind"] == "explicit"]
        assert len(sent_back) == MAX_REVIEW_ROUNDS - 1  # no handoff after the last rejection
        assert {(h["from_agent"], h["to_agent"]) for h in sent_back} == {("reviewer", author)}
        review_failed = [e for e in errors if e["error_type"] == "ReviewFailed"]
        assert review_failed
        assert {e["role"] for e in review_failed} == {"propagated"}
        # the failure points at the last rejected draft, which is the root cause
        assert review_failed[0]["cause_span_id"] == run["root_cause_span_id"]


def test_model_errors_are_retried(demo_db: Any) -> None:
    for run in _by_fault(demo_db, "rate_limit_retried"):
        calls = _rows(demo_db, "llm_calls", run["trace_id"])
        failed = [c for c in calls if c["status"] == "ERROR"]
        assert [(c["agent_name"], c["error_type"]) for c in failed] == [
            (run["fault_agent"], "RateLimitError")
        ]
        assert run["status"] == "OK"
    for kind, error_type in (
        ("rate_limit_exhausted", "RateLimitError"),
        ("timeout_exhausted", "Timeout"),
    ):
        for run in _by_fault(demo_db, kind):
            calls = _rows(demo_db, "llm_calls", run["trace_id"])
            failed = [c for c in calls if c["status"] == "ERROR"]
            assert len(failed) == MAX_ATTEMPTS
            assert {(c["agent_name"], c["error_type"]) for c in failed} == {
                (run["fault_agent"], error_type)
            }


def test_specialist_exception_propagates(demo_db: Any) -> None:
    for run in _by_fault(demo_db, "specialist_exception"):
        errors = _rows(demo_db, "errors", run["trace_id"])
        origins = [e for e in errors if e["role"] == "origin"]
        assert [(e["agent_name"], e["error_type"]) for e in origins] == [
            (run["fault_agent"], SPECIALIST_ERRORS[run["fault_agent"]])
        ]
        propagated = {e["agent_name"] for e in errors if e["role"] == "propagated"}
        assert {"orchestrator", run["fault_agent"]} <= propagated
        assert all(
            e["cause_span_id"] == origins[0]["span_id"] for e in errors if e["role"] == "propagated"
        )


def test_memory_store_failure_is_recovered(demo_db: Any) -> None:
    for run in _by_fault(demo_db, "memory_store_failure"):
        assert run["status"] == "OK"
        errors = _rows(demo_db, "errors", run["trace_id"])
        origins = [e for e in errors if e["role"] == "origin"]
        assert origins
        assert {(e["agent_name"], e["error_type"]) for e in origins} == {
            ("memory", "MemoryStoreUnavailable")
        }
        recovered = [e for e in errors if e["role"] == "recovered"]
        assert {e["agent_name"] for e in recovered} == {"orchestrator"}


def test_costs_are_real_prices_and_add_up(demo_db: Any) -> None:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    per_agent: dict[str, float] = defaultdict(float)
    for run in _runs(demo_db):
        calls = _rows(demo_db, "llm_calls", run["trace_id"])
        assert calls
        for call in calls:
            if call["status"] == "ERROR":
                continue
            price = litellm.model_cost[call["model"]]
            expected = (
                call["input_tokens"] * price["input_cost_per_token"]
                + call["output_tokens"] * price["output_cost_per_token"]
            )
            assert call["cost_usd"] == pytest.approx(expected, rel=1e-6)
            per_agent[call["agent_name"]] += call["cost_usd"]
        # a run whose every model call failed has no cost (NULL), not $0
        run_cost = run["cost_usd"] or 0.0
        assert run_cost == pytest.approx(sum(c["cost_usd"] or 0 for c in calls), rel=1e-9)
        agents = _rows(demo_db, "agents", run["trace_id"])
        assert sum(a["cost_usd"] or 0 for a in agents) == pytest.approx(run_cost, rel=1e-9)
    # each agent's model and workload gives it its own cost
    assert len({round(v, 6) for v in per_agent.values()}) == len(per_agent) == 7
    assert per_agent["coder"] > per_agent["memory"] * 5


def test_independent_specialists_overlap(demo_db: Any) -> None:
    for run in _by_fault(demo_db, "none"):
        spans = _rows(demo_db, "spans", run["trace_id"])
        agent_spans = {
            s["agent_name"]: s
            for s in spans
            if s["operation"] == "invoke_agent" and s["agent_name"] in ("coder", "researcher")
        }
        coder, researcher = agent_spans["coder"], agent_spans["researcher"]
        assert coder["start_ns"] < researcher["end_ns"]
        assert researcher["start_ns"] < coder["end_ns"]
        # the two branches overlap, so they cannot both be fully on the critical path
        agents = {a["agent_name"]: a for a in _rows(demo_db, "agents", run["trace_id"])}
        on_path = (
            agents["coder"]["critical_path_ms"]
            + agents["researcher"]["critical_path_ms"]
            + agents["analyst"]["critical_path_ms"]
        )
        branches = (
            agents["coder"]["duration_ms"]
            + agents["researcher"]["duration_ms"]
            + agents["analyst"]["duration_ms"]
        )
        assert 0 < on_path < branches
        assert sum(a["critical_path_ms"] for a in agents.values()) <= run["duration_ms"] + 1


def test_conversation_turns_share_context(demo_db: Any) -> None:
    runs = [r for r in _runs(demo_db) if r["variant"] == "multi_agent"]
    by_conversation: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        assert run["conversation_id"], run
        by_conversation[run["conversation_id"]].append(run)
    assert len(by_conversation) == 8
    checked = 0
    for turns in by_conversation.values():
        turns.sort(key=lambda r: r["turn"])
        assert [t["turn"] for t in turns] == [1, 2, 3]
        remembered = 0
        for run in turns:
            loads = [
                s
                for s in _rows(demo_db, "spans", run["trace_id"])
                if s["tool_name"] == "memory_load"
            ]
            assert len(loads) == 1
            if run["fault"] != "memory_store_failure":
                assert loads[0]["status"] != "ERROR"
                assert loads[0]["output_preview"].count("User asked") == remembered, loads[0]
                checked += remembered > 0
            if run["status"] == "OK" and run["fault"] != "memory_store_failure":
                remembered += 1
    assert checked >= 4


def test_demo_summary_agrees_with_the_views(demo_db: Any) -> None:
    from sample_pipelines._summary import read_summary

    summary = read_summary(demo_db.path, demo_db.batch)
    variants = {row["variant"]: row for row in summary.variants}
    assert set(variants) == {"multi_agent", "baseline"}
    for variant, row in variants.items():
        records = [r for r in demo_db.records if r.variant == variant]
        assert row["runs"] == len(records)
        assert row["failed"] == sum(not r.ok for r in records)
        assert row["root_cause_matches"] == row["failed"]
        assert row["p50_ms"] <= row["p95_ms"]
        calls = demo_db.query(
            f"SELECT sum(l.cost_usd) AS cost FROM llm_calls l JOIN ({BATCH_RUNS}) b USING (trace_id) "
            "WHERE b.variant = $variant",
            batch=demo_db.batch,
            variant=variant,
        )
        assert row["total_cost_usd"] == pytest.approx(calls[0]["cost"], rel=1e-9)
        agent_total = sum(a["cost_usd"] for a in summary.agents if a["variant"] == variant)
        assert agent_total == pytest.approx(row["total_cost_usd"], rel=1e-9)
        assert row["cost_per_run_usd"] == pytest.approx(row["total_cost_usd"] / row["runs"])
    # the top causes are ordered by count; with no limit they account for every failed run
    counts = [c["runs"] for c in summary.root_causes]
    assert counts == sorted(counts, reverse=True)
    assert len(summary.root_causes) <= 5
    everything = read_summary(demo_db.path, demo_db.batch, top_causes=100).root_causes
    by_agent: Counter[str] = Counter()
    for cause in everything:
        by_agent[cause["root_cause_agent"]] += cause["runs"]
    assert by_agent == Counter(r.fault.agent for r in demo_db.records if not r.ok)


def test_model_latency_is_inside_the_chat_spans(demo_db: Any) -> None:
    from sample_pipelines._offline import _PROFILES

    # --realistic means 1-3 s per model call; the demo scales that down
    assert all(1.0 <= low < high <= 3.0 for low, high, _, _ in _PROFILES.values())
    scale_ms = 1000 * 0.01  # the fixture's time scale
    calls = demo_db.query(
        f"SELECT l.agent_name, l.duration_ms FROM llm_calls l JOIN ({BATCH_RUNS}) b "
        "USING (trace_id) WHERE l.status <> 'ERROR'",
        batch=demo_db.batch,
    )
    assert len(calls) > 100
    # the simulated wait happens inside litellm, so inside the span that times the call
    assert min(c["duration_ms"] for c in calls) >= 1.0 * scale_ms
