"""The TUI's SQL console goes through the `hoptrace sql` guard: a refusal is one line, inline."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from textual.message import Message
from textual.widgets import Label
from tui_helpers import make_app, of_type, screen_text, settle

from tui.messages import SqlFinished
from tui.screens.sql import SqlScreen


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(path: Path) -> list[Path]:
    return list(path.iterdir())


@pytest.fixture
def target(tmp_path: Path) -> Path:
    """The directory a COPY points into: it must stay empty."""
    out = tmp_path / "out"
    out.mkdir()
    return out


async def test_console_refuses_writes_with_the_cli_text(demo_db: Path, target: Path) -> None:
    before = _sha(demo_db)
    messages: list[Message] = []
    app = make_app(demo_db)
    async with app.run_test(size=(140, 36), message_hook=messages.append) as pilot:
        await settle(pilot)
        await pilot.press("colon")
        assert isinstance(app.screen, SqlScreen)
        for n, sql in enumerate(
            [
                "/* note */ DELETE FROM span_t",
                f"COPY spans TO '{target}/x.csv'",
                "USE memory; DETACH hop; DELETE FROM span_t",
            ],
            start=1,
        ):
            app.screen.query_one("#sql-input").value = sql
            await pilot.press("enter")
            await settle(pilot)
            errors = [m for m in app._notifications if m.severity == "error"]
            assert len(errors) == n
            assert "refused" in errors[-1].message
            assert "\n" not in errors[-1].message
            # the same one line inline, under the editor, as `hoptrace sql` prints it
            inline = str(app.screen.query_one("#sql-error", Label).render())
            assert inline.startswith("refused: ")
            assert inline in errors[-1].message
        assert "refused: DELETE writes; hoptrace SQL is read-only (SELECT only)" in (
            next(m for m in app._notifications if m.severity == "error").message
        )
        assert not of_type(messages, SqlFinished)
        assert "Traceback" not in screen_text(pilot)
        # a read still works after the refusals
        app.screen.query_one("#sql-input").value = "/* x */ SELECT count(*) AS n FROM runs"
        await pilot.press("enter")
        await settle(pilot)
        [done] = of_type(messages, SqlFinished)
        assert done.result.rows == ((4,),)
        assert not app.screen.query_one("#sql-error", Label).display
    assert _files(target) == []
    assert _sha(demo_db) == before
