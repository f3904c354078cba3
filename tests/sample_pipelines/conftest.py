"""One offline demo batch into a real DuckDB file, shared by the SQL-checking tests."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from sample_pipelines.demo import DemoConfig, RunRecord, run_demo

# fail_rate 0.9 over 24 runs gives every fault kind at least once with this seed
# (test_every_fault_kind_is_exercised checks it, so a change of the draw shows up)
CONFIG = DemoConfig(runs=24, seed=11, fail_rate=0.9, scale=0.01, baseline=True, turns=3)
BATCH = "testbatch"


@dataclass
class DemoDB:
    """The recorded batch: where it is, and what the runner saw."""

    path: Path
    records: list[RunRecord]
    batch: str = BATCH

    def query(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        from collector import query

        return query(sql, db=self.path, params=params or None).to_dicts()


@pytest.fixture(scope="package")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> DemoDB:
    from opentelemetry.sdk.trace import TracerProvider

    import tracer
    from collector import DuckDBSpanExporter
    from tracer.testing import capture_spans

    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    # our own provider, not configure(db=...): in a shared pytest process an earlier
    # configure() may already have installed the global provider, which configure()
    # would reuse (with its own sink) instead of writing to this file
    provider = TracerProvider()
    provider.add_span_processor(tracer.span_processor(DuckDBSpanExporter(db=path)))
    # capture_spans() restores the previous tracer configuration on exit
    with capture_spans():
        tracer.configure(tracer_provider=provider)
        try:
            records = asyncio.run(run_demo(CONFIG, batch=BATCH))
            tracer.flush()
        finally:
            provider.shutdown()
    return DemoDB(path=path, records=records)
