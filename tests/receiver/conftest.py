from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector import SpanStore
from collector.ingest._batch import SpanBatch
from collector.otlp._receiver import Receiver


class ListSink:
    """A stand-in store that keeps written batches in memory (thread-safe)."""

    def __init__(self) -> None:
        self.batches: list[SpanBatch] = []
        self.lock = threading.Lock()

    def write(self, batch: SpanBatch) -> None:
        with self.lock:
            self.batches.append(batch)

    @property
    def spans(self) -> int:
        return sum(len(b) for b in self.batches)


@pytest.fixture
def sink() -> ListSink:
    return ListSink()


@pytest.fixture
def receiver(sink: ListSink) -> Iterator[Receiver]:
    r = Receiver(sink.write, port=0).start()
    yield r
    assert r.stop(10)


@pytest.fixture
def store_receiver(tmp_path: Path) -> Iterator[tuple[Receiver, Path]]:
    db = tmp_path / "frameworks.duckdb"
    store = SpanStore(db)
    receiver = Receiver(store.write, port=0).start()
    yield receiver, db
    assert receiver.stop(30)
