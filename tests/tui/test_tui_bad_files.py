"""`hoptrace tui` on a file it cannot read: a clear one-line error and exit 2, the file untouched."""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import duckdb
import pytest

import tui._cli
import tui._warm
import tui.app
from collector import SpanStore

HOLDER = Path(__file__).parents[1] / "collector" / "collector_holder_proc.py"


class _NoApp:
    """Stands in for HoptraceApp: the UI must not start (and records it if it does)."""

    started: ClassVar[list[Path]] = []

    def __init__(self, db: Path) -> None:
        self.db = db

    def run(self) -> None:
        _NoApp.started.append(self.db)


@pytest.fixture(autouse=True)
def no_app(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    _NoApp.started = []
    monkeypatch.setattr(tui.app, "HoptraceApp", _NoApp)
    return _NoApp.started


def _state(path: Path) -> tuple[str, int, list[str]]:
    """The file's content hash and mtime, and what its directory holds."""
    return (
        hashlib.sha256(path.read_bytes()).hexdigest(),
        path.stat().st_mtime_ns,
        sorted(p.name for p in path.parent.iterdir()),
    )


def _text(path: Path) -> Path:
    path.write_text("these are my notes, not a database\n" * 50)
    return path


def _zero(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def _truncated(path: Path) -> Path:
    whole = path.with_name("whole.duckdb")
    SpanStore(whole)
    data = whole.read_bytes()
    whole.unlink()
    path.write_bytes(data[: len(data) // 3])
    return path


def _foreign(path: Path) -> Path:
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE orders (id INTEGER)")
    con.close()
    return path


BAD_FILES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "text": (_text, "not a DuckDB database file"),
    "zero-byte": (_zero, "empty file, not a hoptrace store"),
    "truncated": (_truncated, "DuckDB cannot read it"),
    "foreign": (_foreign, "not a hoptrace database"),
}


def _run(db: Path) -> int:
    return tui._cli.run(argparse.Namespace(db_path=str(db), db=None))


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_a_bad_file_is_a_clear_error(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_app: list[Path]
) -> None:
    make, reason = BAD_FILES[kind]
    db = make(tmp_path / "t.duckdb")
    before = _state(db)
    assert _run(db) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"hoptrace tui: cannot open {db}: "), err
    assert reason in lines[0]
    assert no_app == []
    assert _state(db) == before  # nothing written, no WAL or other file created


@pytest.mark.slow
def test_a_file_another_process_holds_is_a_clear_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    no_app: list[Path],
) -> None:
    db = tmp_path / "t.duckdb"
    SpanStore(db)
    monkeypatch.setattr(tui._warm, "PROBE_TIMEOUT_S", 0.5)
    holder = subprocess.Popen(
        [sys.executable, str(HOLDER), str(db), "60"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        assert _run(db) == 2
    finally:
        holder.kill()
        holder.wait(timeout=30)
    err = capsys.readouterr().err
    assert err.startswith(f"hoptrace tui: cannot open {db}: another process has held it")
    assert len(err.strip().splitlines()) == 1
    assert no_app == []


def test_a_good_store_opens_the_ui(demo_db: Path, no_app: list[Path]) -> None:
    before = _state(demo_db)
    assert _run(demo_db) == 0
    assert no_app == [demo_db]
    assert _state(demo_db) == before


@pytest.mark.slow
def test_the_command_exits_2_on_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    db = _text(tmp_path / "notes.duckdb")
    before = _state(db)
    proc = subprocess.run(
        [sys.executable, "-m", "hoptrace", "tui", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "TERM": "dumb"},
    )
    assert proc.returncode == 2, proc.stderr
    assert f"hoptrace tui: cannot open {db}: it is not a DuckDB database file" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert _state(db) == before
