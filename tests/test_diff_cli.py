"""`hoptrace diff` as a subprocess, on the demo's multi-agent and `--baseline` runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ENV = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "COLUMNS": "160"}
ENV.pop("HOPTRACE_DB", None)


def hoptrace(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hoptrace._cli", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=ENV,
        cwd=cwd,
        check=False,
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("diff") / "demo.duckdb"
    done = hoptrace("demo", "--runs", "10", "--baseline", "--db", str(db))
    assert done.returncode == 0, done.stderr
    return db


def sql(db: Path, text: str) -> list[dict[str, Any]]:
    from collector import query

    return query(text, db=db).to_dicts()


VARIANT = "json_extract_string(attributes, '$.\"hoptrace.run.variant\"')"


def test_group_by_variant_matches_the_store_and_says_which_is_faster(demo: Path) -> None:
    done = hoptrace("diff", "--group-by", "variant", "--db", str(demo), "--format", "json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert (out["a"]["name"], out["b"]["name"]) == ("baseline", "multi_agent")
    truth = {
        r["v"]: r
        for r in sql(
            demo,
            f"SELECT {VARIANT} AS v, count(*) AS n, count(*) FILTER (WHERE status = 'ERROR') AS"
            " failed, quantile_cont(duration_ms, 0.5) AS p50, quantile_cont(duration_ms, 0.95)"
            " AS p95, avg(cost_usd) AS cost, avg(llm_calls) AS calls FROM runs GROUP BY 1",
        )
    }
    for side in ("a", "b"):
        got, want = out[side], truth[out[side]["name"]]
        assert (got["runs"], got["failed"]) == (want["n"], want["failed"])
        assert got["p50_ms"] == pytest.approx(want["p50"])
        assert got["p95_ms"] == pytest.approx(want["p95"])
        assert got["cost_per_run_usd"] == pytest.approx(want["cost"])
        assert got["model_calls_per_run"] == pytest.approx(want["calls"])
    # the single model answers in one agent: faster, fewer calls
    assert out["latency_ratio"] < 1
    assert out["calls_ratio"] < 1
    text = hoptrace("diff", "--group-by", "variant", "--db", str(demo))
    assert text.returncode == 0, text.stderr
    verdict = text.stdout.strip().splitlines()[-1]
    assert verdict == out["verdict"]
    assert verdict.startswith("baseline vs multi_agent: ")
    assert "x faster (p50)" in verdict
    assert "failure rate" in verdict


def test_every_failed_run_diverges_from_a_clean_run_where_its_error_started(demo: Path) -> None:
    runs = sql(
        demo,
        f"SELECT trace_id, status, root_cause_agent, root_cause_error, {VARIANT} AS v,"
        " (SELECT count(*) FROM spans s WHERE s.trace_id = r.trace_id"
        "  AND s.error_role IS NOT NULL) AS marked FROM runs r ORDER BY start_ns",
    )
    failed = [r for r in runs if r["status"] == "ERROR"]
    assert failed
    for bad in failed:
        good = next(r for r in runs if r["v"] == bad["v"] and r["marked"] == 0)
        done = hoptrace(
            "diff", good["trace_id"][:12], bad["trace_id"], "--db", str(demo), "--format", "json"
        )
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout)
        div = out["divergence"]
        assert (div["kind"], div["b"]["agent"]) == ("error", bad["root_cause_agent"])
        assert div["b"]["error_type"] == bad["root_cause_error"]
        assert div["a"]["input_preview"]  # both sides' inputs come along
        assert out["a"]["trace_id"] == good["trace_id"]


def test_text_diff_of_a_good_and_a_bad_run(demo: Path) -> None:
    [bad] = sql(demo, "SELECT trace_id, root_cause_agent FROM runs WHERE status = 'ERROR'"
                f" AND {VARIANT} = 'multi_agent' ORDER BY start_ns LIMIT 1")  # fmt: skip
    [good] = sql(demo, f"SELECT trace_id FROM runs WHERE status = 'OK' AND {VARIANT} ="
                 " 'multi_agent' ORDER BY start_ns LIMIT 1")  # fmt: skip
    done = hoptrace("diff", good["trace_id"], bad["trace_id"], "--db", str(demo))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for heading in ("first divergence at hop", "hops (= same", "per agent:", "critical path"):
        assert heading in out
    assert f"B  {bad['trace_id']}" in out
    assert "error started" in out


def test_bad_arguments_exit_2_and_a_missing_store_exits_1(demo: Path, tmp_path: Path) -> None:
    for args, code, message in [
        (("diff", "0" * 32, "f" * 32), 2, "no run with id"),
        (("diff", "onlyone"), 2, "give two run ids"),
        (("diff", "--group-by", "variant", "--groups", "baseline", "nope"), 2, "no runs in group"),
        (("diff", "--group-by", "no_such_attribute"), 2, "need two groups"),
        (("diff", "--split-at", "yesterday"), 2, "--split-at wants a date"),
        (("diff", "a", "b", "--group-by", "variant"), 2, "not both"),
    ]:
        done = hoptrace(*args, "--db", str(demo))
        assert done.returncode == code, (args, done.stderr)
        assert message in done.stderr
        assert "Traceback" not in done.stderr
    done = hoptrace("diff", "a", "b", cwd=tmp_path)  # no --db, no ./hoptrace.duckdb
    assert done.returncode == 1
    assert "no trace store at hoptrace.duckdb" in done.stderr
    assert not (tmp_path / "hoptrace.duckdb").exists()  # nothing created
