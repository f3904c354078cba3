"""`hoptrace tui`: which DB it opens, and a clear error when there is none."""

from __future__ import annotations

from pathlib import Path

import pytest

from hoptrace._cli import build_parser, main
from tui._cli import resolve_db


def test_positional_db_wins_over_flag_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOPTRACE_DB", "/from/env.duckdb")
    parser = build_parser()
    assert resolve_db(parser.parse_args(["tui", "a.duckdb", "--db", "b.duckdb"])) == Path(
        "a.duckdb"
    )
    assert resolve_db(parser.parse_args(["tui", "--db", "b.duckdb"])) == Path("b.duckdb")
    assert resolve_db(parser.parse_args(["tui"])) == Path("/from/env.duckdb")
    monkeypatch.delenv("HOPTRACE_DB")
    assert resolve_db(parser.parse_args(["tui"])) == Path("hoptrace.duckdb")


def test_missing_store_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.duckdb"
    assert main(["tui", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "no trace store at" in err
    assert "hoptrace demo" in err
    assert not missing.exists()  # nothing created
