"""Content lineage stored on the handoff rows at derive time (issue 13.6).

Real producers: the tracer over real litellm with mock responses, spans written by a
real SpanStore into a DuckDB file; the `handoffs` view's lineage columns, the
transcript that reads them, root cause following them, and an older file migrated.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import duckdb
import pytest

import collector
from collector import SpanStore, queries, spans_to_batch
from collector.derive import LINEAGE_PROBE, MIN_LINEAGE
from collector.derive._trace import derive_trace
from tracer import Hoptrace
from tracer.testing import capture_spans

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
litellm = pytest.importorskip("litellm")
pytestmark = pytest.mark.filterwarnings("ignore:.*`ReadOnly` qualifier:UserWarning")

DRAFT = "Paris is the capital of France and sits on the Seine. " * 5  # longer than the probe
LINEAGE = (
    "SELECT from_agent, to_agent, kind, lineage, lineage_from_call, lineage_to_call, lineage_text"
    " FROM handoffs ORDER BY start_ns, kind"
)


def _reply(r: Any) -> str:
    return str(r.choices[0].message.content)


def _chat(prompt: str, reply: str, system: str | None = None) -> str:
    messages = [{"role": "user", "content": prompt}]
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    return _reply(litellm.completion(model="gpt-4o-mini", messages=messages, mock_response=reply))


def _store(db: Path, spans: Any) -> None:
    SpanStore(db).write(spans_to_batch(list(spans)))


def _handoffs(db: Path) -> list[dict[str, Any]]:
    return collector.query(LINEAGE, db=db).to_dicts()


def _calls(db: Path) -> dict[str, list[str]]:
    """Model-call span ids per agent, in start order."""
    out: dict[str, list[str]] = {}
    for agent, sid in collector.query(
        "SELECT agent_name, span_id FROM llm_calls ORDER BY start_ns", db=db
    ).rows():
        out.setdefault(agent, []).append(sid)
    return out


def _writer_reviewer(db: Path, review_prompt: Any, draft: str = DRAFT) -> None:
    """writer makes two model calls and returns its last reply; reviewer gets it (data handoff)."""
    ht = Hoptrace()

    @ht.agent
    def writer(topic: str) -> str:
        _chat(f"Outline {topic}.", "An outline: capital, river, museums.")
        return _chat(f"Write about {topic}.", draft)

    @ht.agent
    def reviewer(text: str) -> str:
        return _chat(review_prompt(text), "Approved, well sourced.", system="You review drafts.")

    @ht.workflow
    def pipeline() -> None:
        reviewer(writer("Paris"))

    with capture_spans(ht) as captured:
        pipeline()
    _store(db, captured.spans)


def test_receiver_prompt_holding_the_sender_reply_has_lineage(db: Path) -> None:
    _writer_reviewer(db, lambda text: f"Review this draft:\n{text}\nBe strict.")
    [row] = _handoffs(db)
    calls = _calls(db)
    assert (row["from_agent"], row["to_agent"], row["kind"], row["lineage"]) == (
        "writer",
        "reviewer",
        "data",
        True,
    )
    # the sender's LAST call before the handoff, the receiver's FIRST call
    assert (row["lineage_from_call"], row["lineage_to_call"]) == (
        calls["writer"][1],
        calls["reviewer"][0],
    )
    assert row["lineage_text"] == DRAFT.strip()[:LINEAGE_PROBE]
    assert len(row["lineage_text"]) == LINEAGE_PROBE
    # the transcript reads the stored answer
    receiver = collector.query("SELECT to_span_id FROM handoffs", db=db).item()
    trace = collector.query("SELECT trace_id FROM runs", db=db).item()
    [lin] = queries.span_conversation(db, trace, receiver).lineage
    assert (lin.from_agent, lin.from_call_span_id, lin.to_call_span_id) == (
        "writer",
        calls["writer"][1],
        calls["reviewer"][0],
    )
    assert lin.excerpt == row["lineage_text"]
    sender = collector.query("SELECT from_span_id FROM handoffs", db=db).item()
    assert queries.span_conversation(db, trace, sender).lineage == ()


def test_the_readme_lineage_query(db: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = readme.index("-- which upstream output flowed into which downstream prompt?")
    sql = readme[start : readme.index("```", start)]
    _writer_reviewer(db, lambda text: f"Review this draft:\n{text}\nBe strict.")
    rows = collector.query(sql, db=db).rows()
    assert rows == [
        ("writer", "reviewer", "data", DRAFT[:60], "user", ("Review this draft:\n" + DRAFT)[:60])
    ]


def test_receiver_prompt_without_the_reply_has_no_lineage(db: Path) -> None:
    # a data handoff (the very object) whose text never reaches the model: no lineage
    _writer_reviewer(db, lambda text: f"Review a draft of {len(text)} characters.")
    [row] = _handoffs(db)
    assert row["kind"] == "data"
    assert (
        row["lineage"],
        row["lineage_from_call"],
        row["lineage_to_call"],
        row["lineage_text"],
    ) == (
        False,
        None,
        None,
        None,
    )


def test_a_reply_shorter_than_the_minimum_is_no_evidence(db: Path) -> None:
    short = "Paris, France."  # 14 characters: any prompt could hold it by chance
    assert len(short) < MIN_LINEAGE
    _writer_reviewer(db, lambda text: f"Review this draft:\n{text}", draft=short + " " * 3)
    [row] = _handoffs(db)
    assert row["lineage"] is False
    # whitespace is trimmed before measuring: exactly MIN_LINEAGE characters is enough
    db2 = db.with_name("b.duckdb")
    exact = "Paris, France!!!"
    assert len(exact) == MIN_LINEAGE
    _writer_reviewer(db2, lambda text: f"Review:{text.strip()}.", draft=f"\n {exact}\n")
    [row2] = _handoffs(db2)
    assert (row2["lineage"], row2["lineage_text"]) == (True, exact)


def test_handoff_to_an_agent_without_a_model_call(db: Path) -> None:
    ht = Hoptrace()

    @ht.agent
    def writer() -> str:
        return _chat("Write.", DRAFT)

    @ht.agent
    def archiver(text: str) -> int:
        return len(text)  # no model call

    @ht.agent
    def planner() -> str:
        return "a plan without any model call at all"

    @ht.agent
    def executor(plan: str) -> str:
        return _chat(f"Execute: {plan}", "Done.")

    @ht.workflow
    def pipeline() -> None:
        archiver(writer())
        executor(planner())  # the sender made no model call either

    with capture_spans(ht) as captured:
        pipeline()
    _store(db, captured.spans)
    rows = _handoffs(db)
    assert [(r["from_agent"], r["to_agent"], r["lineage"]) for r in rows] == [
        ("writer", "archiver", False),
        ("planner", "executor", False),
    ]


def test_a_later_call_of_the_sender_is_not_its_reply(db: Path) -> None:
    """Delegation: the sender's model call after the handoff started is not what was handed."""
    ht = Hoptrace()

    @ht.agent
    def helper(task: str) -> str:
        return _chat(f"Help with: {task}", "Helping now with a long enough answer.")

    @ht.agent
    def lead() -> None:
        first = _chat("Plan the work.", DRAFT)
        helper(first)  # a delegate handoff (nested)
        _chat(f"Summarise: {first}", "A summary that comes after the handoff.")

    with capture_spans(ht) as captured:
        lead()
    _store(db, captured.spans)
    rows = _handoffs(db)
    calls = _calls(db)
    [row] = rows
    assert (row["kind"], row["lineage"]) == ("delegate", True)
    # had the later call counted, its reply (not in the helper's prompt) would show none
    assert (row["lineage_from_call"], row["lineage_to_call"]) == (
        calls["lead"][0],
        calls["helper"][0],
    )


# --- root cause follows content lineage edges, not only data handoffs ------------------


def _rejected_then_failed(db: Path, publish_prompt: Any) -> None:
    """drafter's reply is rejected; it is handed to publisher explicitly (not the object)."""
    ht = Hoptrace()

    @ht.agent
    def drafter() -> str:
        draft = _chat("Draft the launch note.", DRAFT)
        ht.handoff("publisher")
        return draft

    @ht.agent(role="reviewer")
    def reviewer(draft: str) -> None:
        ht.reject(draft, "misses the launch date")

    @ht.agent
    def publisher(brief: str) -> None:
        _chat(publish_prompt(brief), "I cannot publish this.")
        raise RuntimeError("cannot publish: no date in the text")

    @ht.workflow
    def launch() -> None:
        draft = drafter()
        reviewer(draft)
        publisher(f"Publish this note: {draft}")  # a new string: no data handoff

    with capture_spans(ht) as captured, pytest.raises(RuntimeError):
        launch()
    _store(db, captured.spans)


@pytest.mark.parametrize(
    ("carries", "expected"),
    [
        (True, ("drafter", "Rejected", "misses the launch date")),
        (False, ("publisher", "RuntimeError", "cannot publish: no date in the text")),
    ],
)
def test_root_cause_follows_a_handoff_with_content_lineage(
    db: Path, carries: bool, expected: tuple[str, str, str]
) -> None:
    _rejected_then_failed(db, (lambda b: b) if carries else (lambda b: "Publish the note."))
    edges = [(r["from_agent"], r["to_agent"], r["kind"], r["lineage"]) for r in _handoffs(db)]
    assert ("drafter", "publisher", "explicit", carries) in edges
    assert not any(k == "data" and t == "publisher" for _, t, k, _ in edges)
    [run] = collector.query(
        "SELECT root_cause_agent, root_cause_error, root_cause_message FROM runs", db=db
    ).rows()
    assert tuple(run) == expected


# --- migration and the dict path -------------------------------------------------------


def test_version_8_file_gains_lineage_on_migration(db: Path) -> None:
    _writer_reviewer(db, lambda text: f"Review this draft:\n{text}")
    before = _handoffs(db)
    assert before[0]["lineage"] is True
    # a version-8 file: handoffs_t without the lineage columns, the old view
    con = duckdb.connect(str(db))
    con.execute("UPDATE hoptrace_meta SET value = '8' WHERE key = 'schema_version'")
    con.execute("DROP VIEW handoffs")
    for c in ("lineage_from_call", "lineage_to_call", "lineage_text"):
        con.execute(f"ALTER TABLE handoffs_t DROP COLUMN {c}")
    con.execute(
        "CREATE VIEW handoffs AS SELECT trace_id, from_agent, to_agent, kind, from_span_id,"
        " to_span_id, payload_preview, argument, handoff_id, start_ns FROM handoffs_t"
    )
    con.close()
    with pytest.raises(collector.SchemaVersionError, match="version 8"):
        collector.query("SELECT count(*) FROM handoffs", db=db)
    SpanStore(db)  # the next writer migrates
    assert (
        collector.query(
            "SELECT value FROM hoptrace_meta WHERE key = 'schema_version'", db=db
        ).item()
        == "9"
    )
    assert _handoffs(db) == before


def test_derive_trace_reads_messages_from_its_dicts() -> None:
    def msgs(direction: str, text: str) -> str:
        return json.dumps(
            [{"direction": direction, "index": 0, "part_type": "text", "content": text}]
        )

    spans = [
        {"span_id": "w", "name": "workflow", "start_ns": 0, "end_ns": 100, "span_class": "workflow"},
        {"span_id": "a", "parent_span_id": "w", "name": "a", "start_ns": 1, "end_ns": 40,
         "span_class": "agent", "agent_attr": "a"},
        {"span_id": "a1", "parent_span_id": "a", "name": "chat", "start_ns": 2, "end_ns": 30,
         "span_class": "llm", "messages": msgs("output", DRAFT)},
        {"span_id": "b", "parent_span_id": "w", "name": "b", "start_ns": 50, "end_ns": 90,
         "span_class": "agent", "agent_attr": "b",
         "handoff_links": '[{"span_id": "a", "kind": "data", "from_agent": "a"}]'},
        {"span_id": "b1", "parent_span_id": "b", "name": "chat", "start_ns": 60, "end_ns": 80,
         "span_class": "llm", "messages": msgs("input", "see: " + DRAFT)},
    ]  # fmt: skip
    [row] = derive_trace("t", spans).handoff_rows
    assert (row["lineage_from_call"], row["lineage_to_call"]) == ("a1", "b1")
    assert row["lineage_text"] == DRAFT.strip()[:LINEAGE_PROBE]
    without = [{k: v for k, v in s.items() if k != "messages"} for s in spans]
    [bare] = derive_trace("t", without).handoff_rows
    assert bare["lineage_text"] is None
    # the system prompt counts; a tool definition does not
    for direction, part_type, found in (
        ("system", "text", True),
        ("tools", "tool_definition", False),
    ):
        part = {"direction": direction, "index": 0, "part_type": part_type, "content": DRAFT}
        spans[-1]["messages"] = json.dumps([part])
        [r] = derive_trace("t", spans).handoff_rows
        assert (r["lineage_text"] is not None) is found, direction
