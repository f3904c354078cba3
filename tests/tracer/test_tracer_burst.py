"""The zero-config embedded default loses nothing in a burst (issue 18.5)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tracer import Hoptrace

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
collector = pytest.importorskip("collector")

pytestmark = pytest.mark.slow


def test_a_burst_of_decorated_calls_lands_whole_in_the_default_store(tmp_path: Path) -> None:
    db = tmp_path / "burst.duckdb"
    ht = Hoptrace()
    ht.configure(db=db, set_global_provider=False)

    @ht.tool
    def step(i: int, payload: dict[str, str]) -> int:
        return i

    # back to back from 4 threads, with arguments worth capturing: the span processor's
    # worker gets a fraction of the GIL, far from OTel's 2,048-span queue
    per_thread = 10_000
    payload = {f"k{j}": "v" * 40 for j in range(40)}

    def burst() -> None:
        for i in range(per_thread):
            step(i, payload)

    threads = [threading.Thread(target=burst) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    calls = 4 * per_thread
    assert ht.flush(60_000)
    ht.shutdown()
    with collector.read_connection(db) as conn:
        stored = conn.execute("SELECT count(*) FROM spans WHERE end_ns IS NOT NULL").fetchall()
    assert stored[0][0] == calls
