"""8 producer processes x 10,000 spans into one collector: exactly 80,000 spans stored."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from collector import query

from ._collect_proc import CollectProcess

PRODUCERS = 8
SPANS_EACH = 10_000


@pytest.mark.slow
def test_eight_producers_ten_thousand_spans_each(tmp_path: Path) -> None:
    db = tmp_path / "many.duckdb"
    collect = CollectProcess(db)
    try:
        producer = Path(__file__).with_name("_producer.py")
        procs = [
            subprocess.Popen(
                [sys.executable, str(producer), collect.endpoint, str(i), str(SPANS_EACH)]
            )
            for i in range(PRODUCERS)
        ]
        codes = [p.wait(timeout=300) for p in procs]
        assert codes == [0] * PRODUCERS
        code, err = collect.stop(signal.SIGTERM, timeout=300)
    finally:
        collect.kill()
    assert code == 0, err
    counts = query(
        "SELECT service_name, count(*) AS n, count(DISTINCT span_id) AS d FROM spans GROUP BY 1 ORDER BY 1",
        db=db,
    )
    assert counts["n"].sum() == PRODUCERS * SPANS_EACH
    assert counts["d"].sum() == PRODUCERS * SPANS_EACH
    assert counts["n"].to_list() == [SPANS_EACH] * PRODUCERS
    assert (
        int(query("SELECT count(*) AS n FROM runs", db=db)["n"][0]) == PRODUCERS * SPANS_EACH // 10
    )
