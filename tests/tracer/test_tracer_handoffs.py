"""Behaviour 4: delegation, data-flow and explicit handoffs."""

from __future__ import annotations

from tracer import Hoptrace, semconv
from tracer.testing import CapturedSpans, find, handoff_links, span_id


def test_delegation_records_sender_and_payload(ht: Hoptrace, captured: CapturedSpans) -> None:
    @ht.agent
    def specialist(question: str) -> str:
        return "answer"

    @ht.agent
    def manager() -> str:
        return specialist("what is 2+2?")

    @ht.agent
    def recursive(n: int) -> int:
        return n if n == 0 else recursive(n - 1)

    manager()
    recursive(1)
    receiver = find(captured.spans, "specialist").attributes
    assert receiver[semconv.HANDOFF_FROM_AGENT] == "manager"
    assert receiver[semconv.HANDOFF_FROM_SPAN_ID] == span_id(find(captured.spans, "manager"))
    assert receiver[semconv.HANDOFF_PAYLOAD] == '{"question":"what is 2+2?"}'
    # no delegation when no agent (or the same agent) was running
    assert semconv.HANDOFF_FROM_AGENT not in find(captured.spans, "manager").attributes
    for span in captured.spans:
        if span.name == "invoke_agent recursive":
            assert semconv.HANDOFF_FROM_AGENT not in span.attributes


def test_data_handoff_by_identity(ht: Hoptrace, captured: CapturedSpans) -> None:
    @ht.agent
    def researcher() -> dict[str, str]:
        return {"notes": "facts"}

    @ht.agent
    def critic() -> str:
        return "this is a critique long enough to track"

    @ht.agent
    def writer(notes: dict[str, str], *, extras: list[object], by_key: dict[str, object]) -> str:
        return "draft"

    @ht.workflow
    def pipeline() -> None:
        notes = researcher()
        critique = critic()
        writer(notes, extras=[1, critique], by_key={"c": critique})

    pipeline()
    links = handoff_links(find(captured.spans, "writer"))
    by_arg = {link[semconv.HANDOFF_ARGUMENT]: link for link in links}
    assert set(by_arg) == {"notes", "extras[1]"}  # one link per producer span
    assert by_arg["notes"]["from_span_id"] == span_id(find(captured.spans, "researcher"))
    assert by_arg["notes"][semconv.HANDOFF_FROM_AGENT] == "researcher"
    assert by_arg["notes"][semconv.HANDOFF_KIND] == "data"
    assert by_arg["notes"][semconv.HANDOFF_PAYLOAD] == '{"notes":"facts"}'
    assert by_arg["extras[1]"][semconv.HANDOFF_FROM_AGENT] == "critic"


def test_equal_but_different_objects_and_short_strings_are_not_handoffs(
    ht: Hoptrace, captured: CapturedSpans
) -> None:
    @ht.agent
    def producer() -> list[int]:
        return [1, 2]

    @ht.agent
    def yes() -> str:
        return "yes"

    @ht.agent
    def consumer(value: object, flag: str) -> None:
        return None

    @ht.workflow
    def pipeline() -> None:
        producer()
        consumer([1, 2], yes())

    pipeline()
    assert handoff_links(find(captured.spans, "consumer")) == []


def test_values_do_not_leak_between_runs(ht: Hoptrace, captured: CapturedSpans) -> None:
    shared = ["a long enough shared value"]

    @ht.agent
    def producer() -> list[str]:
        return shared

    @ht.agent
    def consumer(value: object) -> None:
        return None

    producer()  # a run of its own
    consumer(shared)  # another run
    assert handoff_links(find(captured.spans, "consumer")) == []


def test_explicit_handoff(ht: Hoptrace, captured: CapturedSpans) -> None:
    @ht.agent
    def reviewer(draft: str) -> str:
        return "ok"

    @ht.agent
    def writer() -> str:
        ht.handoff("reviewer", {"draft": "v1", "password": "hunter2"})
        ht.handoff(reviewer, "second")
        ht.handoff("never_runs", "lost")
        return "draft"

    @ht.workflow
    def pipeline() -> None:
        writer()
        reviewer("x")
        reviewer("y")

    pipeline()
    sender = find(captured.spans, "writer")
    events = [e for e in sender.events if e.name == semconv.EVENT_HANDOFF]
    assert [e.attributes[semconv.HANDOFF_TO_AGENT] for e in events] == [
        "reviewer",
        "reviewer",
        "never_runs",
    ]
    assert events[0].attributes[semconv.HANDOFF_PAYLOAD] == '{"draft":"v1","password":"[REDACTED]"}'
    reviewers = [s for s in captured.spans if s.name == "invoke_agent reviewer"]
    received = [handoff_links(s) for s in reviewers]
    assert [len(r) for r in received] == [1, 1]
    for link, event in zip([r[0] for r in received], events[:2], strict=False):
        assert link[semconv.HANDOFF_KIND] == "explicit"
        assert link[semconv.HANDOFF_ID] == event.attributes[semconv.HANDOFF_ID]
        assert link["from_span_id"] == span_id(sender)
        assert link[semconv.HANDOFF_FROM_AGENT] == "writer"
    assert received[1][0][semconv.HANDOFF_PAYLOAD] == '"second"'


def test_handoff_outside_a_run_returns_none(ht: Hoptrace, captured: CapturedSpans) -> None:
    assert ht.handoff("x", 1) is None
