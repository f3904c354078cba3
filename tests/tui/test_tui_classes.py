"""The TUI draws the collector's span classes and rejections, whatever dialect the spans used.

OpenInference spans carry no `gen_ai.operation.name`: a TUI with its own copy of the
rules drew their agents and model calls as plain spans.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tui_helpers import make_app, settle

import collector
from collector import SpanBatch, SpanStore
from tui.layout.tree import ICONS, category
from tui.messages import OpenRun
from tui.screens.run import RunScreen
from tui.widgets.waterfall import Waterfall

OI = "openinference.span.kind"
TRACE = "5b8efff798038103d269b633813fc60c"
MS = 1_000_000
T0 = 1_700_000_000_000 * MS


def sid(name: str) -> str:
    return name.encode().hex()[:16].ljust(16, "0")


def add(batch: SpanBatch, span: str, parent: str | None, name: str, start: int, end: int,
        attrs: dict[str, Any] | None = None, scope: str = "openinference") -> None:  # fmt: skip
    batch.add(
        trace_id=TRACE, span_id=sid(span), parent_span_id=sid(parent) if parent else None,
        name=name, kind="INTERNAL", start_ns=T0 + start * MS, end_ns=T0 + end * MS,
        status_code="UNSET", status_message=None, attributes=dict(attrs or {}), events=[],
        links=[], resource={"service.name": "svc"}, scope_name=scope, scope_version=None,
    )  # fmt: skip


def _openinference_run(db: Path) -> None:
    batch = SpanBatch()
    add(batch, "root", None, "Supervisor", 0, 100, attrs={OI: "CHAIN"}, scope="openinference")
    add(batch, "agent", "root", "researcher.run", 5, 90,
        attrs={OI: "AGENT", "agent.name": "researcher"}, scope="openinference")  # fmt: skip
    add(batch, "llm", "agent", "ChatOpenAI", 10, 40,
        attrs={OI: "LLM", "llm.model_name": "gpt-4o-mini"}, scope="openinference")  # fmt: skip
    add(batch, "tool", "agent", "search", 45, 60,
        attrs={OI: "TOOL", "tool.name": "search"}, scope="openinference")  # fmt: skip
    add(batch, "plain", "agent", "format", 61, 62, scope="openinference")
    SpanStore(db).write(batch)


def test_openinference_spans_get_the_collectors_classes(tmp_path: Path) -> None:
    db = tmp_path / "oi.duckdb"
    _openinference_run(db)
    bundle = collector.queries.load_run(db, TRACE)
    cats = {s.span_id: category(s) for s in bundle.spans}
    assert cats == {
        sid("root"): "span",
        sid("agent"): "agent",
        sid("llm"): "llm",
        sid("tool"): "tool",
        sid("plain"): "span",
    }


async def test_the_waterfall_draws_an_openinference_agent_as_an_agent(tmp_path: Path) -> None:
    db = tmp_path / "oi.duckdb"
    _openinference_run(db)
    app = make_app(db)
    async with app.run_test(size=(140, 30)) as pilot:
        await settle(pilot)
        app.screen.post_message(OpenRun(TRACE))
        await settle(pilot)
        assert isinstance(app.screen, RunScreen)
        wf = app.screen.query_one(Waterfall)
        rendered = ["".join(seg.text for seg in wf.render_line(y)) for y in range(len(wf.rows) + 3)]
        lines = {r.span.name: next(t for t in rendered if f" {r.span.name} " in t) for r in wf.rows}
    assert ICONS["agent"] in lines["researcher.run"]
    assert ICONS["llm"] in lines["ChatOpenAI"]
    assert ICONS["tool"] in lines["search"]
    assert ICONS["agent"] not in lines["format"]
