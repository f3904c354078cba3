"""Fixtures for collector tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Path of a (not yet created) DuckDB file in tmp_path."""
    return tmp_path / "traces.duckdb"
