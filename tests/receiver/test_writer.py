"""The receiver's batch hygiene: pending copies superseded within a coalesced write are left out."""

from __future__ import annotations

from collector.ingest import SpanBatch, coalesce, drop_superseded_pending
from collector.store import WriteQueue


def _batch(rows: list[tuple[str, int | None]]) -> SpanBatch:
    batch = SpanBatch()
    for span_id, end in rows:
        batch.add(
            trace_id="a" * 32,
            span_id=span_id,
            parent_span_id=None,
            name=f"s{span_id}",
            kind="INTERNAL",
            start_ns=1,
            end_ns=end,
            status_code="UNSET",
            status_message=None,
            attributes={"hoptrace.pending": True} if end is None else {},
            events=[],
            links=[],
            resource={},
            scope_name=None,
            scope_version=None,
        )
    return batch


def test_pending_copy_is_dropped_only_when_its_finished_span_is_in_the_batch() -> None:
    batch = _batch([("1" * 16, None), ("2" * 16, None), ("1" * 16, 5), ("3" * 16, 7)])
    out, dropped = drop_superseded_pending(batch)
    assert dropped == 1
    assert list(zip(out.span_id, out.end_ns, strict=True)) == [
        ("2" * 16, None),
        ("1" * 16, 5),
        ("3" * 16, 7),
    ]
    assert out.attributes == [{"hoptrace.pending": True}, {}, {}]
    for name in out.__dataclass_fields__:
        assert len(getattr(out, name)) == 3


def test_batches_without_superseded_copies_are_passed_through_untouched() -> None:
    finished = _batch([("1" * 16, 5)])
    assert drop_superseded_pending(finished) == (finished, 0)
    lonely = _batch([("1" * 16, None), ("2" * 16, 3)])
    out, dropped = drop_superseded_pending(lonely)
    assert (out, dropped) == (lonely, 0)


def test_writer_writes_finished_spans_and_accounts_for_dropped_copies() -> None:
    written: list[SpanBatch] = []
    queue: WriteQueue[SpanBatch] = WriteQueue(
        written.append, coalesce=coalesce, size=len, autostart=False
    )
    # a request with the pending copies, then one with the finished spans: coalesced
    for batch in (
        _batch([("1" * 16, None), ("2" * 16, None)]),
        _batch([("1" * 16, 5), ("2" * 16, 6)]),
    ):
        assert queue.put(batch)
    queue.start()
    assert queue.close(10)
    assert [b.end_ns for b in written] == [[5, 6]]
    assert (queue.written_spans, queue.enqueued_spans, queue.dropped_spans) == (4, 4, 0)
