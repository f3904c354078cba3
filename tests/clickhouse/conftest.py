"""ClickHouse tests run on chdb (the embedded engine) and skip, whole, where it is missing.

chdb is large and lives in the optional extra `hoptrace[clickhouse]` (.ci/run installs it
into .venv-ch); the default venv does not have it, so the default run stays fast.
chdb runs one engine per process: every test gets its own database in it instead.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

if importlib.util.find_spec("chdb") is None:
    collect_ignore_glob = ["test_*.py"]
else:
    # the hand-built traces of the DuckDB view tests are the parity cases
    sys.path.insert(0, str(Path(__file__).parent.parent / "collector"))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Path of a (not yet created) DuckDB file in tmp_path."""
    return tmp_path / "traces.duckdb"


@pytest.fixture
def ch_url(tmp_path: Path) -> str:
    """A fresh embedded ClickHouse store for this test."""
    return f"chdb://{tmp_path / 'ch'}"
