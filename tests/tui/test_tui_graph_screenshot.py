"""`ctrl+s` saves an SVG of the current screen into the working directory and says where."""

from __future__ import annotations

from pathlib import Path

import pytest
from demo_db import OK_RUN
from tui_helpers import make_app, screen_text, settle

from tui.messages import OpenRun


async def test_ctrl_s_saves_the_screen_as_svg_in_the_working_directory(
    demo_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    app = make_app(demo_db)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        app.screen.post_message(OpenRun(OK_RUN))
        await settle(pilot)
        await pilot.press("ctrl+s")
        await pilot.pause()
        saved = list(work.glob("*.svg"))
        assert len(saved) == 1
        svg = saved[0].read_text(encoding="utf-8")
        assert svg.lstrip().startswith("<svg")
        assert "orchestrator" in svg  # the run screen, not the runs list
        notes = [n.message for n in app._notifications]
        assert any(str(saved[0]) in m and m.startswith("Screenshot saved to") for m in notes)


async def test_the_screenshot_key_is_listed_in_help(demo_db: Path) -> None:
    app = make_app(demo_db)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert "ctrl+s  Save an SVG screenshot" in screen_text(pilot)
