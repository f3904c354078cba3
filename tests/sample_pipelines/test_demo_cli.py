"""`hoptrace demo`: end to end in a subprocess, and its argument errors in-process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hoptrace._cli import main
from sample_pipelines.demo import DemoConfig, fault_for


def test_demo_runs_and_summarises_from_the_store(tmp_path: Path) -> None:
    db = tmp_path / "demo.duckdb"
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "COLUMNS": "160"}
    env.pop("HOPTRACE_DB", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "hoptrace._cli",
            "demo",
            "--runs",
            "6",
            "--seed",
            "5",
            "--fail-rate",
            "0.5",
            "--baseline",
            "--db",
            str(db),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "12/12" in out  # the progress bar: 6 multi-agent + 6 baseline runs
    for heading in ("Runs (from the runs view)", "Cost per agent", "Most common root causes"):
        assert heading in out
    for variant in ("multi_agent", "baseline"):
        assert variant in out
    assert f"hoptrace tui {db}" in out
    assert not (tmp_path / "hoptrace.duckdb").exists()  # --db was honoured

    from collector import query

    runs = query(
        "SELECT json_extract_string(attributes, '$.\"hoptrace.run.variant\"') AS variant, "
        "status, root_cause_agent, "
        "json_extract_string(attributes, '$.\"hoptrace.run.fault_agent\"') AS fault_agent "
        "FROM runs",
        db=db,
    ).to_dicts()
    assert sorted(r["variant"] for r in runs) == ["baseline"] * 6 + ["multi_agent"] * 6
    failed = [r for r in runs if r["status"] == "ERROR"]
    # the summary's per-variant counts are the store's, not the runner's
    assert f"{len(failed)} failed)" in out
    for run in failed:
        assert run["root_cause_agent"] == run["fault_agent"]
        assert run["root_cause_agent"] in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--runs", "0"], "--runs must be at least 1"),
        (["--fail-rate", "1.5"], "--fail-rate must be between 0 and 1"),
        (["--live"], "OPENAI_API_KEY"),
    ],
)
def test_bad_arguments_fail_clearly_and_write_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    db = tmp_path / "x.duckdb"
    assert main(["demo", *argv, "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.startswith("hoptrace demo: error:")
    assert not db.exists()


def test_live_names_every_missing_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    assert main(["demo", "--live", "--db", str(tmp_path / "x.duckdb")]) == 2
    err = capsys.readouterr().err
    assert "ANTHROPIC_API_KEY, GEMINI_API_KEY" in err
    assert "OPENAI_API_KEY" not in err


def test_same_seed_same_faults_other_seed_other_faults() -> None:
    config = DemoConfig(runs=40, seed=3, fail_rate=0.5)
    first = [fault_for(config, i, "multi_agent") for i in range(40)]
    assert first == [fault_for(config, i, "multi_agent") for i in range(40)]
    other = DemoConfig(runs=40, seed=4, fail_rate=0.5)
    assert first != [fault_for(other, i, "multi_agent") for i in range(40)]
    faulty = sum(f.kind != "none" for f in first)
    assert 10 <= faulty <= 30  # about half, as asked
    none = DemoConfig(runs=40, seed=3, fail_rate=0.0)
    assert all(fault_for(none, i, "multi_agent").kind == "none" for i in range(40))


@pytest.mark.parametrize(("flags", "scale"), [([], 0.1), (["--realistic"], 1.0)])
def test_realistic_means_unscaled_latency(flags: list[str], scale: float) -> None:
    from hoptrace._cli import build_parser
    from sample_pipelines._demo_cli import _config

    config = _config(build_parser().parse_args(["demo", "--runs", "3", *flags]))
    assert isinstance(config, DemoConfig)
    assert config.scale == scale
    assert (config.runs, config.seed, config.fail_rate) == (3, 7, 0.3)
