"""ClickHouse tests run on chdb (the embedded engine) and skip, whole, where it is missing.

chdb is large and lives in the optional extra `hoptrace[clickhouse]` (.ci/run installs it
into .venv-ch); the default venv does not have it, so the default run stays fast.
chdb runs one engine per process: every test gets its own database in it instead.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


# the server-path users: `default` (no password, as a stock server) and one with a password
CH_SERVER_USERS = {"default": "", "ann": "s@cret"}


@pytest.fixture(scope="session")
def ch_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A ClickHouse HTTP server on 127.0.0.1 for the session (this process's xdist worker):
    `_http_server.py` in a subprocess, its SQL run by chdb there (see its docstring)."""
    pytest.importorskip("clickhouse_connect")
    from _http_server import start

    server = start(tmp_path_factory.mktemp("ch-server"), CH_SERVER_USERS)
    yield server
    server.stop()


@pytest.fixture
def ch_server_url(ch_server: Any) -> Iterator[str]:
    """`clickhouse://127.0.0.1:PORT/DB`: a database of its own on the session's server."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    ch_server.sql(f"CREATE DATABASE {name}")
    yield ch_server.url(name)
    ch_server.sql(f"DROP DATABASE IF EXISTS {name}")
