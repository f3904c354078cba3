"""tracer -> OTLP/HTTP -> `hoptrace collect` -> DuckDB views, in separate processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from collector import query

from ._collect_proc import CollectProcess


@pytest.mark.parametrize("how", ["configure", "env", "env-with-token"])
def test_tracer_spans_arrive_through_the_collector(tmp_path: Path, how: str) -> None:
    db = tmp_path / "e2e.duckdb"
    token = "tok-123 with space"
    collect = CollectProcess(
        db, env={"HOPTRACE_COLLECT_TOKEN": token} if how == "env-with-token" else None
    )
    try:
        assert ("auth: bearer token" in collect.lines[-1]) == (how == "env-with-token")
        base = collect.endpoint.removesuffix("/v1/traces")
        env = {
            k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and k != "HOPTRACE_DB"
        }
        # the producer must not fall back to a DuckDB file of its own
        env["HOPTRACE_DB"] = str(tmp_path / "must-not-exist.duckdb")
        argv = [sys.executable, str(Path(__file__).with_name("_tracer_producer.py"))]
        if how == "configure":
            argv.append(base)
        else:
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = base
        if how == "env-with-token":  # the standard variable, URL-encoded as the OTel spec says
            env["OTEL_EXPORTER_OTLP_HEADERS"] = "Authorization=Bearer%20tok-123%20with%20space"
        proc = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert proc.returncode == 0, proc.stderr
        code, err = collect.stop(signal.SIGTERM)
    finally:
        collect.kill()
    assert code == 0, err
    assert not (tmp_path / "must-not-exist.duckdb").exists()

    runs = query("SELECT * FROM runs ORDER BY start_ns", db=db).to_dicts()
    assert [r["name"] for r in runs] == ["pipeline"] * 3
    assert [r["root_span_name"] for r in runs] == ["invoke_workflow pipeline"] * 3
    for run in runs:
        assert run["status"] == "OK"
        assert run["pending_spans"] == 0  # every pending copy was replaced by its finished span
        assert run["span_count"] == 6
        assert run["agent_count"] == 2
        assert run["llm_calls"] == 2
        assert (run["input_tokens"], run["output_tokens"]) == (320, 70)
        assert run["cost_usd"] > 0
    handoffs = query("SELECT from_agent, to_agent, kind FROM handoffs", db=db).to_dicts()
    assert handoffs == [{"from_agent": "planner", "to_agent": "researcher", "kind": "delegate"}] * 3
    agents = query(
        "SELECT agent_name, sum(llm_calls) AS calls, sum(input_tokens) AS tin FROM agents GROUP BY 1 ORDER BY 1",
        db=db,
    ).to_dicts()
    assert agents == [
        {"agent_name": "planner", "calls": 3, "tin": 600},
        {"agent_name": "researcher", "calls": 3, "tin": 360},
    ]
    services = query("SELECT DISTINCT service_name FROM spans", db=db)["service_name"].to_list()
    assert services == (["tracer-producer"] if how == "configure" else ["hoptrace"])


def test_tracer_without_the_token_stores_nothing(tmp_path: Path) -> None:
    db = tmp_path / "e2e.duckdb"
    collect = CollectProcess(db, env={"HOPTRACE_COLLECT_TOKEN": "right"})
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = collect.endpoint.removesuffix("/v1/traces")
        env["OTEL_EXPORTER_OTLP_HEADERS"] = "Authorization=Bearer%20wrong"
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).with_name("_tracer_producer.py"))],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr  # telemetry failures never break the program
        code, err = collect.stop(signal.SIGTERM)
    finally:
        collect.kill()
    assert code == 0, err
    assert "code: 401" in proc.stderr  # the exporter logged the refusal
    assert "401 missing or wrong bearer token" in err
    assert int(query("SELECT count(*) AS n FROM spans", db=db)["n"][0]) == 0
