"""The one write queue both ingest paths feed: its retry, back-pressure, drop and spool policy."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import collector
from collector.ingest import SpanBatch, coalesce
from collector.otlp import Receiver
from collector.store import Spool, StoreBusyError, WriteQueue


def _batch(n: int, tag: str = "a") -> SpanBatch:
    batch = SpanBatch()
    for i in range(n):
        batch.add(
            trace_id=tag * 32, span_id=f"{i:016x}", parent_span_id=None, name=f"s{i}",
            kind="INTERNAL", start_ns=1, end_ns=2, status_code="UNSET", status_message=None,
            attributes={}, events=[], links=[], resource={}, scope_name=None, scope_version=None,
        )  # fmt: skip
    return batch


def _queue(write, **kw) -> WriteQueue[SpanBatch]:
    kw.setdefault("retry_delay", 0.01)
    return WriteQueue(write, coalesce=coalesce, size=len, **kw)


def test_both_ingest_paths_feed_the_one_write_queue(tmp_path: Path) -> None:
    exporter = collector.DuckDBSpanExporter(tmp_path / "t.duckdb", writer_process=False)
    receiver = Receiver(lambda b: None, port=0)
    try:
        assert isinstance(exporter._queue, WriteQueue)
        assert isinstance(receiver.queue, WriteQueue)
    finally:
        exporter.shutdown()
        receiver.stop(5)


def test_a_transient_failure_is_retried_until_it_passes_and_pushes_back_meanwhile() -> None:
    fail = threading.Event()
    fail.set()
    written: list[int] = []

    def write(batch: SpanBatch) -> None:
        if fail.is_set():
            raise StoreBusyError("the file stayed locked by another process")
        written.append(len(batch))

    q = _queue(write, max_spans=10)
    assert q.put(_batch(4))
    time.sleep(0.3)  # many failed tries, all backed off; nothing is dropped
    assert q.put(_batch(4, "b"))
    assert q.put(_batch(4, "c")) is False  # full: the refusal is the sender's signal
    assert q.refused_spans == 4
    assert q.flush(5) is False  # a write failed after the flush asked: spans kept
    fail.clear()
    assert q.flush(5) is True
    assert q.close(5)
    assert sum(written) == 8
    assert (q.written_spans, q.dropped_spans) == (8, 0)


def test_a_batch_the_store_refuses_is_dropped_alone_after_three_tries() -> None:
    gate = threading.Event()
    calls: list[int] = []

    def write(batch: SpanBatch) -> None:
        gate.wait(5)
        calls.append(len(batch))
        if "b" * 32 in batch.trace_id:
            raise ValueError("refused")

    q = _queue(write)
    q.put(_batch(1, "0"))  # held in the write while the next three queue up
    time.sleep(0.1)
    for tag, n in (("a", 2), ("b", 3), ("c", 4)):
        assert q.put(_batch(n, tag))
    gate.set()
    assert q.close(10)
    # the coalesced write is refused, then batch by batch: b three times, a and c once
    assert calls[0] == 1
    assert calls[1] == 9
    assert sorted(calls[2:]) == [2, 3, 3, 3, 4]
    assert (q.written_spans, q.dropped_spans) == (7, 3)


def test_put_with_a_wait_takes_the_room_the_writer_makes() -> None:
    gate = threading.Event()
    q = _queue(lambda b: gate.wait(5), max_spans=4)
    assert q.put(_batch(4))
    time.sleep(0.1)  # taken: being written
    assert q.put(_batch(4, "b"))
    started = time.monotonic()
    assert q.put(_batch(4, "c"), wait=0.2) is False  # no room within the wait
    assert time.monotonic() - started >= 0.19
    threading.Timer(0.2, gate.set).start()
    assert q.put(_batch(4, "c"), wait=5) is True
    assert q.close(5)
    assert q.written_spans == 12


def test_a_close_that_times_out_counts_what_it_abandons() -> None:
    def write(batch: SpanBatch) -> None:
        raise OSError(28, "No space left on device")

    q = _queue(write)
    q.put(_batch(5))
    assert q.close(0.3) is False
    assert q.dropped_spans == 5
    assert q.unwritten_spans == 0


def test_the_spool_keeps_what_is_not_committed_and_replays_it(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    written: list[int] = []

    def write(batch: SpanBatch) -> None:
        if "b" * 32 in batch.trace_id:
            raise ValueError("refused")
        written.append(len(batch))

    q = _queue(write, spool=spool)
    assert q.put(_batch(2), raw=b"first")
    assert q.put(_batch(3, "b"), raw=b"second")
    assert q.close(10)
    assert written == [2]
    assert q.dropped_spans == 3
    assert spool.pending() == 1  # the refused request stays on disk
    spool.close()

    replayed: list[bytes] = []
    again = _queue(written.append, spool=Spool(tmp_path / "spool"))

    def decode(kind: str, raw: bytes) -> SpanBatch:
        replayed.append(raw)
        return _batch(3, "d")

    again.start(replay=decode)
    # records share a segment, which goes only once all are released: "first" comes
    # again too (writes are idempotent upserts)
    assert replayed[-1] == b"second"
    assert again.close(5)
    assert again.spool is not None
    again.spool.close()
    assert Spool(tmp_path / "spool").replay(lambda kind, raw: replayed.append(raw)) == (0, 0)


def test_a_transient_failure_during_replay_is_waited_out_not_moved_to_failed(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path / "spool")
    spool.append(b"acknowledged", "protobuf")
    spool.close()
    tries: list[int] = []

    def write(batch: SpanBatch) -> None:
        tries.append(len(batch))
        if len(tries) < 4:
            raise OSError(28, "No space left on device")

    q = _queue(write, spool=Spool(tmp_path / "spool"))
    q.start(replay=lambda kind, raw: _batch(2))
    assert tries == [2, 2, 2, 2]
    assert not (tmp_path / "spool" / "failed").exists()
    assert q.close(5)
