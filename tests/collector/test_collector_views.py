"""Every view's values on hand-built traces with known answers (real DuckDB files)."""

from __future__ import annotations

from pathlib import Path

import pytest
from collector_helpers import MS, T0, add, sid

import collector
from collector import SpanBatch, SpanStore
from tracer import semconv as sc

FAIL = "f" * 32
REJECT = "e" * 32
RECOVER = "d" * 32


def _agent(name: str, **extra: object) -> dict[str, object]:
    return {
        sc.HOPTRACE_KIND: "agent",
        sc.GEN_AI_OPERATION_NAME: sc.OP_AGENT,
        sc.GEN_AI_AGENT_NAME: name,
        **extra,
    }


def _chat(agent: str, agent_span: str, model: str, tin: int, tout: int, **extra: object):
    return {
        sc.HOPTRACE_KIND: "llm",
        sc.GEN_AI_OPERATION_NAME: sc.OP_CHAT,
        sc.GEN_AI_AGENT_NAME: agent,
        sc.AGENT_SPAN_ID: sid(agent_span),
        sc.GEN_AI_REQUEST_MODEL: model,
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_USAGE_INPUT_TOKENS: tin,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: tout,
        **extra,
    }


def _exc(etype: str, message: str) -> list[dict[str, object]]:
    return [
        {
            "name": "exception",
            "time_ns": T0,
            "attributes": {
                "exception.type": etype,
                "exception.message": message,
                "exception.stacktrace": f"Traceback ...\n{etype}: {message}",
            },
        }
    ]


def failed_run() -> SpanBatch:
    """Origin (KeyError) in the specialist's tool, propagated through the orchestrator,
    a new RuntimeError raised from it at the root.

    root  invoke_workflow pipeline  0..100 ERROR  RuntimeError, propagated, cause=tool
    └─ orch  invoke_agent orchestrator  5..95 ERROR propagated cause=tool
       ├─ spec  invoke_agent specialist  10..60 ERROR propagated cause=tool (delegated)
       │  ├─ chat1  chat gpt-4o-mini  12..30  (reported cost 0.01)
       │  └─ tool   execute_tool lookup  30..58 ERROR KeyError origin
       └─ chat2  chat gpt-4o-mini  62..90  2000/200 tokens, cost computed
    """
    b = SpanBatch()
    tool = sid("tool")
    add(b, "root", None, "invoke_workflow pipeline", 0, 100, trace_id=FAIL, status="ERROR",
        attrs={sc.HOPTRACE_KIND: "workflow", sc.GEN_AI_OPERATION_NAME: sc.OP_WORKFLOW,
               sc.ERROR_TYPE: "RuntimeError", sc.ERROR_ROLE: "propagated",
               sc.ERROR_CAUSE_SPAN_ID: tool, "hoptrace.run.fault": "lookup"},
        events=_exc("RuntimeError", "pipeline failed"))  # fmt: skip
    add(b, "orch", "root", "invoke_agent orchestrator", 5, 95, trace_id=FAIL, status="ERROR",
        attrs=_agent("orchestrator", **{sc.ERROR_TYPE: "KeyError", sc.ERROR_ROLE: "propagated",
                                        sc.ERROR_CAUSE_SPAN_ID: tool}),
        events=_exc("KeyError", "'sku'"))  # fmt: skip
    add(b, "spec", "orch", "invoke_agent specialist", 10, 60, trace_id=FAIL, status="ERROR",
        attrs=_agent("specialist", **{sc.ERROR_TYPE: "KeyError", sc.ERROR_ROLE: "propagated",
                                      sc.ERROR_CAUSE_SPAN_ID: tool,
                                      sc.HANDOFF_FROM_AGENT: "orchestrator",
                                      sc.HANDOFF_FROM_SPAN_ID: sid("orch"),
                                      sc.HANDOFF_PAYLOAD: '"find sku"'}),
        events=_exc("KeyError", "'sku'"))  # fmt: skip
    add(b, "chat1", "spec", "chat gpt-4o-mini", 12, 30, trace_id=FAIL,
        attrs=_chat("specialist", "spec", "gpt-4o-mini", 1000, 100, **{sc.COST_USD: 0.01}))  # fmt: skip
    add(b, "tool", "spec", "execute_tool lookup", 30, 58, trace_id=FAIL, status="ERROR",
        attrs={sc.HOPTRACE_KIND: "tool", sc.GEN_AI_OPERATION_NAME: sc.OP_TOOL,
               sc.GEN_AI_TOOL_NAME: "lookup", sc.GEN_AI_AGENT_NAME: "specialist",
               sc.AGENT_SPAN_ID: sid("spec"), sc.ERROR_TYPE: "KeyError",
               sc.ERROR_ROLE: "origin"},
        events=_exc("KeyError", "'sku'"))  # fmt: skip
    add(b, "chat2", "orch", "chat gpt-4o-mini", 62, 90, trace_id=FAIL,
        attrs=_chat("orchestrator", "orch", "gpt-4o-mini", 2000, 200))  # fmt: skip
    return b


def rejected_run() -> SpanBatch:
    """The reviewer rejects the writer's draft and later raises: root cause = the writer.

    root  invoke_workflow article 0..100 ERROR ValueError propagated cause=writer
    ├─ writer  invoke_agent writer 5..40
    └─ review  invoke_agent reviewer 45..95 ERROR ValueError propagated cause=writer
               event hoptrace.reject(writer, "too vague"); data link from writer;
               explicit handoff event to "editor" that never ran
    """
    b = SpanBatch()
    writer = sid("writer")
    add(b, "root", None, "invoke_workflow article", 0, 100, trace_id=REJECT, status="ERROR",
        attrs={sc.HOPTRACE_KIND: "workflow", sc.ERROR_TYPE: "ValueError",
               sc.ERROR_ROLE: "propagated", sc.ERROR_CAUSE_SPAN_ID: writer})  # fmt: skip
    add(b, "writer", "root", "invoke_agent writer", 5, 40, trace_id=REJECT, status="OK",
        attrs=_agent("writer", **{sc.OUTPUT: '"draft v1"'}))  # fmt: skip
    add(b, "review", "root", "invoke_agent reviewer", 45, 95, trace_id=REJECT, status="ERROR",
        attrs=_agent("reviewer", **{sc.ERROR_TYPE: "ValueError", sc.ERROR_ROLE: "propagated",
                                    sc.ERROR_CAUSE_SPAN_ID: writer}),
        events=[
            {"name": sc.EVENT_REJECT, "time_ns": T0 + 50 * MS,
             "attributes": {sc.REJECT_SPAN_ID: writer, sc.REJECT_AGENT: "writer",
                            sc.REJECT_REASON: "too vague", sc.REJECT_VALUE: '"draft v1"'}},
            {"name": sc.EVENT_HANDOFF, "time_ns": T0 + 60 * MS,
             "attributes": {sc.HANDOFF_TO_AGENT: "editor", sc.HANDOFF_PAYLOAD: '"please fix"',
                            sc.HANDOFF_ID: "h-1"}},
            *_exc("ValueError", "review failed"),
        ],
        links=[{"trace_id": REJECT, "span_id": writer,
                "attributes": {sc.LINK_TYPE: sc.LINK_TYPE_HANDOFF, sc.HANDOFF_KIND: sc.KIND_DATA,
                               sc.HANDOFF_FROM_AGENT: "writer", sc.HANDOFF_PAYLOAD: '"draft v1"',
                               sc.HANDOFF_ARGUMENT: "draft"}}])  # fmt: skip
    return b


def recovered_run() -> SpanBatch:
    """root OK; agent caught the tool's TimeoutError and completed."""
    b = SpanBatch()
    add(b, "root", None, "invoke_workflow w", 0, 50, trace_id=RECOVER, status="OK",
        attrs={sc.HOPTRACE_KIND: "workflow"})  # fmt: skip
    add(b, "agent", "root", "invoke_agent fetcher", 1, 49, trace_id=RECOVER, status="OK",
        attrs=_agent("fetcher", **{sc.ERROR_ROLE: "recovered",
                                   sc.RECOVERED_SPAN_IDS: [sid("tool")],
                                   sc.RECOVERED_TYPES: ["TimeoutError"],
                                   sc.RECOVERED_MESSAGES: ["slow upstream"]}))  # fmt: skip
    add(b, "tool", "agent", "execute_tool fetch", 2, 10, trace_id=RECOVER, status="ERROR",
        attrs={sc.HOPTRACE_KIND: "tool", sc.GEN_AI_AGENT_NAME: "fetcher",
               sc.ERROR_TYPE: "TimeoutError", sc.ERROR_ROLE: "origin"},
        events=_exc("TimeoutError", "slow upstream"))  # fmt: skip
    return b


@pytest.fixture
def store(db: Path) -> Path:
    s = SpanStore(db)
    for batch in (failed_run(), rejected_run(), recovered_run()):
        s.write(batch)
    return db


def q(db: Path, sql: str, *params: object) -> list[tuple]:
    return collector.query(sql, db, list(params) or None).rows()


def test_spans_view_promotes_and_derives(store: Path) -> None:
    rows = q(store, "SELECT span_id, agent_name, status, error_type, error_role, cause_span_id, "
                    "model, input_tokens, pending FROM spans WHERE trace_id = ? ORDER BY start_ns",
             FAIL)  # fmt: skip
    by = {r[0]: r[1:] for r in rows}
    assert by[sid("root")] == (
        None,
        "ERROR",
        "RuntimeError",
        "propagated",
        sid("tool"),
        None,
        None,
        False,
    )
    assert by[sid("tool")] == ("specialist", "ERROR", "KeyError", "origin", None, None, None, False)
    assert by[sid("chat2")][0] == "orchestrator"
    assert by[sid("chat2")][5:7] == ("gpt-4o-mini", 2000)
    stack = q(store, "SELECT exception_stacktrace, duration_ms FROM spans WHERE span_id = ? AND trace_id = ?",
              sid("tool"), FAIL)  # fmt: skip
    assert stack[0][0].endswith("KeyError: 'sku'")
    assert stack[0][1] == pytest.approx(28.0)


def test_runs_failed_run_root_cause_follows_cause_chain(store: Path) -> None:
    row = collector.query("SELECT * FROM runs WHERE trace_id = ?", store, [FAIL]).to_dicts()[0]
    assert row["status"] == "ERROR"
    assert row["name"] == "pipeline"
    assert row["root_span_name"] == "invoke_workflow pipeline"
    assert row["service_name"] == "svc"
    assert row["duration_ms"] == pytest.approx(100.0)
    assert (row["span_count"], row["agent_count"], row["llm_calls"]) == (6, 2, 2)
    assert (row["input_tokens"], row["output_tokens"]) == (3000, 300)
    chat2_cost = 2000 * 0.15e-6 + 200 * 0.6e-6
    assert row["cost_usd"] == pytest.approx(0.01 + chat2_cost)
    assert row["error_count"] == 4
    assert row["root_cause_agent"] == "specialist"
    assert row["root_cause_error"] == "KeyError"
    assert row["root_cause_span_id"] == sid("tool")
    assert row["root_cause_message"] == "'sku'"
    assert row["critical_path_ms"] == pytest.approx(100.0)
    assert '"hoptrace.run.fault":"lookup"' in row["attributes"]


def test_runs_rejected_output_is_the_root_cause(store: Path) -> None:
    row = collector.query("SELECT * FROM runs WHERE trace_id = ?", store, [REJECT]).to_dicts()[0]
    assert row["status"] == "ERROR"
    assert (row["root_cause_agent"], row["root_cause_error"]) == ("writer", "Rejected")
    assert row["root_cause_message"] == "too vague"


def test_errors_view_roles(store: Path) -> None:
    rows = q(store, "SELECT trace_id, span_id, agent_name, span_name, error_type, error_message, "
                    "role, cause_span_id FROM errors ORDER BY trace_id, start_ns")  # fmt: skip
    got = {(r[0], r[1]): r[2:] for r in rows}
    assert got[(FAIL, sid("tool"))] == (
        "specialist",
        "execute_tool lookup",
        "KeyError",
        "'sku'",
        "origin",
        None,
    )
    assert got[(FAIL, sid("spec"))][4:] == ("propagated", sid("tool"))
    assert got[(FAIL, sid("orch"))][4:] == ("propagated", sid("tool"))
    assert got[(FAIL, sid("root"))][2:] == (
        "RuntimeError",
        "pipeline failed",
        "propagated",
        sid("tool"),
    )
    assert got[(REJECT, sid("writer"))] == (
        "writer",
        "invoke_agent writer",
        "Rejected",
        "too vague",
        "rejected",
        None,
    )
    assert got[(REJECT, sid("review"))][4:] == ("propagated", sid("writer"))
    assert got[(RECOVER, sid("agent"))] == (
        "fetcher",
        "invoke_agent fetcher",
        "TimeoutError",
        "slow upstream",
        "recovered",
        sid("tool"),
    )
    assert got[(RECOVER, sid("tool"))][4] == "origin"
    assert len(got) == 9
    rec = collector.query(
        "SELECT status, root_cause_agent FROM runs WHERE trace_id = ?", store, [RECOVER]
    )
    assert rec.row(0) == ("OK", None)


def test_critical_path_per_span_and_agent(store: Path) -> None:
    spans = dict(q(store, "SELECT span_id, critical_path_ms FROM spans WHERE trace_id = ?", FAIL))
    expected = {"root": 10, "orch": 12, "chat2": 28, "spec": 4, "tool": 28, "chat1": 18}
    assert {k: spans[sid(k)] for k in expected} == pytest.approx(expected)
    on_path = q(store, "SELECT bool_and(on_critical_path) FROM spans WHERE trace_id = ?", FAIL)
    assert on_path == [(True,)]
    agents = {r[0]: r[1:] for r in q(
        store, "SELECT agent_name, critical_path_ms, critical_path_share FROM agents WHERE trace_id = ?", FAIL)}  # fmt: skip
    assert agents["orchestrator"] == pytest.approx((40.0, 0.4))
    assert agents["specialist"] == pytest.approx((50.0, 0.5))


def test_agents_view_costs_and_counts(store: Path) -> None:
    rows = collector.query(
        "SELECT * FROM agents WHERE trace_id = ? ORDER BY agent_name", store, [FAIL]
    ).to_dicts()
    orch, spec = rows
    chat2_cost = 2000 * 0.15e-6 + 200 * 0.6e-6
    assert (orch["agent_name"], orch["invocations"], orch["llm_calls"]) == ("orchestrator", 1, 1)
    assert orch["duration_ms"] == pytest.approx(90.0)
    assert orch["cost_usd"] == pytest.approx(chat2_cost)
    assert orch["inclusive_cost_usd"] == pytest.approx(chat2_cost + 0.01)
    assert (orch["input_tokens"], orch["output_tokens"], orch["error_count"]) == (2000, 200, 1)
    assert spec["cost_usd"] == pytest.approx(0.01)
    assert spec["inclusive_cost_usd"] == pytest.approx(0.01)
    assert spec["error_count"] == 2  # its own span and its tool
    assert spec["models"] == "gpt-4o-mini"


def test_handoffs_view(store: Path) -> None:
    rows = q(store, "SELECT trace_id, from_agent, to_agent, kind, from_span_id, to_span_id, "
                    "payload_preview FROM handoffs ORDER BY trace_id, start_time, kind")  # fmt: skip
    assert (
        FAIL,
        "orchestrator",
        "specialist",
        "delegate",
        sid("orch"),
        sid("spec"),
        '"find sku"',
    ) in rows
    assert (
        REJECT,
        "writer",
        "reviewer",
        "data",
        sid("writer"),
        sid("review"),
        '"draft v1"',
    ) in rows
    assert (REJECT, "reviewer", "editor", "explicit", sid("review"), None, '"please fix"') in rows
    assert len(rows) == 3


def test_llm_calls_view(store: Path) -> None:
    rows = q(store, "SELECT span_id, agent_name, model, provider, duration_ms, input_tokens, "
                    "output_tokens, cost_usd, status, error_type FROM llm_calls "
                    "WHERE trace_id = ? ORDER BY start_time", FAIL)  # fmt: skip
    assert [r[0] for r in rows] == [sid("chat1"), sid("chat2")]
    assert rows[0][1:5] == ("specialist", "gpt-4o-mini", "openai", pytest.approx(18.0))
    assert rows[1][7] == pytest.approx(2000 * 0.15e-6 + 200 * 0.6e-6)


def test_same_batch_twice_is_stored_once(db: Path) -> None:
    s = SpanStore(db)
    s.write(failed_run())
    s.write(failed_run())
    assert q(db, "SELECT count(*) FROM spans") == [(6,)]
    assert q(db, "SELECT count(*), sum(span_count) FROM runs") == [(1, 6)]
    assert q(db, "SELECT count(*) FROM errors") == [(4,)]
    assert q(db, "SELECT count(*) FROM handoffs") == [(1,)]


def test_span_sent_again_with_another_start_is_still_one_span(db: Path) -> None:
    s = SpanStore(db)
    s.write(_final_root())
    s.write(_child())
    moved = SpanBatch()  # same ids, clock-skewed copy from a retrying client
    add(moved, "kid", "root", "execute_tool t", 50_000, 50_010, attrs={sc.HOPTRACE_KIND: "tool"})
    s.write(moved)
    assert q(db, "SELECT count(*) FROM spans WHERE span_id = ?", sid("kid")) == [(1,)]
    assert q(db, "SELECT span_count FROM runs") == [(2,)]


def test_lone_surrogates_are_stored_as_question_marks(db: Path) -> None:
    """Text UTF-8 cannot carry (a lone surrogate) must not cost the span or its batch."""
    b = SpanBatch()
    add(b, "root", None, "bad \ud800 name", 0, 10, status="ERROR", message="m \udc00",
        attrs={sc.HOPTRACE_KIND: "agent", sc.GEN_AI_AGENT_NAME: "a\ud800", sc.INPUT: "x\ud800"})  # fmt: skip
    # values orjson refuses take the stdlib path; NaN must still become JSON null there
    add(b, "ok", "root", "fine", 1, 2, attrs={"big": 2**70, "nan": float("nan"), 3: "k"})
    SpanStore(db).write(b)
    assert q(db, "SELECT attributes::VARCHAR FROM spans WHERE span_id = ?", sid("ok")) == [
        ('{"big":1180591620717411303424,"nan":null,"3":"k"}',)
    ]
    assert q(db, "SELECT name, status_message, agent_name, input_preview FROM spans "
                 "WHERE span_id = ?", sid("root")) == [("bad ? name", "m ?", "a?", "x?")]  # fmt: skip
    assert q(db, "SELECT count(*) FROM spans") == [(2,)]


def test_parent_cycle_across_writes_terminates(db: Path) -> None:
    """Corrupt ids (a parent cycle spread over two writes) cannot make derivation loop."""
    s = SpanStore(db)
    first = SpanBatch()
    add(first, "root", None, "invoke_workflow w", 0, 100, attrs={sc.HOPTRACE_KIND: "workflow"})
    add(first, "a", "b", "invoke_agent a", 10, 20, attrs={sc.HOPTRACE_KIND: "agent"})
    s.write(first)
    second = SpanBatch()
    add(second, "b", "a", "invoke_agent b", 11, 19, attrs={sc.HOPTRACE_KIND: "agent"})
    add(second, "c", "a", "execute_tool c", 12, 18, attrs={sc.HOPTRACE_KIND: "tool"})
    s.write(second)
    assert q(db, "SELECT span_count FROM runs") == [(4,)]
    assert q(db, "SELECT count(*) FROM spans WHERE on_critical_path") == [(1,)]


def _pending_root() -> SpanBatch:
    b = SpanBatch()
    add(
        b,
        "root",
        None,
        "invoke_workflow w",
        0,
        0,
        attrs={sc.HOPTRACE_KIND: "workflow", sc.PENDING: True},
    )
    return b


def _final_root() -> SpanBatch:
    b = SpanBatch()
    add(
        b,
        "root",
        None,
        "invoke_workflow w",
        0,
        30,
        status="OK",
        attrs={sc.HOPTRACE_KIND: "workflow"},
    )
    return b


def _child() -> SpanBatch:
    b = SpanBatch()
    add(b, "kid", "root", "execute_tool t", 5, 10, attrs={sc.HOPTRACE_KIND: "tool"})
    return b


def test_pending_then_final(db: Path) -> None:
    s = SpanStore(db)
    s.write(_pending_root())
    s.write(_child())
    assert q(
        db,
        "SELECT pending, end_time IS NULL, duration_ms FROM spans WHERE span_id = ?",
        sid("root"),
    ) == [(True, True, None)]
    assert q(db, "SELECT status, pending_spans, end_time FROM runs") == [("RUNNING", 1, None)]
    s.write(_final_root())
    assert q(db, "SELECT pending, duration_ms FROM spans WHERE span_id = ?", sid("root")) == [
        (False, 30.0)
    ]
    assert q(db, "SELECT status, pending_spans, span_count FROM runs") == [("OK", 0, 2)]


def test_late_pending_copy_never_overwrites_final(db: Path) -> None:
    s = SpanStore(db)
    s.write(_final_root())
    s.write(_pending_root())
    assert q(db, "SELECT pending, duration_ms FROM spans") == [(False, 30.0)]
    assert q(db, "SELECT status FROM runs") == [("OK",)]
    # both copies in one batch: the finished one wins whatever the order
    both = _pending_root()
    both.extend(_final_root())
    both.extend(_pending_root())
    s.write(both)
    assert q(db, "SELECT count(*), bool_or(pending) FROM spans") == [(1, False)]


def test_bad_batch_is_refused_and_nothing_is_written(db: Path) -> None:
    s = SpanStore(db)
    b = failed_run()
    b.name.pop()  # columns of different length
    with pytest.raises(ValueError, match="differ in length"):
        s.write(b)
    assert q(db, "SELECT count(*) FROM spans") == [(0,)]


def test_store_recreates_a_deleted_file(db: Path) -> None:
    s = SpanStore(db)
    s.write(recovered_run())
    db.unlink()
    s.write(failed_run())
    assert q(db, "SELECT trace_id FROM runs") == [(FAIL,)]


def test_ingested_ns_is_the_write_time_so_every_commit_moves_the_max(db: Path) -> None:
    # the TUI asks "did max(ingested_ns) move?": a batch staged early but committed
    # late (a slower writer, a retried flush) must still move it
    from collector import queries
    from collector.ingest._staging import stage

    early, late = SpanBatch(), SpanBatch()
    add(early, "a", None, "invoke_workflow a", 0, 10, trace_id="a" * 32)
    add(late, "b", None, "invoke_workflow b", 0, 10, trace_id="b" * 32)
    staged_early = stage(early)
    staged_late = stage(late)
    store = SpanStore(db)
    store.write_staged(staged_late)
    seen = queries.max_ingested_ns(db)
    store.write_staged(staged_early)
    newest = queries.max_ingested_ns(db)
    assert seen is not None
    assert newest is not None
    assert newest > seen
    assert queries.max_ingested_ns(db, "a" * 32) == newest
