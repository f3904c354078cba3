"""The SQL console: virtual results at the cap, inline errors, completion, history, open, export."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import pytest
from demo_db import OK_RUN
from textual.message import Message
from textual.pilot import Pilot
from tui_helpers import make_app, of_type, screen_text, settle

from collector.queries import SqlResult
from tui._history import MAX_ENTRIES, History, history_path
from tui.app import HoptraceApp
from tui.messages import SqlFinished
from tui.screens import sql as sql_screen
from tui.screens.run import RunScreen
from tui.screens.span import SpanScreen
from tui.screens.sql import SqlScreen, status_text
from tui.widgets.result_table import ResultTable, export_result, format_row, row_target
from tui.widgets.sql_editor import SqlEditor, complete

SIZE = (140, 36)


async def _console(pilot: Pilot[None]) -> SqlScreen:
    await settle(pilot)
    await pilot.press("colon")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, SqlScreen)
    return screen


async def _run(pilot: Pilot[None], sql: str) -> None:
    editor = pilot.app.screen.query_one(SqlEditor)
    editor.focus()
    editor.value = sql
    await pilot.press("enter")
    await settle(pilot)


def _leftovers(directory: Path) -> list[str]:
    """Temporary files an export left behind (it writes `.name.partial` first)."""
    return [p.name for p in directory.iterdir() if p.name.startswith(".")]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- 1. virtual results at the cap, errors inline ------------------------------------------


async def test_100k_rows_in_the_virtual_table_with_the_cap_on_screen(demo_db: Path) -> None:
    messages: list[Message] = []
    app = make_app(demo_db)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        screen = await _console(pilot)
        assert "first 100,000 rows" in screen_text(pilot)
        await _run(pilot, "SELECT range AS n, 'row ' || range AS label FROM range(150000)")
        [done] = of_type(messages, SqlFinished)
        assert len(done.result.rows) == 100_000
        assert done.result.truncated
        text = screen_text(pilot)
        assert "first 100,000 rows (more exist" in text
        assert "row 0 " in text
        assert "row 99999" not in text
        table = screen.query_one(ResultTable)
        table.focus()
        await pilot.press("end")
        await pilot.pause()
        assert table.cursor == 99_999
        assert "row 99999" in screen_text(pilot)
        await pilot.press("up", "pageup", "home")
        await pilot.pause()
        assert table.cursor == 0
        assert "row 0 " in screen_text(pilot)


async def test_errors_are_inline_in_one_line(demo_db: Path) -> None:
    app = make_app(demo_db)
    async with app.run_test(size=SIZE) as pilot:
        await _console(pilot)
        await _run(pilot, "DELETE FROM span_t")
        text = screen_text(pilot)
        assert "refused: DELETE writes; hoptrace SQL is read-only (SELECT only)" in text
        assert "Traceback" not in text
        await _run(pilot, "SELEC nope")
        assert 'Parser Error: syntax error at or near "SELEC"' in screen_text(pilot)
        assert "refused" not in screen_text(pilot)
        # a good statement clears the error line
        await _run(pilot, "SELECT 1 AS one")
        text = screen_text(pilot)
        assert "Parser Error" not in text
        assert "1 row ·" in text


def test_status_text_says_when_capped() -> None:
    assert status_text(SqlResult(("a",), ((1,),), False), 0.0123) == "1 row · 12 ms"
    capped = SqlResult(("a",), tuple((i,) for i in range(3)), True)
    assert status_text(capped, 0).startswith("first 3 rows (more exist")


# --- 2. highlighting and completion ---------------------------------------------------------


def test_complete_views_and_columns() -> None:
    names = {"runs": ("trace_id", "status", "cost_usd"), "spans": ("trace_id", "span_id")}
    assert complete("SELECT * FROM ru", names) == ("ru", ["runs"])
    # columns of the views the statement mentions; views first
    assert complete("SELECT s FROM spans WHERE s", names)[1] == ["spans", "span_id"]
    assert complete("SELECT s", names)[1] == ["spans", "span_id", "status"]
    assert complete("SELECT runs.c", names) == ("c", ["cost_usd"])
    assert complete("SELECT RUNS.TR", names) == ("TR", ["trace_id"])
    assert complete("SELECT ", names) == ("", [])
    assert complete("SELECT nope.x", names) == ("", [])


async def test_editor_highlights_and_completes_from_the_store(demo_db: Path) -> None:
    app = make_app(demo_db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _console(pilot)
        editor = screen.query_one(SqlEditor)
        assert "critical_path_ms" in editor.names["runs"]
        await pilot.press(*"SELECT root_cause_a")
        assert editor.suggestion == "gent"
        await pilot.press("tab")
        assert editor.text == "SELECT root_cause_agent"
        await pilot.press(*" FROM r")
        assert editor.suggestion == ""  # runs, root_span_id, ...: nothing common to add
        await pilot.press("u")
        assert editor.suggestion == "ns"
        await pilot.press("right")
        assert editor.text == "SELECT root_cause_agent FROM runs"
        await pilot.press(*" WHERE s")
        await pilot.pause()
        # several names: the common part is suggested, the candidates are listed
        assert "spans" in screen_text(pilot)
        assert "status" in screen_text(pilot)
        kinds = {kind for _, _, kind in editor._highlights[0]}
        assert kinds == {"keyword"}
        editor.value = "SELECT 'x', 42 -- note\nFROM runs"
        assert {k for _, _, k in editor._highlights[0]} == {
            "keyword",
            "string",
            "number",
            "comment",
            "operator",
        }
        assert [k for _, _, k in editor._highlights[1]] == ["keyword"]
        # every kind is a style of the editor's theme, so it is coloured, not just recorded
        for kind in ("keyword", "string", "number", "comment", "operator"):
            assert editor._theme.syntax_styles.get(kind) is not None


# --- 3. history across restarts -------------------------------------------------------------


async def test_history_survives_a_restart_and_not_in_the_db(demo_db: Path, tmp_path: Path) -> None:
    before = _sha(demo_db)
    async with make_app(demo_db).run_test(size=SIZE) as pilot:
        await _console(pilot)
        await _run(pilot, "SELECT 1 AS a")
        await _run(pilot, "SELECT 2 AS b")
    assert history_path().parent == tmp_path / "state"
    assert history_path().is_file()
    assert _sha(demo_db) == before
    async with make_app(demo_db).run_test(size=SIZE) as pilot:
        screen = await _console(pilot)
        editor = screen.query_one(SqlEditor)
        await pilot.press("ctrl+up")
        assert editor.text == "SELECT 2 AS b"
        await pilot.press("up")  # on the first line, up recalls too
        assert editor.text == "SELECT 1 AS a"
        await pilot.press("ctrl+up")  # the oldest stays
        assert editor.text == "SELECT 1 AS a"
        await pilot.press("ctrl+down", "down")
        assert editor.text == ""


def test_history_file_rules(tmp_path: Path) -> None:
    path = tmp_path / "h" / "sql_history.jsonl"
    history = History(path)
    for sql in ["SELECT 1", "SELECT 1", "  ", "SELECT\n2"]:
        history.add(sql)
    assert History(path).entries == ["SELECT 1", "SELECT\n2"]
    path.write_text(path.read_text() + '"torn', encoding="utf-8")
    assert History(path).entries == ["SELECT 1", "SELECT\n2"]
    for i in range(MAX_ENTRIES + 5):
        history.add(f"SELECT {i}")
    assert len(History(path).entries) == MAX_ENTRIES
    # an unwritable state dir does not stop the console
    blocked = tmp_path / "file"
    blocked.write_text("")
    stuck = History(blocked / "sql_history.jsonl")
    stuck.add("SELECT 1")
    assert stuck.previous() == "SELECT 1"


# --- 4. enter opens the run or span ---------------------------------------------------------


async def test_enter_on_a_row_opens_its_run_or_span(demo_db: Path) -> None:
    app = make_app(demo_db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _console(pilot)
        await _run(pilot, f"SELECT trace_id, name FROM runs WHERE trace_id = '{OK_RUN}'")
        await pilot.press("tab")  # nothing to complete: on to the results
        assert app.focused is screen.query_one(ResultTable)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RunScreen)
        assert app.screen.trace_id == OK_RUN
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen
        await _run(
            pilot,
            f"SELECT trace_id, span_id FROM spans WHERE trace_id = '{OK_RUN}' ORDER BY start_ns LIMIT 3",
        )
        table = screen.query_one(ResultTable)
        table.focus()
        await pilot.press("down", "enter")
        await settle(pilot)
        assert isinstance(app.screen, SpanScreen)
        assert app.screen.span_id == table.result.rows[1][1]
        await pilot.press("escape")
        await settle(pilot)
        await _run(pilot, "SELECT 1 AS x")
        screen.query_one(ResultTable).focus()
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        assert any("no trace_id" in n.message for n in app._notifications)


def test_format_row_cuts_and_aligns() -> None:
    widths = [5, 4, 4, 4]
    assert format_row(("abcdefg", 7, None, 1.5), widths) == "abcd… │    7 │ NULL │  1.5"
    assert format_row((True, 0.1 + 0.2, "a\nb", ""), widths) == "True  │  0.3 │ a b  │     "


def test_row_target() -> None:
    r = SqlResult(("trace_id", "span_id"), (("t", "s"), ("t", None), (None, "s")), False)
    assert [row_target(r, i) for i in range(4)] == [("t", "s"), ("t", None), None, None]
    assert row_target(SqlResult(("x",), ((1,),), False), 0) is None


# --- 5. export ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["out.csv", "out.parquet"])
async def test_export_writes_the_fetched_rows(demo_db: Path, tmp_path: Path, name: str) -> None:
    before = _sha(demo_db)
    target = tmp_path / name
    app = make_app(demo_db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _console(pilot)
        await _run(pilot, "SELECT trace_id, status, cost_usd FROM runs ORDER BY trace_id")
        rows = screen.query_one(ResultTable).result.rows
        screen.query_one(ResultTable).focus()
        await pilot.press("e")
        prompt = screen.query_one("#sql-export")
        assert prompt.has_focus
        assert "hoptrace-result.csv" in screen_text(pilot)
        prompt.value = str(target)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await settle(pilot)
        assert any(f"wrote 4 rows to {target}" in n.message for n in app._notifications)
    frame = pl.read_csv(target) if name.endswith(".csv") else pl.read_parquet(target)
    assert frame.columns == ["trace_id", "status", "cost_usd"]
    assert [tuple(r) for r in frame.rows()] == [tuple(r) for r in rows]
    assert _leftovers(tmp_path) == []
    assert _sha(demo_db) == before


async def test_export_refuses_an_unknown_format_and_writes_nothing(
    demo_db: Path, tmp_path: Path
) -> None:
    app = make_app(demo_db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _console(pilot)
        await pilot.press("escape")  # no prompt open: leaves
        assert not isinstance(app.screen, SqlScreen)
        screen = await _console(pilot)
        await _run(pilot, "SELECT 1 AS a")
        screen.query_one(ResultTable).focus()
        await pilot.press("e")
        await pilot.press("escape")  # closes the prompt only
        assert app.screen is screen
        await pilot.press("e")
        screen.query_one("#sql-export").value = str(tmp_path / "x.xlsx")  # type: ignore[attr-defined]
        await pilot.press("enter")
        await settle(pilot)
        errors = [n for n in app._notifications if n.severity == "error"]
        assert len(errors) == 1
        assert "export to .csv or .parquet" in errors[0].message
    assert not (tmp_path / "x.xlsx").exists()


def test_export_result_names_duplicate_columns(tmp_path: Path) -> None:
    result = SqlResult(("n", "n", "v"), ((1, 1, None), (2, 2, "x")), False)
    assert export_result(result, tmp_path / "d.parquet") == 2
    assert pl.read_parquet(tmp_path / "d.parquet").columns == ["n", "n_2", "v"]


# --- snapshot -------------------------------------------------------------------------------


def test_console_snapshot(snap_compare, demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A query over the runs, the cursor on a row (the elapsed time held at 0 ms)."""
    monkeypatch.setattr(sql_screen, "elapsed_clock", lambda: 0.0)

    async def run_before(pilot: Pilot[None]) -> None:
        await _console(pilot)
        await _run(
            pilot,
            "SELECT trace_id, name, status, duration_ms, cost_usd FROM runs ORDER BY trace_id",
        )
        pilot.app.screen.query_one(ResultTable).focus()
        await pilot.press("down")
        await pilot.pause()

    app: HoptraceApp = make_app(demo_db)
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
