"""Root cause follows content lineage, end to end: real tracer spans into a DuckDB store."""

from __future__ import annotations

from pathlib import Path

import pytest

import collector
from collector import SpanStore, spans_to_batch
from tracer import Hoptrace
from tracer.testing import capture_spans

DRAFT = "A draft of the launch announcement, version one."


def _pipeline(ht: Hoptrace, reject: bool) -> None:
    @ht.agent
    def drafter() -> str:
        return DRAFT + " "  # a new object each run: data handoffs follow identity

    @ht.agent(role="reviewer")
    def reviewer(draft: str) -> None:
        if reject:
            ht.reject(draft, "misses the launch date")

    @ht.agent
    def editor(draft: str) -> str:
        return draft.upper()

    @ht.agent
    def publisher(text: str) -> None:
        raise RuntimeError("cannot publish: no date in the text")

    @ht.workflow
    def launch() -> None:
        draft = drafter()
        reviewer(draft)
        publisher(editor(draft))  # two data handoffs from the rejected draft

    with pytest.raises(RuntimeError):
        launch()


@pytest.mark.parametrize(
    ("reject", "expected"),
    [
        (True, ("drafter", "Rejected", "misses the launch date")),
        (False, ("publisher", "RuntimeError", "cannot publish: no date in the text")),
    ],
)
def test_failure_downstream_of_a_rejected_draft_blames_its_producer(
    tmp_path: Path, reject: bool, expected: tuple[str, str, str]
) -> None:
    ht = Hoptrace()
    with capture_spans(ht) as captured:
        _pipeline(ht, reject)
    db = tmp_path / "t.duckdb"
    SpanStore(db).write(spans_to_batch(list(captured.spans)))
    [run] = collector.query(
        "SELECT status, root_cause_agent, root_cause_error, root_cause_message FROM runs", db=db
    ).to_dicts()
    assert run["status"] == "ERROR"
    assert (run["root_cause_agent"], run["root_cause_error"], run["root_cause_message"]) == expected
    # the handoffs the rule walked are the store's own data handoffs
    edges = collector.query(
        "SELECT from_agent, to_agent FROM handoffs WHERE kind = 'data' ORDER BY start_ns", db=db
    ).rows()
    assert [tuple(e) for e in edges] == [
        ("drafter", "reviewer"),
        ("drafter", "editor"),
        ("editor", "publisher"),
    ]
