"""The span detail's chat transcript: layout functions, Pilot keys and a snapshot.

A deterministic store (fixed ids and times, real SpanStore) with one run: a writer
agent making two model calls (system prompt, tools, a tool call and its result, a
long reply that folds) and a reviewer rejecting the writer's draft.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from demo_db import T0, _Trace
from textual.pilot import Pilot
from tui_helpers import make_app, screen_text, settle

from collector import SpanBatch, SpanStore, queries
from collector.queries import MessageRow, ModelCallRow, SpanConversation
from tui.layout.transcript import params_line, search_lines, transcript_lines
from tui.messages import OpenRun, OpenSpan
from tui.screens.span import SpanScreen

RUN = f"{0xE5:032x}"
WRITER = f"{0xE5:08x}{2:08x}"
CALL_1 = f"{0xE5:08x}{3:08x}"
CALL_2 = f"{0xE5:08x}{4:08x}"
REVIEWER = f"{0xE5:08x}{5:08x}"
LONG = "\n".join(f"Paragraph {i}: agents hand work to each other through tools." for i in range(30))


def _chat_attrs(inputs: list, outputs: list, tokens: tuple[int, int], **extra: object) -> dict:
    return {
        "gen_ai.operation.name": "chat",
        "hoptrace.kind": "llm",
        "gen_ai.agent.name": "writer",
        "hoptrace.agent.span_id": WRITER,
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.provider.name": "openai",
        "gen_ai.usage.input_tokens": tokens[0],
        "gen_ai.usage.output_tokens": tokens[1],
        "hoptrace.cost_usd": round(tokens[0] * 0.15e-6 + tokens[1] * 0.6e-6, 8),
        "gen_ai.input.messages": json.dumps(inputs),
        "gen_ai.output.messages": json.dumps(outputs),
        **extra,
    }


def build_transcript_db(path: Path) -> Path:
    batch = SpanBatch()
    t = _Trace(batch, RUN, T0 + 300_000 * 10**6, 0xE5)
    wf = t.workflow("drafting", 0, 2000)
    writer = t.agent("writer", wf, 10, 1200)
    user = {"role": "user", "parts": [{"type": "text", "content": "Write about Paris."}]}
    call = {"type": "tool_call", "id": "call_1", "name": "lookup", "arguments": {"q": "Paris"}}
    t.span("chat gpt-4o-mini", writer, 20, 400, _chat_attrs(
        [user], [{"role": "assistant", "parts": [call], "finish_reason": "tool_calls"}], (12, 8),
        **{"gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be factual."}]),
           "gen_ai.tool.definitions": json.dumps([{"type": "function", "name": "lookup"}]),
           "gen_ai.request.temperature": 0.2, "gen_ai.request.max_tokens": 512}))  # fmt: skip
    result = {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1",
                                          "response": "Paris is the capital of France."}]}  # fmt: skip
    reply = {"role": "assistant", "parts": [{"type": "text", "content": LONG}],
             "finish_reason": "stop"}  # fmt: skip
    t.span("chat gpt-4o-mini", writer, 450, 1100,
           _chat_attrs([user, {"role": "assistant", "parts": [call]}, result], [reply], (18, 42)))  # fmt: skip
    draft = "Paragraph 0: agents hand work to each other through tools."
    link = {"trace_id": RUN, "span_id": WRITER, "attributes": {
        "hoptrace.link.type": "handoff", "hoptrace.handoff.kind": "data",
        "hoptrace.handoff.from_agent": "writer", "hoptrace.handoff.argument": "draft"}}  # fmt: skip
    t.agent("reviewer", wf, 1250, 1900, links=[link], events=[{
        "name": "hoptrace.reject", "time_ns": T0 + 300_000 * 10**6 + 1800 * 10**6,
        "attributes": {"hoptrace.reject.span_id": WRITER, "hoptrace.reject.agent": "writer",
                       "hoptrace.reject.reason": "cites no sources"}}])  # fmt: skip
    review = {"role": "user", "parts": [{"type": "text", "content": f"Review this draft:\n{LONG}"}]}
    verdict = {"role": "assistant", "parts": [{"type": "text", "content": "REJECT"}]}
    t.span("chat gpt-4o-mini", REVIEWER, 1300, 1800, {
        **_chat_attrs([review], [verdict], (50, 2)),
        "gen_ai.agent.name": "reviewer", "hoptrace.agent.span_id": REVIEWER})  # fmt: skip
    assert draft in LONG
    SpanStore(path).write(batch)  # nothing stays open between writes
    return path


@pytest.fixture
def transcript_db(tmp_path: Path) -> Path:
    return build_transcript_db(tmp_path / "transcript.duckdb")


# --- layout (pure) ---------------------------------------------------------------------


def _conversation(content: str) -> SpanConversation:
    call = ModelCallRow("s1", "chat m", "m", "OK", 0, 12.0, 3, 4, 0.001)
    rows = (
        MessageRow("s1", "input", 0, 0, "user", "text", "hello", None, None, None),
        MessageRow("s1", "output", 0, 0, "assistant", "text", content, None, None, "stop"),
    )
    return SpanConversation((call,), rows, False)


def test_long_parts_fold_and_expand() -> None:
    folded = [line.text for line in transcript_lines(_conversation(LONG))]
    assert folded[0].startswith("── chat m · ")
    assert "[user]" in folded
    assert "[assistant]  (finish: stop)" in folded
    assert any("… 24 more lines folded (e: expand)" in line for line in folded)
    assert not any("Paragraph 29" in line for line in folded)
    expanded = [line.text for line in transcript_lines(_conversation(LONG), expanded=True)]
    assert any("Paragraph 29" in line for line in expanded)
    assert not any("folded" in line for line in expanded)
    short = [line.text for line in transcript_lines(_conversation("hi there"))]
    assert "    hi there" in short


def test_search_and_params() -> None:
    lines = transcript_lines(_conversation(LONG), expanded=True)
    hits = search_lines(lines, "PARAGRAPH 2")
    assert [lines[i].text.strip()[:12] for i in hits][:2] == ["Paragraph 2:", "Paragraph 20"]
    assert search_lines(lines, "  ") == []
    attrs = {"gen_ai.request.temperature": 0.2, "gen_ai.request.max_tokens": 64}
    assert params_line(attrs, ["lookup"]) == "temperature 0.2 · max_tokens 64 · tools lookup"
    assert params_line({}) is None


def test_content_lineage_of_a_handoff(transcript_db: Path) -> None:
    conv = queries.span_conversation(transcript_db, RUN, REVIEWER)
    [lin] = conv.lineage
    assert (lin.from_agent, lin.from_span_id, lin.from_call_span_id) == ("writer", WRITER, CALL_2)
    assert lin.excerpt.startswith("Paragraph 0: agents hand work")
    assert queries.span_conversation(transcript_db, RUN, WRITER).lineage == ()


def test_agent_conversation_sums_its_calls(transcript_db: Path) -> None:
    conv = queries.span_conversation(transcript_db, RUN, WRITER)
    assert [c.span_id for c in conv.calls] == [CALL_1, CALL_2]
    assert (conv.input_tokens, conv.output_tokens) == (30, 50)
    assert conv.cost_usd == pytest.approx(30 * 0.15e-6 + 50 * 0.6e-6)
    assert (conv.rejected_by, conv.reject_reason) == ("reviewer", "cites no sources")
    own = queries.span_conversation(transcript_db, RUN, CALL_1)
    assert [c.span_id for c in own.calls] == [CALL_1]
    assert [m.part_type for m in own.messages] == ["text", "tool_definition", "text", "tool_call"]


# --- Pilot -------------------------------------------------------------------------------


async def _open_span(pilot: Pilot[None], span_id: str) -> SpanScreen:
    await settle(pilot)
    pilot.app.screen.post_message(OpenRun(RUN))
    await settle(pilot)
    pilot.app.screen.post_message(OpenSpan(RUN, span_id))
    await settle(pilot)
    assert isinstance(pilot.app.screen, SpanScreen)
    return pilot.app.screen


async def test_model_call_transcript_fold_expand_search(transcript_db: Path) -> None:
    app = make_app(transcript_db)
    async with app.run_test(size=(120, 80)) as pilot:
        screen = await _open_span(pilot, CALL_2)
        text = screen_text(pilot)
        assert "Conversation (e: expand/fold" in text
        assert "[user]" in text
        assert "[assistant → tool call lookup]  id call_1" in text
        assert "[tool result call_1]" in text
        assert "Paris is the capital of France." in text
        assert "more lines folded (e: expand)" in text
        assert "tokens 18 in / 42 out" in text
        assert "Paragraph 29" not in "".join(line.text for line in screen.lines)
        await pilot.press("e")
        await settle(pilot)
        assert any("Paragraph 29" in line.text for line in screen.lines)
        await pilot.press("e", "slash")
        await settle(pilot)
        await pilot.press(*"capital", "enter")
        await settle(pilot)
        assert screen.term == "capital"
        assert len(screen.matches) == 1
        assert "capital" in screen.lines[screen.matches[0]].text
        assert any("1 matching lines" in n.message for n in app._notifications)
        await pilot.press("n")
        await settle(pilot)
        assert screen.match_at == 0  # one match: n wraps onto it
        await pilot.press("slash", *"zebra", "enter")
        await settle(pilot)
        assert screen.matches == []
        assert any("No match for 'zebra'" in n.message for n in app._notifications)


async def test_agent_span_shows_its_calls_tokens_cost_and_rejection(transcript_db: Path) -> None:
    app = make_app(transcript_db)
    async with app.run_test(size=(120, 90)) as pilot:
        screen = await _open_span(pilot, WRITER)
        text = screen_text(pilot)
        assert "model calls 2 (gpt-4o-mini)   tokens 30 in / 50 out   cost $" in text
        assert "Rejected by reviewer: cites no sources" in text
        assert "Input" in text
        assert "Output" in text
        headers = [line.text for line in screen.lines if line.kind == "header"]
        assert len(headers) == 2
        assert "12 in / 8 out" in headers[0]
        assert "18 in / 42 out" in headers[1]
        assert "params      temperature 0.2" not in text  # the agent has no request params


async def test_handoff_shows_content_lineage(transcript_db: Path) -> None:
    app = make_app(transcript_db)
    async with app.run_test(size=(160, 60)) as pilot:
        await _open_span(pilot, REVIEWER)
        text = screen_text(pilot)
        assert "data from writer" in text
        assert "this agent's first prompt contains writer's last model reply" in text


async def test_model_call_shows_params(transcript_db: Path) -> None:
    app = make_app(transcript_db)
    async with app.run_test(size=(120, 60)) as pilot:
        await _open_span(pilot, CALL_1)
        text = screen_text(pilot)
        assert "params      temperature 0.2 · max_tokens 512 · tools lookup" in text
        assert "[tools offered] lookup" in text
        assert "Be factual." in text


def test_transcript_snapshot(snap_compare, transcript_db: Path) -> None:
    """The second model call of the writer: history with a tool call and result, a folded reply."""

    async def run_before(pilot: Pilot[None]) -> None:
        await _open_span(pilot, CALL_2)

    assert snap_compare(make_app(transcript_db), terminal_size=(120, 50), run_before=run_before)


async def test_waterfall_marks_origin_rejected_and_critical_path_with_glyphs(
    demo_db: Path,
) -> None:
    from demo_db import REJECTED_RUN

    from tui.widgets.waterfall import CRITICAL_MARK, ORIGIN_MARK, REJECTED_MARK, Waterfall

    app = make_app(demo_db)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        app.screen.post_message(OpenRun(REJECTED_RUN))
        await settle(pilot)
        wf = app.screen.query_one(Waterfall)
        lines = [wf.render_line(y).text for y in range(len(wf.rows) + 2)]
        by_name = {r.span.span_id: lines[i + 1] for i, r in enumerate(wf.rows)}
        rejected = [r.span for r in wf.rows if r.span.error_role == "rejected"]
        origins = [r.span for r in wf.rows if r.span.error_role == "origin"]
        assert rejected
        assert origins
        assert all(REJECTED_MARK in by_name[s.span_id] for s in rejected)
        assert all(ORIGIN_MARK in by_name[s.span_id] for s in origins)
        others = [r.span for r in wf.rows if r.span.error_role not in ("origin", "rejected")]
        assert not any(ORIGIN_MARK in by_name[s.span_id] for s in others)
        critical = [r.span for r in wf.rows if r.span.on_critical_path]
        assert critical
        assert all(CRITICAL_MARK in by_name[s.span_id] for s in critical)
        assert "failure started here" in lines[len(wf.rows) + 1]
        assert "on the critical path" in lines[len(wf.rows) + 1]
