"""Live refresh: another thread and another process write while the UI is open."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

import pytest
from demo_db import NOW, PENDING_RUN, REJECTED_RUN, T0, extra_run, finish_pending_run
from textual.message import Message
from tui_helpers import make_app, of_type, screen_text, settle, wait_for

from collector import SpanBatch, SpanStore
from tui.messages import OpenRun, RunLoaded, RunsLoaded, StoreChanged
from tui.screens.run import RunScreen
from tui.widgets.runs_list import RunsList
from tui.widgets.waterfall import Waterfall

NEW_RUN = f"{0xE5:032x}"
OTEL_TRACE = 0xF6


def write_in_thread(db: Path, fill) -> threading.Thread:
    batch = SpanBatch()
    fill(batch)

    def work() -> None:
        store = SpanStore(db)
        try:
            store.write(batch)
        finally:
            store.close()

    thread = threading.Thread(target=work)
    thread.start()
    return thread


async def test_new_run_appears_and_selection_stays_on_its_run(demo_db: Path) -> None:
    messages: list[Message] = []
    app = make_app(demo_db, poll_interval=0.1)
    async with app.run_test(size=(140, 30), message_hook=messages.append) as pilot:
        await settle(pilot)
        runs = app.screen.query_one(RunsList)
        await pilot.press("down", "down")
        assert runs.selected_trace_id == REJECTED_RUN
        polls_before = len(of_type(messages, StoreChanged))

        write_in_thread(demo_db, lambda b: extra_run(b, NEW_RUN, NOW - 1_000_000_000)).join()
        # no key press: the poll notices max(ingested_ns) moved and the list reloads
        await wait_for(pilot, lambda: runs.count == 5)
        assert len(of_type(messages, StoreChanged)) > polls_before
        assert of_type(messages, RunsLoaded)[-1].count == 5
        assert runs.row(0).trace_id == NEW_RUN
        assert runs.selected_trace_id == REJECTED_RUN
        assert runs.cursor == 3
        assert "live_team" in screen_text(pilot)


def add_older_runs(db: Path, n: int = 8) -> None:
    """More runs than rows on a 12-line screen, all older than the demo's."""
    older = SpanBatch()
    for i in range(n):
        extra_run(older, f"{0x100 + i:032x}", T0 - (i + 1) * 60 * 10**9)
    store = SpanStore(db)
    try:
        store.write(older)
    finally:
        store.close()


async def test_new_run_arrives_in_view_at_the_top_of_a_long_list(demo_db: Path) -> None:
    # more runs than rows on screen: the old reload scrolled the new top run out of view
    add_older_runs(demo_db)
    app = make_app(demo_db, poll_interval=0.1)
    async with app.run_test(size=(140, 12)) as pilot:
        await settle(pilot)
        runs = app.screen.query_one(RunsList)
        assert runs.count > runs.size.height  # the list scrolls
        assert runs.cursor == 0
        assert runs.selected_trace_id == PENDING_RUN

        write_in_thread(demo_db, lambda b: extra_run(b, NEW_RUN, NOW - 1_000_000_000)).join()
        await wait_for(pilot, lambda: runs.count == 13)
        await settle(pilot)
        assert runs.scroll_offset.y == 0
        assert runs.row(0).trace_id == NEW_RUN
        lines = screen_text(pilot).splitlines()
        header = next(i for i, line in enumerate(lines) if "START (UTC)" in line)
        assert "live_team" in lines[header + 1]
        assert "1s ago" in lines[header + 1]
        # the selection stays on its run, now one row down, still in view
        assert runs.selected_trace_id == PENDING_RUN
        assert runs.cursor == 1
        assert "research_team" in lines[header + 2]


async def test_running_run_updates_in_list_and_waterfall(demo_db: Path) -> None:
    messages: list[Message] = []
    app = make_app(demo_db, poll_interval=0.1)
    async with app.run_test(size=(140, 30), message_hook=messages.append) as pilot:
        await settle(pilot)
        app.screen.post_message(OpenRun(PENDING_RUN))
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunScreen)
        wf = screen.query_one(Waterfall)
        assert sum(r.span.pending for r in wf.rows) == 3
        loads = len(of_type(messages, RunLoaded))

        write_in_thread(demo_db, finish_pending_run).join()
        await wait_for(pilot, lambda: len(of_type(messages, RunLoaded)) > loads)
        bundle = of_type(messages, RunLoaded)[-1].bundle
        assert bundle.run is not None
        assert bundle.run.status == "OK"
        await wait_for(pilot, lambda: sum(r.span.pending for r in wf.rows) == 0)
        assert "[OK]" in screen_text(pilot)
        # the list under it was refreshed too
        await pilot.press("escape")
        runs = app.screen.query_one(RunsList)
        await wait_for(pilot, lambda: runs.row(0) is not None and runs.row(0).status == "OK")


WRITER = """
import sys, time
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from collector import DuckDBSpanExporter

provider = TracerProvider()
exporter = DuckDBSpanExporter(sys.argv[1])
provider.add_span_processor(SimpleSpanProcessor(exporter))
tracer = provider.get_tracer("live-test")
with tracer.start_as_current_span(
    "invoke_workflow other_process",
    attributes={"gen_ai.operation.name": "invoke_workflow", "hoptrace.kind": "workflow"},
):
    with tracer.start_as_current_span(
        "invoke_agent researcher",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "researcher"},
    ):
        time.sleep(0.05)
provider.shutdown()
print("written")
"""


async def _write_from_another_process(db: Path) -> bytes:
    """Run WRITER on `db` in a child process (while the app polls); its stdout."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER, str(db),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()
    return out


@pytest.mark.slow
async def test_run_written_by_another_process_appears(demo_db: Path) -> None:
    app = make_app(demo_db, poll_interval=0.1)
    async with app.run_test(size=(140, 30)) as pilot:
        await settle(pilot)
        runs = app.screen.query_one(RunsList)
        await pilot.press("down")
        selected = runs.selected_trace_id
        # the UI keeps polling and reading while the other process writes the file
        out = await _write_from_another_process(demo_db)
        assert b"written" in out
        await wait_for(pilot, lambda: runs.count == 5)
        assert "other_process" in screen_text(pilot)
        assert runs.selected_trace_id == selected
        assert not [n for n in app._notifications if n.severity == "error"]


@pytest.mark.slow
async def test_run_from_another_process_arrives_in_view_at_the_top(demo_db: Path) -> None:
    add_older_runs(demo_db)
    app = make_app(demo_db, poll_interval=0.1)
    async with app.run_test(size=(140, 12)) as pilot:
        await settle(pilot)
        runs = app.screen.query_one(RunsList)
        assert runs.count > runs.size.height
        assert runs.cursor == 0
        await _write_from_another_process(demo_db)
        await wait_for(pilot, lambda: runs.count == 13)
        await settle(pilot)
        assert runs.scroll_offset.y == 0
        lines = screen_text(pilot).splitlines()
        header = next(i for i, line in enumerate(lines) if "START (UTC)" in line)
        assert "other_process" in lines[header + 1]  # started now: the newest, on top
        assert runs.selected_trace_id == PENDING_RUN
