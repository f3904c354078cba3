"""SVG snapshot of the Graph tab on the deterministic demo store.

Regenerate (after looking at the report!) with
`.venv/bin/pytest tests/tui/test_tui_graph_snapshot.py --snapshot-update`.
"""

from __future__ import annotations

from pathlib import Path

from demo_db import REJECTED_RUN
from textual.pilot import Pilot
from tui_helpers import make_app, settle

from tui.messages import OpenRun
from tui.widgets.graph_view import GraphView

SIZE = (140, 44)


async def _graph_with_an_edge(pilot: Pilot[None]) -> None:
    await settle(pilot)
    pilot.app.screen.post_message(OpenRun(REJECTED_RUN))
    await settle(pilot)
    await pilot.press("g")
    await settle(pilot)
    view = pilot.app.screen.query_one(GraphView)
    for _ in range(len(view.order)):
        if view.describe(view.selected) == ("edge", "coder", "reviewer"):
            break
        await pilot.press("tab")
    await settle(pilot)


def test_graph_tab_rejected_run(snap_compare, demo_db: Path) -> None:
    """The failed run with a rejected draft: the review edge marked, its handoff listed."""
    assert snap_compare(make_app(demo_db), terminal_size=SIZE, run_before=_graph_with_an_edge)
