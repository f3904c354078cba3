"""Fixtures for the TUI tests: a deterministic demo store (helpers: tui_helpers)."""

from __future__ import annotations

from pathlib import Path

import pytest
from demo_db import build_demo_db


@pytest.fixture
def demo_db(tmp_path: Path) -> Path:
    """A fresh copy of the demo-shaped store."""
    return build_demo_db(tmp_path / "demo.duckdb")
