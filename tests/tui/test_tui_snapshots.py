"""SVG snapshots of every view on the deterministic demo store.

Regenerate (after looking at the report!) with
`.venv/bin/pytest tests/tui/test_tui_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from demo_db import CHAIN_RUN, OK_RUN, PENDING_RUN, REJECTED_RUN
from textual.pilot import Pilot
from tui_helpers import make_app, settle

from tui.messages import OpenRun

SIZE = (140, 36)


def steps(trace_id: str | None = None, *keys: str) -> Callable[[Pilot[None]], Awaitable[None]]:
    """Open a run (posted from the app's task), press keys, wait for the workers."""

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        if trace_id is not None:
            pilot.app.screen.post_message(OpenRun(trace_id))
            await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run_before


def test_runs_view(snap_compare, demo_db: Path) -> None:
    """All four runs, newest first: running, two failures with root cause, one OK."""
    assert snap_compare(make_app(demo_db), terminal_size=SIZE, run_before=steps(None, "down"))


def test_runs_view_filtered_by_status(snap_compare, demo_db: Path) -> None:
    """`f` once: only failed runs."""
    assert snap_compare(make_app(demo_db), terminal_size=SIZE, run_before=steps(None, "f"))


def test_waterfall_concurrent_specialists(snap_compare, demo_db: Path) -> None:
    """OK run: researcher and analyst overlap; critical path shares on top."""
    assert snap_compare(make_app(demo_db), terminal_size=SIZE, run_before=steps(OK_RUN))


def test_waterfall_zoomed_and_folded(snap_compare, demo_db: Path) -> None:
    """Zoomed in twice around the researcher, the analyst folded."""
    keys = ("down", "down", "down", "down", "down", "plus", "plus", "down", "down", "down", "left")
    assert snap_compare(make_app(demo_db), terminal_size=SIZE, run_before=steps(OK_RUN, *keys))


def test_waterfall_pending_and_orphan(snap_compare, demo_db: Path) -> None:
    """A running run: open-ended bars and an orphan shown as a root."""
    assert snap_compare(make_app(demo_db), terminal_size=SIZE, run_before=steps(PENDING_RUN))


def test_errors_rejection_and_recovery(snap_compare, demo_db: Path) -> None:
    """The recovered memory error and the rejected draft that failed the run."""
    assert snap_compare(make_app(demo_db), terminal_size=SIZE, run_before=steps(REJECTED_RUN, "e"))


def test_errors_cause_chain_with_stack_trace(snap_compare, demo_db: Path) -> None:
    """A tool error propagated up to the run, with the origin's stack trace."""
    assert snap_compare(make_app(demo_db), terminal_size=SIZE, run_before=steps(CHAIN_RUN, "e"))


def test_cost_view(snap_compare, demo_db: Path) -> None:
    """Per-agent own / inclusive cost, tokens, models and shares."""
    assert snap_compare(make_app(demo_db), terminal_size=SIZE, run_before=steps(OK_RUN, "c"))


def test_span_detail(snap_compare, demo_db: Path) -> None:
    """The reviewer's span of the failed run: handoffs in, exception, events."""
    keys = ("end", "up", "enter")
    assert snap_compare(
        make_app(demo_db), terminal_size=(140, 60), run_before=steps(REJECTED_RUN, *keys)
    )


def test_help(snap_compare, demo_db: Path) -> None:
    """`?` on the waterfall lists its keys."""
    assert snap_compare(
        make_app(demo_db), terminal_size=SIZE, run_before=steps(OK_RUN, "question_mark")
    )
