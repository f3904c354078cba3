"""Fixtures for the TUI tests: a deterministic demo store (helpers: tui_helpers)."""

from __future__ import annotations

from pathlib import Path

import pytest
from demo_db import build_demo_db


@pytest.fixture
def demo_db(tmp_path: Path) -> Path:
    """A fresh copy of the demo-shaped store."""
    return build_demo_db(tmp_path / "demo.duckdb")


@pytest.fixture(autouse=True)
def _state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The SQL console's history goes to a temporary state dir, never the user's."""
    state = tmp_path / "state"
    monkeypatch.setenv("HOPTRACE_STATE_DIR", str(state))
    return state
