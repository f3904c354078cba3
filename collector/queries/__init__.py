"""The read side the TUI uses: small typed functions over the public views.

Every query the terminal UI runs lives here, so the SQL sits next to the views it
reads and widgets never build SQL strings. Each function opens its own short
read-only connection through `collector.read_connection`, which is what lets a
pipeline in another process keep writing while the UI reads (the store retries
lock conflicts for us). Functions return plain frozen dataclasses so the layout
maths in `tui.layout` stay testable without DuckDB or Textual.
"""

from __future__ import annotations

from collector.queries._agents_across import (
    AGENT_SORT_KEYS,
    AgentRun,
    AgentSeries,
    AgentStats,
    agent_runs,
    agent_series,
    agents_across,
)
from collector.queries._compare import (
    AgentDelta,
    AgentTotals,
    AlignedHop,
    Divergence,
    Hop,
    RunDiff,
    RunSide,
    align_hops,
    canonical_order,
    diff_runs,
    first_divergence,
)
from collector.queries._compare_groups import (
    GroupComparison,
    GroupingError,
    GroupRun,
    GroupStats,
    compare_groups,
    group_stats,
    groups_compare,
    percentile,
)
from collector.queries._compare_read import compare_runs, previous_turn, read_run_side
from collector.queries._compare_text import (
    diff_json,
    diff_lines,
    groups_json,
    groups_lines,
    hop_label,
)
from collector.queries._console import check_store, sql_console, sql_tokens, view_columns
from collector.queries._conversations import (
    ConversationSummary,
    ConversationTurn,
    conversation_turns,
    conversations,
)
from collector.queries._fmt import fmt_ago, fmt_cost, fmt_duration, fmt_time, fmt_tokens, truncate
from collector.queries._graph import (
    EdgeHandoff,
    GraphEdge,
    GraphNode,
    HandoffGraph,
    edge_handoffs,
    graph_over_runs,
    handoff_graph,
)
from collector.queries._graph_layout import EdgeRoute, GraphGrid, NodeBox, layout_graph, node_lines
from collector.queries._insights import compute_insights, insights
from collector.queries._insights_dag import Schedule, TimedSpan, replay
from collector.queries._insights_model import (
    Insight,
    InsightEvidence,
    InsightHandoff,
    InsightReport,
    InsightRun,
    InsightSpan,
    ModelPrice,
)
from collector.queries._messages import (
    ContentLineage,
    MessageRow,
    ModelCallRow,
    SpanConversation,
    span_conversation,
)
from collector.queries._read import DB, Reader, reader
from collector.queries._run import load_run, span_detail
from collector.queries._runs import (
    RUN_SORT_KEYS,
    RunNotFoundError,
    max_ingested_ns,
    resolve_run_id,
    run_index,
    runs_count,
    runs_page,
)
from collector.queries._types import (
    AgentRow,
    ErrorRow,
    HandoffRow,
    RecoveryMark,
    RejectMark,
    RunBundle,
    RunFilter,
    RunRow,
    RunSort,
    SpanDetail,
    SpanRow,
    SqlResult,
)

__all__ = [
    "AGENT_SORT_KEYS",
    "DB",
    "RUN_SORT_KEYS",
    "AgentDelta",
    "AgentRow",
    "AgentRun",
    "AgentSeries",
    "AgentStats",
    "AgentTotals",
    "AlignedHop",
    "ContentLineage",
    "ConversationSummary",
    "ConversationTurn",
    "Divergence",
    "EdgeHandoff",
    "EdgeRoute",
    "ErrorRow",
    "GraphEdge",
    "GraphGrid",
    "GraphNode",
    "GroupComparison",
    "GroupRun",
    "GroupStats",
    "GroupingError",
    "HandoffGraph",
    "HandoffRow",
    "Hop",
    "Insight",
    "InsightEvidence",
    "InsightHandoff",
    "InsightReport",
    "InsightRun",
    "InsightSpan",
    "MessageRow",
    "ModelCallRow",
    "ModelPrice",
    "NodeBox",
    "Reader",
    "RecoveryMark",
    "RejectMark",
    "RunBundle",
    "RunDiff",
    "RunFilter",
    "RunNotFoundError",
    "RunRow",
    "RunSide",
    "RunSort",
    "Schedule",
    "SpanConversation",
    "SpanDetail",
    "SpanRow",
    "SqlResult",
    "TimedSpan",
    "agent_runs",
    "agent_series",
    "agents_across",
    "align_hops",
    "canonical_order",
    "check_store",
    "compare_groups",
    "compare_runs",
    "compute_insights",
    "conversation_turns",
    "conversations",
    "diff_json",
    "diff_lines",
    "diff_runs",
    "edge_handoffs",
    "first_divergence",
    "fmt_ago",
    "fmt_cost",
    "fmt_duration",
    "fmt_time",
    "fmt_tokens",
    "graph_over_runs",
    "group_stats",
    "groups_compare",
    "groups_json",
    "groups_lines",
    "handoff_graph",
    "hop_label",
    "insights",
    "layout_graph",
    "load_run",
    "max_ingested_ns",
    "node_lines",
    "percentile",
    "previous_turn",
    "read_run_side",
    "reader",
    "replay",
    "resolve_run_id",
    "run_index",
    "runs_count",
    "runs_page",
    "span_conversation",
    "span_detail",
    "sql_console",
    "sql_tokens",
    "truncate",
    "view_columns",
]
