"""Group comparison: the maths on known numbers, then groups of stored runs."""

from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from collector import SpanBatch, SpanStore
from collector.queries import (
    GroupingError,
    GroupRun,
    compare_groups,
    group_stats,
    groups_compare,
    groups_lines,
    percentile,
)

MS = 1_000_000
DAY1 = 1_768_467_600 * 10**9  # 2026-01-15 09:00 UTC
DAY2 = DAY1 + 86_400 * 10**9


@pytest.mark.parametrize("seed", range(5))
def test_percentile_is_duckdbs_quantile_cont(seed: int) -> None:
    rng = random.Random(seed)
    values = [rng.uniform(0, 5000) for _ in range(rng.randint(1, 60))]
    con = duckdb.connect()
    con.execute("CREATE TABLE v (x DOUBLE)")
    con.executemany("INSERT INTO v VALUES (?)", [[x] for x in values])
    row = con.execute("SELECT quantile_cont(x, 0.5), quantile_cont(x, 0.95) FROM v").fetchone()
    assert row is not None
    p50, p95 = row
    assert percentile(values, 0.5) == pytest.approx(p50)
    assert percentile(values, 0.95) == pytest.approx(p95)
    assert percentile([], 0.5) is None


def test_group_stats_and_the_verdict_on_known_numbers() -> None:
    single = [GroupRun("OK", 100.0, 0.01, 2)] * 3 + [GroupRun("ERROR", 50.0, None, 1)]
    multi = [GroupRun("OK", 300.0, 0.02, 8)] * 4 + [GroupRun("ERROR", 200.0, 0.02, 6)]
    multi += [GroupRun("RUNNING", None, None, 3)]
    a, b = group_stats("single", single), group_stats("multi", multi)
    assert (a.runs, a.finished, a.failed, a.failure_rate) == (4, 4, 1, 0.25)
    assert a.p50_ms == pytest.approx(100.0)
    assert a.cost_per_run_usd == pytest.approx(0.01)  # the unknown cost is not a 0
    assert a.model_calls_per_run == pytest.approx(7 / 4)
    assert (b.runs, b.finished, b.failed, b.failure_rate) == (6, 5, 1, 0.2)  # RUNNING not counted
    assert b.p50_ms == pytest.approx(300.0)
    c = compare_groups("variant", a, b)
    assert c.latency_ratio == pytest.approx(1 / 3)
    assert c.cost_ratio == pytest.approx(0.5)
    assert c.verdict == (
        "single vs multi: 3.0x faster (p50), 0.5x cost, 0.26x model calls, failure rate 25% vs 20%"
    )
    assert compare_groups("variant", b, a).verdict.startswith("multi vs single: 3.0x slower")
    empty = group_stats("none", [])
    assert (empty.p50_ms, empty.failure_rate, empty.cost_per_run_usd) == (None, None, None)
    assert "failure rate n/a vs 25%" in compare_groups("x", empty, a).verdict


def _store(path: Path) -> Path:
    batch = SpanBatch()
    plan = [  # (variant, start, duration ms, status, cost)
        ("baseline", DAY1, 400, "OK", 0.01),
        ("baseline", DAY1 + 10 * MS, 500, "OK", 0.03),
        ("baseline", DAY2, 600, "ERROR", None),
        ("multi_agent", DAY1 + 20 * MS, 1500, "OK", 0.05),
        ("multi_agent", DAY2 + 10 * MS, 1200, "ERROR", 0.04),
        ("multi_agent", DAY2 + 20 * MS, 1800, "OK", 0.06),
        ("multi_agent", DAY2 + 30 * MS, 900, "OK", 0.05),
        ("other", DAY2 + 40 * MS, 10, "OK", 0.0),
    ]
    for i, (variant, start, dur, status, cost) in enumerate(plan):
        trace = f"{i + 1:032x}"
        attrs = {
            "gen_ai.operation.name": "invoke_workflow",
            "hoptrace.kind": "workflow",
            "gen_ai.workflow.name": "team",
            "hoptrace.run.variant": variant,
        }
        root = f"{i + 1:08x}00000001"
        batch.add(trace_id=trace, span_id=root, parent_span_id=None, name="invoke_workflow team",
                  kind="INTERNAL", start_ns=start, end_ns=start + dur * MS, status_code=status,
                  status_message=None, attributes=attrs, events=[], links=[],
                  resource={"service.name": "svc"}, scope_name="hoptrace", scope_version=None)  # fmt: skip
        if cost is not None:
            llm = {"gen_ai.operation.name": "chat", "hoptrace.kind": "llm",
                   "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 10,
                   "gen_ai.usage.output_tokens": 5, "hoptrace.cost_usd": cost}  # fmt: skip
            batch.add(trace_id=trace, span_id=f"{i + 1:08x}00000002", parent_span_id=root,
                      name="chat gpt-4o", kind="CLIENT", start_ns=start + MS,
                      end_ns=start + 2 * MS, status_code="OK", status_message=None,
                      attributes=llm, events=[], links=[], resource={"service.name": "svc"},
                      scope_name="hoptrace", scope_version=None)  # fmt: skip
    SpanStore(path).write(batch)  # nothing stays open between writes
    return path


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return _store(tmp_path / "groups.duckdb")


def test_groups_by_a_run_attribute(store: Path) -> None:
    c = groups_compare(store, "variant", ["baseline", "multi_agent"])
    assert c.grouping == "hoptrace.run.variant"
    assert (c.a.name, c.a.runs, c.a.failed) == ("baseline", 3, 1)
    assert c.a.p50_ms == pytest.approx(500)
    assert c.a.p95_ms == pytest.approx(590)
    assert c.a.cost_per_run_usd == pytest.approx(0.02)
    assert c.a.model_calls_per_run == pytest.approx(2 / 3)
    assert (c.b.runs, c.b.failed) == (4, 1)
    assert c.b.p50_ms == pytest.approx(1350)
    assert c.b.cost_per_run_usd == pytest.approx(0.05)
    assert c.verdict.startswith("baseline vs multi_agent: 2.7x faster (p50), 0.4x cost")
    assert c.others == (("multi_agent", 4), ("baseline", 3), ("other", 1))
    # the full attribute name works too; without --groups the two largest, by name
    d = groups_compare(store, "hoptrace.run.variant")
    assert (d.a.name, d.b.name) == ("baseline", "multi_agent")
    assert "other groups: other (1)" in "\n".join(groups_lines(d))


def test_groups_by_day_by_a_date_split_and_by_a_column(store: Path) -> None:
    by_day = groups_compare(store, "date", ["2026-01-15", "2026-01-16"])
    assert (by_day.a.runs, by_day.b.runs) == (3, 5)
    split = groups_compare(store, split_at=datetime(2026, 1, 16))
    assert (split.a.name, split.a.runs, split.b.name, split.b.runs) == ("before", 3, "after", 5)
    assert (split.a.failed, split.b.failed) == (0, 2)
    status = groups_compare(store, "status", ["ERROR", "OK"])
    assert (status.a.failure_rate, status.b.failure_rate) == (1.0, 0.0)


def test_groupings_that_cannot_be_done_say_why(store: Path) -> None:
    with pytest.raises(GroupingError, match=r"no runs in group 'nope'.*groups: multi_agent"):
        groups_compare(store, "variant", ["baseline", "nope"])
    with pytest.raises(GroupingError, match="need two groups"):
        groups_compare(store, "service_name")
    with pytest.raises(GroupingError, match="exactly two"):
        groups_compare(store, "variant", ["baseline"])
    with pytest.raises(GroupingError, match="found none"):
        groups_compare(store, "no_such_attribute")
    with pytest.raises(GroupingError):
        groups_compare(store)


def test_a_group_larger_than_the_bound_uses_its_newest_runs(store: Path) -> None:
    c = groups_compare(store, "variant", ["multi_agent", "baseline"], max_runs=2)
    assert c.a.truncated
    assert c.a.runs == 2
    assert c.a.p50_ms == pytest.approx(1350)  # the two newest: 1800 and 900
    assert "newest runs only" in "\n".join(groups_lines(c))
