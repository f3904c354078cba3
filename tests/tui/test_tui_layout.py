"""Pure layout maths (tui.layout): no Textual, no DuckDB."""

from __future__ import annotations

from collector.queries import (
    AgentRow,
    ErrorRow,
    HandoffRow,
    RecoveryMark,
    RejectMark,
    RunRow,
    SpanDetail,
    SpanRow,
)
from tui.layout import (
    TimeWindow,
    axis_line,
    bar_cells,
    bar_geometry,
    build_tree,
    category,
    cost_lines,
    cost_table,
    critical_shares,
    error_lines,
    error_paths,
    flatten,
    handoff_targets,
    pan,
    run_extent,
    share_bar,
    zoom,
)
from tui.layout.columns import RUN_COLUMNS, column_at, fit_columns, render_cells, run_cells
from tui.layout.detail import detail_sections, handoff_producers
from tui.layout.fmt import fmt_ago, fmt_cost, fmt_duration, fmt_tokens, truncate

MS = 1_000_000


def span(
    sid: str,
    parent: str | None,
    start: int,
    end: int | None,
    *,
    op: str | None = "invoke_agent",
    agent: str | None = None,
    status: str = "OK",
    role: str | None = None,
    critical: float | None = None,
    agent_span: str | None = None,
) -> SpanRow:
    return SpanRow(
        span_id=sid,
        parent_span_id=parent,
        name=sid,
        operation=op,
        kind=None,
        agent_name=agent or sid,
        start_ns=start * MS,
        end_ns=None if end is None else end * MS,
        status=status,
        pending=end is None,
        error_type="ValueError" if status == "ERROR" else None,
        error_role=role,
        cause_span_id=None,
        on_critical_path=critical is not None,
        critical_path_ms=critical,
        model=None,
        cost_usd=None,
        agent_span_id=agent_span,
        span_class=_CLASS.get(op),  # as the collector classifies hoptrace's own spans
    )


_CLASS = {"invoke_agent": "agent", "chat": "llm", "execute_tool": "tool"}


# trace
#  └- root [0, 100]
#     ├- b [50, 90]
#     │  └- b1 [55, 60]
#     ├- a [10, 40]
#     └- lost-child (parent "gone" missing) [20, 30]   -> orphan root
SPANS = [
    span("root", None, 0, 100),
    span("b", "root", 50, 90),
    span("b1", "b", 55, 60, op="chat", agent="b"),
    span("a", "root", 10, 40),
    span("orphan", "gone", 20, 30),
]


def test_tree_orders_siblings_by_start_and_promotes_orphans() -> None:
    tree = build_tree(SPANS)
    rows = flatten(tree)
    assert [(r.span.span_id, r.depth) for r in rows] == [
        ("root", 0),
        ("a", 1),
        ("b", 1),
        ("b1", 2),
        ("orphan", 0),
    ]
    assert [r.orphan for r in rows] == [False, False, False, False, True]
    assert tree.ancestors("b1") == ["b", "root"]


def test_collapse_hides_descendants_only() -> None:
    rows = flatten(build_tree(SPANS), collapsed={"b", "a"})
    assert [r.span.span_id for r in rows] == ["root", "a", "b", "orphan"]
    by_id = {r.span.span_id: r for r in rows}
    assert by_id["b"].collapsed
    assert by_id["b"].has_children
    # a leaf cannot be collapsed
    assert not by_id["a"].collapsed


def test_parent_cycle_still_shows_every_span() -> None:
    spans = [span("x", "y", 0, 1), span("y", "x", 0, 1), span("r", None, 0, 2)]
    rows = flatten(build_tree(spans))
    assert sorted(r.span.span_id for r in rows) == ["r", "x", "y"]


def test_deep_chain_does_not_recurse() -> None:
    spans = [span("s0", None, 0, 10_000)] + [
        span(f"s{i}", f"s{i - 1}", i, 10_000) for i in range(1, 5000)
    ]
    rows = flatten(build_tree(spans))
    assert rows[-1].depth == 4999


def test_categories_tell_handoffs_apart() -> None:
    handoffs = [HandoffRow("root", "b", "delegate", "root", "b", None)]
    targets = handoff_targets(handoffs)
    assert category(SPANS[0], targets) == "agent"
    assert category(SPANS[1], targets) == "handoff"
    assert category(SPANS[2], targets) == "llm"
    assert category(span("t", None, 0, 1, op="execute_tool"), targets) == "tool"
    assert category(span("w", None, 0, 1, op=None), targets) == "span"


def test_extent_reaches_now_for_pending_spans() -> None:
    spans = [span("r", None, 0, 50), span("p", "r", 10, None)]
    assert run_extent(spans, now_ns=80 * MS) == TimeWindow(0, 80 * MS)
    assert run_extent([], now_ns=5).width_ns > 0


def test_bar_geometry_scales_and_clips() -> None:
    window = TimeWindow(0, 100 * MS)
    assert bar_cells(bar_geometry(0, 100 * MS, window, 10), 10) == "██████████"
    assert bar_cells(bar_geometry(50 * MS, 70 * MS, window, 10), 10) == "     ██   "
    # a 1 ns span still gets one cell
    assert bar_cells(bar_geometry(0, 1, window, 10), 10) == "█         "
    # pending: open-ended to the right edge
    assert bar_cells(bar_geometry(30 * MS, None, window, 10), 10) == "   ▒▒▒▒▒▒▷"
    # clipped both sides by a zoomed window
    zoomed = TimeWindow(20 * MS, 60 * MS)
    assert bar_cells(bar_geometry(0, 100 * MS, zoomed, 8), 8) == "◀██████▶"
    assert bar_geometry(70 * MS, 80 * MS, zoomed, 8) is None
    assert bar_cells(None, 3) == "   "


def test_zoom_and_pan_stay_inside_the_run() -> None:
    extent = TimeWindow(0, 1000 * MS)
    half = zoom(extent, extent, 0.5)
    assert half == TimeWindow(250 * MS, 750 * MS)
    # zooming out never goes past the extent
    assert zoom(half, extent, 10) == extent
    assert pan(half, extent, 1.0) == TimeWindow(500 * MS, 1000 * MS)
    assert pan(half, extent, -5) == TimeWindow(0, 500 * MS)
    # around a point: it stays at the same place on screen
    left = zoom(extent, extent, 0.5, center_ns=0)
    assert left == TimeWindow(0, 500 * MS)
    tiny = zoom(extent, extent, 1e-12)
    assert tiny.width_ns == 1000


def test_axis_labels_are_offsets_from_run_start() -> None:
    extent = TimeWindow(5 * MS, 1005 * MS)
    line = axis_line(extent, extent, 40, every=20)
    assert line.startswith("┊0ms")
    assert "┊500ms" in line
    assert len(line) == 40


# errors fixture, demo-shaped
#  └- orchestrator [0,100] ERROR propagated
#     ├- memory [5,10] OK (recovered from m_err)
#     │  └- m_err [6,7] ERROR origin (tool)
#     ├- coder [10,40] OK  (output rejected by reviewer)
#     └- reviewer [40,90] ERROR propagated (cause coder)
ERR_SPANS = [
    span("orch", None, 0, 100, agent="orchestrator", status="ERROR"),
    span("mem", "orch", 5, 10, agent="memory"),
    span("m_err", "mem", 6, 7, op="execute_tool", agent="memory", status="ERROR", agent_span="mem"),
    span("coder", "orch", 10, 40, agent="coder"),
    span("rev", "orch", 40, 90, agent="reviewer", status="ERROR"),
]
ERRORS = [
    ErrorRow("m_err", "memory", "execute_tool recall", "TimeoutError", "slow", "origin", None, 6),
    ErrorRow("mem", "memory", "invoke_agent memory", None, None, "recovered", "m_err", 5),
    ErrorRow(
        "coder", "coder", "invoke_agent coder", "Rejected", "tests fail", "rejected", None, 10
    ),
    ErrorRow(
        "rev", "reviewer", "invoke_agent reviewer", "ReviewFailed", "no", "propagated", "coder", 40
    ),
    ErrorRow(
        "orch", "orchestrator", "invoke_workflow", "ReviewFailed", "no", "propagated", "coder", 0
    ),
]
HANDOFFS = [
    HandoffRow("orchestrator", "coder", "delegate", "orch", "coder", None),
    HandoffRow("coder", "reviewer", "data", "coder", "rev", "draft"),
    HandoffRow("orchestrator", "reviewer", "delegate", "orch", "rev", None),
]


def test_error_paths_hop_by_hop_with_edges_and_outcomes() -> None:
    tree = build_tree(ERR_SPANS)
    paths = error_paths(
        tree,
        ERRORS,
        HANDOFFS,
        rejections=[RejectMark("rev", "reviewer", "coder", "tests fail")],
        recoveries=[RecoveryMark("mem", "memory", ("m_err",))],
    )
    # the path that failed the run comes first
    assert [p.origin_span_id for p in paths] == ["coder", "m_err"]
    failed, recovered = paths
    assert recovered.outcome == "recovered"
    assert recovered.outcome_text == "recovered by memory"
    assert [h.span_id for h in recovered.hops] == ["m_err"]

    assert failed.outcome == "failed"
    assert [h.span_id for h in failed.hops] == ["coder", "rev", "orch"]
    assert failed.hops[0].role == "rejected"
    assert failed.hops[1].crossed == ("coder → reviewer (data)",)
    assert failed.hops[2].crossed == ("orchestrator → reviewer (delegate)",)


def test_rejection_that_went_no_further() -> None:
    tree = build_tree(ERR_SPANS[:4])
    errors = [ErrorRow("coder", "coder", "c", "Rejected", "meh", "rejected", None, 10)]
    [path] = error_paths(
        tree, errors, rejections=[RejectMark("orch", "orchestrator", "coder", "meh")]
    )
    assert path.outcome == "rejected"
    assert path.outcome_text == "rejected by orchestrator: meh"


def test_propagated_error_with_missing_origin_row_gets_a_path() -> None:
    tree = build_tree(ERR_SPANS)
    errors = [ERRORS[4]]
    [path] = error_paths(tree, errors)
    assert [h.span_id for h in path.hops] == ["coder", "orch"]


def test_error_caught_without_marker_is_absorbed() -> None:
    # a retried model call: the error went no further, nobody marked a recovery
    spans = [span("r", None, 0, 10, agent="o"), span("x", "r", 1, 2, status="ERROR", agent="c")]
    [path] = error_paths(build_tree(spans), [ErrorRow("x", "c", "x", "E", "m", "origin", None, 1)])
    assert path.outcome == "absorbed"
    assert path.outcome_text == "went no further than c"


def test_open_path_while_running() -> None:
    spans = [span("r", None, 0, None, agent="o"), span("x", "r", 1, 2, status="ERROR", agent="c")]
    [path] = error_paths(build_tree(spans), [ErrorRow("x", "c", "x", "E", "m", "origin", None, 1)])
    assert path.outcome == "open"


def agent_row(
    name: str, own: float | None, incl: float | None, calls: int = 1, share: float | None = None
) -> AgentRow:
    return AgentRow(name, 1, 10.0, None, share, calls, 100, 10, own, incl, 0, ("gpt-4o-mini",))


def test_cost_shares_and_unknown_cost() -> None:
    table = cost_table(
        [agent_row("a", 0.25, 1.0), agent_row("b", 0.75, 0.75), agent_row("c", None, None)]
    )
    assert table.total_usd == 1.0
    assert [(c.agent, c.share) for c in table.lines] == [("b", 0.75), ("a", 0.25), ("c", None)]
    assert table.unknown_cost
    assert table.input_tokens == 300
    assert cost_table([agent_row("a", 0.5, 0.5)], run_total_usd=2.0).lines[0].share == 0.25
    assert cost_table([]).total_usd is None


def test_share_bar_eighths() -> None:
    assert share_bar(1.0, 4) == "████"
    assert share_bar(0.5, 4) == "██  "
    assert share_bar(1 / 32, 4) == "▏   "
    assert share_bar(None, 3) == "   "
    assert share_bar(7.0, 2) == "██"


def test_critical_shares_from_view_or_spans() -> None:
    assert critical_shares(
        [agent_row("a", 0, 0, share=0.25), agent_row("b", 0, 0, share=0.75)]
    ) == [
        ("b", 0.75),
        ("a", 0.25),
    ]
    spans = [
        span("r", None, 0, 100, agent="o", critical=20.0),
        span("x", "r", 20, 100, agent="c", critical=80.0),
        span("y", "r", 20, 30, agent="d"),
    ]
    assert critical_shares([], spans) == [("c", 0.8), ("o", 0.2)]


def test_formatting() -> None:
    assert fmt_duration(None) == ""
    assert fmt_duration(0.5) == "500µs"
    assert fmt_duration(850) == "850ms"
    assert fmt_duration(1250) == "1.25s"
    assert fmt_duration(125_000) == "2m05s"
    assert fmt_cost(None) == "n/a"
    assert fmt_cost(0.0012) == "$0.00120"
    assert fmt_cost(0.5) == "$0.5000"
    assert fmt_tokens(12_345) == "12.3k"
    assert fmt_ago(0, 3_700 * 10**9) == "1h ago"
    assert truncate("a\nb  c", 10) == "a b c"
    assert truncate("abcdef", 4) == "abc…"


def run_row(**kw: object) -> RunRow:
    base = dict(
        trace_id="t" * 32, name="research_team", start_ns=0, duration_ms=1250.0,
        status="OK", span_count=3, agent_count=2, llm_calls=1, input_tokens=1000,
        output_tokens=234, cost_usd=0.5, error_count=0, root_cause_agent=None,
        root_cause_error=None, root_cause_message=None, root_cause_span_id=None,
        critical_path_ms=None, pending_spans=0,
    )  # fmt: skip
    base.update(kw)
    return RunRow(**base)  # type: ignore[arg-type]


def test_columns_fill_the_width_and_drop_when_narrow() -> None:
    placed = fit_columns(RUN_COLUMNS, 140)
    assert [p.column.key for p in placed] == [c.key for c in RUN_COLUMNS]
    last = placed[-1]
    assert last.x + last.width == 140
    name = next(p for p in placed if p.column.key == "name")
    cause = next(p for p in placed if p.column.key == "cause")
    assert cause.width - 16 == 2 * (name.width - 14)  # flex 2 : 1
    narrow = fit_columns(RUN_COLUMNS, 60)
    assert narrow[-1].x + narrow[-1].width <= 60
    assert len(narrow) < len(RUN_COLUMNS)
    assert column_at(placed, name.x + 1) == name.column
    assert column_at(placed, 10_000) is None


def test_run_cells_running_duration_and_root_cause() -> None:
    cells = run_cells(run_row(status="RUNNING", duration_ms=None), now_ns=5 * 10**9)
    assert cells["duration"] == "5.00s"
    assert cells["age"] == "5s ago"
    assert cells["name"] == "research_team"
    assert cells["tokens"] == "1.2k"
    failed = run_cells(
        run_row(
            status="ERROR",
            root_cause_agent="coder",
            root_cause_error="Rejected",
            root_cause_message="meh",
        ),
        now_ns=0,
    )
    assert failed["cause"] == "coder: Rejected (meh)"
    line = render_cells(fit_columns(RUN_COLUMNS, 140), failed)
    assert len(line) == 140
    assert "coder: Rejected (meh)" in line


def test_error_lines_hop_by_hop() -> None:
    paths = error_paths(
        build_tree(ERR_SPANS),
        ERRORS,
        HANDOFFS,
        rejections=[RejectMark("rev", "reviewer", "coder", "tests fail")],
        recoveries=[RecoveryMark("mem", "memory", ("m_err",))],
    )
    lines = error_lines(paths, {"coder": "Traceback\n  boom"})
    texts = [line.text for line in lines]
    assert texts[0] == "✗ Path 1: Rejected in coder — run failed at orch"
    assert "✓ Path 2: TimeoutError in memory — recovered by memory" in texts
    assert "      ⊘ output rejected by reviewer: tests fail" in texts
    assert "        Traceback" in texts
    # every hop line stands for its span (enter opens it); edge lines do not
    hop_ids = [line.span_id for line in lines if line.kind.startswith("hop-")]
    assert hop_ids == ["coder", "rev", "orch", "m_err"]
    assert all(line.span_id is None for line in lines if line.kind == "edge")
    assert error_lines([], {})[0].text == "No errors in this run."


def test_cost_lines_table() -> None:
    table = cost_table([agent_row("coder", 0.75, 0.75), agent_row("memory", None, None, calls=0)])
    lines = cost_lines(table, 110)
    assert lines[0].kind == "header"
    assert lines[1].text.startswith("coder")
    assert "100%" in lines[1].text
    assert lines[2].text.split()[1:3] == ["-", "-"]  # no model calls: nothing to price
    assert lines[-1].text.startswith("run total $0.7500")


def test_cost_of_calls_that_all_failed_is_not_an_unknown_price() -> None:
    failed = AgentRow("coder", 1, 10.0, None, None, 3, 0, 0, None, None, 3, ("claude-sonnet-4-5",))
    table = cost_table([agent_row("memory", 0.5, 0.5), failed])
    assert not table.unknown_cost  # no usage was reported, so no price is missing
    row = next(line for line in cost_lines(table, 110) if line.text.startswith("coder"))
    assert row.text.split()[1:3] == ["-", "-"]
    assert not any("price unknown" in line.text for line in cost_lines(table, 110))


def detail(**kw: object) -> SpanDetail:
    base = dict(
        trace_id="t", span_id="s", parent_span_id=None, name="invoke_agent reviewer",
        operation="invoke_agent", agent_name="reviewer", start_ns=0, end_ns=10, duration_ms=0.00001,
        status="ERROR", status_message="boom", error_type="ValueError", error_message="boom",
        error_role="origin", cause_span_id=None, model=None, input_tokens=None, output_tokens=None,
        cost_usd=None, pending=False, input_preview='{"a": 1}', output_preview="not json",
        exception_stacktrace="Traceback\n  line", attributes={"k": "v" * 3000},
        events=[{"name": "exception", "time_ns": 5 * MS, "attributes": {"exception.type": "ValueError"}}],
        links=[{"trace_id": "t", "span_id": "prod", "attributes": {
            "hoptrace.link.type": "handoff", "hoptrace.handoff.kind": "data",
            "hoptrace.handoff.from_agent": "coder"}}],
        handoffs_in=(HandoffRow("orchestrator", "reviewer", "delegate", "orch", "s", None),),
    )  # fmt: skip
    base.update(kw)
    return SpanDetail(**base)  # type: ignore[arg-type]


def test_detail_sections_and_producers() -> None:
    d = detail()
    assert handoff_producers(d) == [
        ("prod", "data from coder"),
        ("orch", "delegate from orchestrator"),
    ]
    sections = dict(detail_sections(d))
    assert list(sections) == [
        "Span", "Handoffs in (p: jump to the producer)", "Exception", "Input", "Output",
        "Attributes", "Events", "Links",
    ]  # fmt: skip
    assert sections["Input"] == '{\n  "a": 1\n}'
    assert sections["Output"] == "not json"
    assert "Traceback\n  line" in sections["Exception"]
    assert "(3000 chars)" in sections["Attributes"]  # huge values are cut
    assert "exception +5ms" in sections["Events"]
    assert handoff_producers(detail(links=[], handoffs_in=())) == []


def test_layout_imports_no_textual() -> None:
    import subprocess
    import sys

    code = "import sys, tui.layout, tui; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
