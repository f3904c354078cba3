"""The one-line key bar: shows the focused screen's keys, follows focus, and clicks press keys."""

from __future__ import annotations

from pathlib import Path

from demo_db import OK_RUN
from tui_helpers import make_app, settle

from tui.messages import OpenRun
from tui.screens.help import HelpScreen
from tui.screens.run import RunScreen
from tui.widgets.key_bar import KeyBar


def bar_text(app) -> str:
    return str(app.screen.query_one(KeyBar).render())


async def test_key_bar_lists_the_screen_keys_and_follows_focus(demo_db: Path) -> None:
    app = make_app(demo_db)
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        runs_keys = bar_text(app)
        assert "Open run" in runs_keys
        assert "Help" in runs_keys
        assert "Zoom in" not in runs_keys
        app.screen.post_message(OpenRun(OK_RUN))
        await settle(pilot)
        assert isinstance(app.screen, RunScreen)
        run_keys = bar_text(app)
        assert "Zoom in" in run_keys
        assert "Open run" not in run_keys
        assert run_keys.count("Zoom in") == 1  # "+" and "=" are one entry
        await pilot.press("e")  # the errors view has no zoom keys
        await settle(pilot)
        assert "Zoom in" not in bar_text(app)


async def test_clicking_a_key_presses_it(demo_db: Path) -> None:
    app = make_app(demo_db)
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        bar = app.screen.query_one(KeyBar)
        text = bar_text(app)
        x = text.index("? Help") + 1
        await pilot.click(KeyBar, offset=(x, 0))
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen), bar
