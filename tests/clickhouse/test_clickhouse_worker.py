"""The derive worker on chdb: idempotent, split without overlap or gaps, re-derives grown traces."""

from __future__ import annotations

from collector_helpers import add
from parity import assert_same_views
from test_collector_views import failed_run, recovered_run, rejected_run

from collector import SpanBatch, SpanStore
from collector.clickhouse import ClickHouseStore, derive_pass, watermark
from tracer import semconv as sc


def _trace(n: int) -> SpanBatch:
    """A two-span trace with its own id."""
    b = SpanBatch()
    tid = f"{n:032x}"
    add(b, "root", None, f"invoke_workflow w{n}", 0, 20, trace_id=tid,
        attrs={sc.HOPTRACE_KIND: "workflow"})  # fmt: skip
    add(b, "agent", "root", "invoke_agent a", 1, 19, trace_id=tid,
        attrs={sc.HOPTRACE_KIND: "agent", sc.GEN_AI_AGENT_NAME: "a"})  # fmt: skip
    return b


def _count(ch: ClickHouseStore, sql: str) -> int:
    return int(ch.query(sql).column(0)[0].as_py())


def test_rederiving_replaces_rows(ch_url: str) -> None:
    ch = ClickHouseStore(ch_url)
    for b in (failed_run(), rejected_run(), recovered_run()):
        ch.write(b)
    derive_pass(ch.conn, lag_s=0)
    before = {v: _count(ch, f"SELECT count() FROM {v}") for v in ("spans", "handoffs", "errors")}
    # a later insert of the same spans marks the traces changed: derived again, same rows
    for b in (failed_run(), rejected_run(), recovered_run()):
        ch.write(b)
    assert derive_pass(ch.conn, lag_s=0).traces == 3
    after = {v: _count(ch, f"SELECT count() FROM {v}") for v in ("spans", "handoffs", "errors")}
    assert after == before
    assert before["spans"] == 12
    # two versions are stored until merges collapse them; the views show one
    assert _count(ch, "SELECT count() FROM hoptrace_span_t") in (12, 24)
    assert _count(ch, "SELECT count() FROM runs") == 3


def test_a_pass_with_nothing_new_derives_nothing(ch_url: str) -> None:
    ch = ClickHouseStore(ch_url)
    ch.write(_trace(1))
    assert derive_pass(ch.conn, lag_s=0).traces == 1
    assert derive_pass(ch.conn, lag_s=0).traces == 0
    assert watermark(ch.conn, "0/1") > 0


def test_two_workers_split_traces_without_overlap_or_gaps(ch_url: str) -> None:
    ch = ClickHouseStore(ch_url)
    for n in range(40):
        ch.write(_trace(n))
    first = derive_pass(ch.conn, worker=0, workers=2, lag_s=0)
    second = derive_pass(ch.conn, worker=1, workers=2, lag_s=0)
    assert first.traces + second.traces == 40
    assert first.traces > 0
    assert second.traces > 0
    assert _count(ch, "SELECT count() FROM runs") == 40
    assert _count(ch, "SELECT uniqExact(trace_id) FROM runs") == 40
    # each trace was derived by exactly one of them: one version per trace
    assert _count(ch, "SELECT count() FROM hoptrace_versions") == 40
    shares = ch.query(
        "SELECT cityHash64(trace_id) % 2 AS w, count() AS n FROM runs GROUP BY w ORDER BY w"
    ).to_pylist()
    assert [r["n"] for r in shares] == [first.traces, second.traces]


def test_a_trace_that_grows_is_derived_again(db, ch_url: str) -> None:
    ch = ClickHouseStore(ch_url)
    duck = SpanStore(db)
    tid = "a" * 32
    first = SpanBatch()
    add(first, "agent", "root", "invoke_agent a", 1, 19, trace_id=tid,
        attrs={sc.HOPTRACE_KIND: "agent", sc.GEN_AI_AGENT_NAME: "a"})  # fmt: skip
    ch.write(first)
    duck.write(first)
    derive_pass(ch.conn, lag_s=0)
    assert ch.query("SELECT span_count FROM runs").to_pylist() == [{"span_count": 1}]
    # the root arrives last (it ends last) with the earliest start
    root = SpanBatch()
    add(root, "root", None, "invoke_workflow grown", 0, 20, trace_id=tid, status="ERROR",
        attrs={sc.HOPTRACE_KIND: "workflow", sc.ERROR_TYPE: "ValueError"})  # fmt: skip
    ch.write(root)
    duck.write(root)
    assert derive_pass(ch.conn, lag_s=0).traces == 1
    assert ch.query("SELECT span_count, name, status FROM runs").to_pylist() == [
        {"span_count": 2, "name": "grown", "status": "ERROR"}
    ]
    assert_same_views(db, ch)


def test_lag_leaves_recent_inserts_to_the_next_pass(ch_url: str) -> None:
    ch = ClickHouseStore(ch_url)
    ch.write(_trace(7))
    assert derive_pass(ch.conn, lag_s=3600).traces == 0
    assert derive_pass(ch.conn, lag_s=0).traces == 1


def test_worker_index_must_be_in_range(ch_url: str) -> None:
    import pytest

    ch = ClickHouseStore(ch_url)
    with pytest.raises(ValueError, match=r"not in 0\.\.1"):
        derive_pass(ch.conn, worker=2, workers=2)


def test_rows_written_before_hoptrace_are_found(ch_url: str) -> None:
    """A collector fleet filled otel_traces before hoptrace's tables existed."""
    from collector.clickhouse import batch_to_otel, connect
    from collector.clickhouse._schema import OTEL_TRACES_DDL

    conn = connect(ch_url)
    conn.execute(OTEL_TRACES_DDL.format(ttl=""))
    conn.insert("otel_traces", batch_to_otel(_trace(3)))
    ch = ClickHouseStore(ch_url)
    assert derive_pass(ch.conn, lag_s=0).traces == 1


def test_a_new_worker_count_rederives_everything_once(ch_url: str) -> None:
    ch = ClickHouseStore(ch_url)
    for n in range(10):
        ch.write(_trace(n))
    assert derive_pass(ch.conn, lag_s=0).traces == 10
    # N changes from 1 to 2: the new shares start at zero, derive every trace again, idempotently
    again = [derive_pass(ch.conn, worker=i, workers=2, lag_s=0).traces for i in (0, 1)]
    assert sum(again) == 10
    assert _count(ch, "SELECT count() FROM runs") == 10
    assert _count(ch, "SELECT count() FROM spans") == 20
    assert [derive_pass(ch.conn, worker=i, workers=2, lag_s=0).traces for i in (0, 1)] == [0, 0]
