"""`hoptrace graph` as a user runs it: a subprocess on a store the demo pipeline wrote."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

AGENTS = ("orchestrator", "memory", "researcher", "analyst", "coder", "reviewer")


def hoptrace(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "hoptrace._cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("graph") / "demo.duckdb"
    done = hoptrace("demo", "--runs", "5", "--db", str(db))
    assert done.returncode == 0, done.stderr
    return db


def run_ids(db: Path) -> list[str]:
    done = hoptrace(
        "sql", "--db", str(db), "--format", "csv",
        "SELECT trace_id, status FROM runs ORDER BY status, trace_id",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [line.split(",")[0] for line in done.stdout.splitlines()[1:]]


def test_text_over_every_run_draws_each_agent_and_lists_each_edge(demo: Path) -> None:
    done = hoptrace("graph", "--db", str(demo))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("handoff graph over 5 runs")
    for agent in AGENTS:
        assert f"│ {agent} " in out
    assert "orchestrator → reviewer:" in out
    assert "▼" in out
    edges = out.split("edges:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(edges) >= 6  # a delegation to each specialist, data handoffs between them


def test_one_run_by_prefix_in_mermaid_and_dot(demo: Path) -> None:
    trace_id = run_ids(demo)[0]  # an ERROR run sorts first
    mm = hoptrace("graph", trace_id[:10], "--db", str(demo), "--format", "mermaid")
    assert mm.returncode == 0, mm.stderr
    assert mm.stdout.splitlines()[:2] == [f"%% handoff graph of run {trace_id}", "flowchart TD"]
    assert '["orchestrator<br/>1×' in mm.stdout
    assert "-->" in mm.stdout or "==>" in mm.stdout
    dot = hoptrace("graph", trace_id, "--db", str(demo), "--format", "dot")
    assert dot.returncode == 0, dot.stderr
    assert dot.stdout.splitlines()[1] == "digraph handoffs {"
    assert dot.stdout.rstrip().endswith("}")
    assert dot.stdout.count(" -> ") == mm.stdout.count("-->") + mm.stdout.count("==>")


def test_a_failed_run_marks_the_edge_its_error_crossed(demo: Path) -> None:
    done = hoptrace("sql", "--db", str(demo), "--format", "csv", "SELECT trace_id FROM runs "
                    "WHERE status = 'ERROR' AND root_cause_agent <> 'orchestrator' LIMIT 1")  # fmt: skip
    ids = done.stdout.splitlines()[1:]
    if not ids:
        pytest.skip("the seeded demo has no failed run below the orchestrator")
    out = hoptrace("graph", ids[0], "--db", str(demo)).stdout
    assert "error hop crossed" in out
    assert "✗" in out


def test_unknown_run_and_missing_store_are_one_line_errors(demo: Path, tmp_path: Path) -> None:
    bad = hoptrace("graph", "zzzz", "--db", str(demo))
    assert bad.returncode == 1
    assert bad.stderr.strip() == "hoptrace graph: no run with id 'zzzz'"
    missing = hoptrace("graph", "--db", str(tmp_path / "none.duckdb"))
    assert missing.returncode == 1
    assert missing.stderr.startswith("hoptrace graph: ")
    assert "Traceback" not in missing.stderr
    assert not (tmp_path / "none.duckdb").exists()
