"""The DuckDB schema: physical tables, the public views, the version and its migration.

Layout (all names below are internal except the views):

- `span_t`: one row per (trace_id, span_id): the raw OTel fields, the columns
  `collector.ingest._dialects` promotes at ingest (model, tokens, cost, agent, errors, …),
  and the per-span facts that need the whole trace (effective agent, error role and
  cause, critical path, billable model call), updated in place for the traces a
  write touches, so the `spans` view is a plain scan (no join).
- `runs_t`, `agents_t`, `handoffs_t`, `errors_t`: per-trace rollups, recomputed for
  the traces a write touches, so the views over them are plain scans.
- `model_prices`, `model_price_aliases`: litellm's bundled price map.
- `hoptrace_meta`: key/value, holds `schema_version`.

The views (`spans`, `runs`, `agents`, `handoffs`, `llm_calls`, `errors`, `messages`) are the
public SQL API; their column names never change without a version bump.
"""

from __future__ import annotations

SCHEMA_VERSION: int = 9
"""Version of the on-disk layout (v1: raw columns only; v2, v3: per-span derived facts
in a separate table; v4: JSON columns stored as JSON, now as text and typed in the views,
which saves DuckDB a JSON parse per column on every insert; v6: `runs.name` is the
run's own name, the root span's name moved to `runs.root_span_name`; v7: `runs.incomplete`,
and the framework dialects of issue 12 re-classify older files' spans; v8: the normalised
messages of model calls, `span_t.messages` and the `messages` view, re-read from older
files' raw attributes; v9: content lineage on the handoff rows, `handoffs.lineage*`,
derived again for older files)."""

OLDEST_MIGRATABLE: int = 1

# (column, DuckDB type) of span_t, in insert order. The Arrow schema of an ingest
# batch is generated from this list (collector.ingest._staging), so the two cannot drift.
_DERIVED_FACTS: tuple[tuple[str, str], ...] = (
    ("agent_name", "VARCHAR"),
    ("agent_span_id", "VARCHAR"),
    ("error_role", "VARCHAR"),
    ("cause_span_id", "VARCHAR"),
    ("on_critical_path", "BOOLEAN"),
    ("critical_path_ms", "DOUBLE"),
    ("is_llm_call", "BOOLEAN"),
)
"""Per-span facts that need the whole trace: the tail of span_t and the derive staging table."""

SPAN_COLUMNS: tuple[tuple[str, str], ...] = (
    # raw OTel
    ("trace_id", "VARCHAR"),
    ("span_id", "VARCHAR"),
    ("parent_span_id", "VARCHAR"),
    ("name", "VARCHAR"),
    ("kind", "VARCHAR"),
    ("start_ns", "BIGINT"),
    ("end_ns", "BIGINT"),
    ("status", "VARCHAR"),
    ("status_message", "VARCHAR"),
    ("attributes", "VARCHAR"),  # JSON text
    ("events", "VARCHAR"),  # JSON text
    ("links", "VARCHAR"),  # JSON text
    ("resource", "VARCHAR"),  # JSON text
    ("scope_name", "VARCHAR"),
    ("scope_version", "VARCHAR"),
    ("pending", "BOOLEAN"),
    ("ingested_ns", "BIGINT"),
    # promoted at ingest (collector.ingest._dialects)
    ("service_name", "VARCHAR"),
    ("span_class", "VARCHAR"),
    ("native", "BOOLEAN"),
    ("operation", "VARCHAR"),
    ("agent_attr", "VARCHAR"),
    ("agent_span_attr", "VARCHAR"),
    ("tool_name", "VARCHAR"),
    ("workflow_name", "VARCHAR"),
    ("conversation_id", "VARCHAR"),
    ("model", "VARCHAR"),
    ("response_model", "VARCHAR"),
    ("provider", "VARCHAR"),
    ("input_tokens", "BIGINT"),
    ("output_tokens", "BIGINT"),
    ("cache_read_tokens", "BIGINT"),
    ("cost_usd", "DOUBLE"),
    ("cost_source", "VARCHAR"),
    ("error_type", "VARCHAR"),
    ("error_message", "VARCHAR"),
    ("exception_stacktrace", "VARCHAR"),
    ("marker_role", "VARCHAR"),
    ("marker_cause", "VARCHAR"),
    ("input_preview", "VARCHAR"),
    ("output_preview", "VARCHAR"),
    ("handoff_from_agent", "VARCHAR"),
    ("handoff_from_span_id", "VARCHAR"),
    ("handoff_to_agent", "VARCHAR"),
    ("handoff_payload", "VARCHAR"),
    ("rejects", "VARCHAR"),  # JSON text
    ("handoff_links", "VARCHAR"),  # JSON text
    ("handoff_events", "VARCHAR"),  # JSON text
    # normalised model-call messages (collector.ingest._messages), once per span
    ("messages", "VARCHAR"),  # JSON text: the rows the `messages` view unnests
    ("input_message_count", "BIGINT"),
    ("output_message_count", "BIGINT"),
    ("first_user_message", "VARCHAR"),
    # derived from the whole trace (collector.derive._trace), NULL until derived
    *_DERIVED_FACTS,
)
SPAN_COLUMN_NAMES: tuple[str, ...] = tuple(c for c, _ in SPAN_COLUMNS)
RAW_COLUMN_NAMES: tuple[str, ...] = SPAN_COLUMN_NAMES[:15]

DERIVED_COLUMNS: tuple[tuple[str, str], ...] = (
    # the staging shape of the derived span_t columns
    ("trace_id", "VARCHAR"),
    ("span_id", "VARCHAR"),
    *_DERIVED_FACTS,
    ("start_ns", "BIGINT"),  # lets writes prune row groups by time (zonemaps)
)
DERIVED_SPAN_COLUMNS: tuple[str, ...] = tuple(c for c, _ in DERIVED_COLUMNS[2:-1])

RUN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("trace_id", "VARCHAR"),
    ("name", "VARCHAR"),  # the run's own name (workflow / root agent)
    ("root_span_name", "VARCHAR"),
    ("service_name", "VARCHAR"),
    ("start_ns", "BIGINT"),
    ("end_ns", "BIGINT"),
    ("status", "VARCHAR"),
    ("span_count", "BIGINT"),
    ("agent_count", "BIGINT"),
    ("llm_calls", "BIGINT"),
    ("input_tokens", "BIGINT"),
    ("output_tokens", "BIGINT"),
    ("cost_usd", "DOUBLE"),
    ("error_count", "BIGINT"),
    ("root_cause_agent", "VARCHAR"),
    ("root_cause_error", "VARCHAR"),
    ("root_span_id", "VARCHAR"),
    ("root_cause_span_id", "VARCHAR"),
    ("root_cause_message", "VARCHAR"),
    ("conversation_id", "VARCHAR"),
    ("critical_path_ms", "DOUBLE"),
    ("pending_spans", "BIGINT"),
    ("attributes", "VARCHAR"),  # JSON text
    ("incomplete", "BOOLEAN"),  # the root span never arrived
)

AGENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("trace_id", "VARCHAR"),
    ("agent_name", "VARCHAR"),
    ("invocations", "BIGINT"),
    ("duration_ms", "DOUBLE"),
    ("critical_path_ms", "DOUBLE"),
    ("critical_path_share", "DOUBLE"),
    ("llm_calls", "BIGINT"),
    ("input_tokens", "BIGINT"),
    ("output_tokens", "BIGINT"),
    ("cost_usd", "DOUBLE"),
    ("inclusive_cost_usd", "DOUBLE"),
    ("error_count", "BIGINT"),
    ("models", "VARCHAR"),
    ("first_start_ns", "BIGINT"),
)

HANDOFF_COLUMNS: tuple[tuple[str, str], ...] = (
    ("trace_id", "VARCHAR"),
    ("from_agent", "VARCHAR"),
    ("to_agent", "VARCHAR"),
    ("kind", "VARCHAR"),
    ("from_span_id", "VARCHAR"),
    ("to_span_id", "VARCHAR"),
    ("start_ns", "BIGINT"),
    ("payload_preview", "VARCHAR"),
    ("argument", "VARCHAR"),
    ("handoff_id", "VARCHAR"),
    # content lineage (collector.derive._lineage): the sender's last model call, the
    # receiver's first, and the sender's reply text found in the receiver's prompt
    ("lineage_from_call", "VARCHAR"),
    ("lineage_to_call", "VARCHAR"),
    ("lineage_text", "VARCHAR"),
)

ERROR_COLUMNS: tuple[tuple[str, str], ...] = (
    ("trace_id", "VARCHAR"),
    ("span_id", "VARCHAR"),
    ("agent_name", "VARCHAR"),
    ("span_name", "VARCHAR"),
    ("error_type", "VARCHAR"),
    ("error_message", "VARCHAR"),
    ("role", "VARCHAR"),
    ("cause_span_id", "VARCHAR"),
    ("start_ns", "BIGINT"),
)

PRICE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("model", "VARCHAR"),
    ("provider", "VARCHAR"),
    ("mode", "VARCHAR"),
    ("input_cost_per_token", "DOUBLE"),
    ("output_cost_per_token", "DOUBLE"),
    ("cache_read_input_token_cost", "DOUBLE"),
    ("max_input_tokens", "BIGINT"),
    ("max_output_tokens", "BIGINT"),
)

DERIVED_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "runs_t": RUN_COLUMNS,
    "agents_t": AGENT_COLUMNS,
    "handoffs_t": HANDOFF_COLUMNS,
    "errors_t": ERROR_COLUMNS,
}


def _create(table: str, cols: tuple[tuple[str, str], ...]) -> str:
    body = ", ".join(f"{c} {t}" for c, t in cols)
    return f"CREATE TABLE IF NOT EXISTS {table} ({body})"


def _ts(col: str) -> str:
    # TIMESTAMP (UTC, microseconds) from Unix nanoseconds
    return f"make_timestamp({col} // 1000)"


_MESSAGE_SHAPE = (
    '[{"direction":"VARCHAR","index":"BIGINT","message_index":"BIGINT","role":"VARCHAR",'
    '"part_type":"VARCHAR","content":"VARCHAR","tool_name":"VARCHAR","tool_call_id":"VARCHAR",'
    '"finish_reason":"VARCHAR"}]'
)

VIEWS: dict[str, str] = {
    "spans": f"""
SELECT s.trace_id, s.span_id, s.parent_span_id, s.name, s.kind, s.service_name,
       {_ts("s.start_ns")} AS start_time, {_ts("s.end_ns")} AS end_time,
       (s.end_ns - s.start_ns) / 1e6 AS duration_ms,
       s.status, s.status_message, s.operation, s.agent_name, s.model, s.provider,
       s.input_tokens, s.output_tokens, s.cost_usd, s.error_type, s.error_message,
       s.pending, s.attributes::JSON AS attributes, s.events::JSON AS events,
       s.links::JSON AS links, s.resource::JSON AS resource,
       s.start_ns, s.end_ns, s.agent_span_id, s.tool_name, s.workflow_name,
       s.conversation_id, s.error_role, s.cause_span_id, s.on_critical_path,
       s.critical_path_ms, s.input_preview, s.output_preview, s.exception_stacktrace,
       s.scope_name, s.scope_version, s.ingested_ns, s.span_class AS hoptrace_kind,
       s.response_model, s.cache_read_tokens, s.cost_source, s.is_llm_call
FROM span_t s
""",
    "runs": f"""
SELECT trace_id, name, root_span_name, service_name, {_ts("start_ns")} AS start_time,
       {_ts("end_ns")} AS end_time, (end_ns - start_ns) / 1e6 AS duration_ms, status,
       span_count, agent_count, llm_calls, input_tokens, output_tokens, cost_usd,
       error_count, root_cause_agent, root_cause_error, start_ns, end_ns, root_span_id,
       root_cause_span_id, root_cause_message, conversation_id, critical_path_ms,
       pending_spans, attributes::JSON AS attributes, incomplete
FROM runs_t
""",
    "agents": """
SELECT trace_id, agent_name, invocations, duration_ms, critical_path_ms, llm_calls,
       input_tokens, output_tokens, cost_usd, inclusive_cost_usd, error_count, models,
       critical_path_share
FROM agents_t
""",
    "handoffs": f"""
SELECT trace_id, from_agent, to_agent, kind, from_span_id, to_span_id,
       {_ts("start_ns")} AS start_time, payload_preview, argument, handoff_id, start_ns,
       lineage_text IS NOT NULL AS lineage, lineage_from_call, lineage_to_call, lineage_text
FROM handoffs_t
""",
    "llm_calls": f"""
SELECT s.trace_id, s.span_id, s.agent_name, s.model, s.provider, {_ts("s.start_ns")} AS start_time,
       (s.end_ns - s.start_ns) / 1e6 AS duration_ms, s.input_tokens, s.output_tokens,
       s.cost_usd, s.status, s.error_type, s.response_model, s.cost_source, s.name AS span_name,
       s.start_ns, s.pending, s.input_message_count, s.output_message_count,
       s.first_user_message
FROM span_t s
WHERE s.is_llm_call
""",
    "messages": f"""
SELECT trace_id, span_id, agent_name, span_class AS hoptrace_kind, model,
       m.direction, m."index", m.message_index, m.role, m.part_type, m.content,
       m.tool_name, m.tool_call_id, m.finish_reason, {_ts("start_ns")} AS start_time, start_ns
FROM (SELECT trace_id, span_id, agent_name, span_class, model, start_ns,
             unnest(from_json(messages, {_MESSAGE_SHAPE!r})) AS m
      FROM span_t WHERE messages IS NOT NULL)
""",
    "errors": f"""
SELECT trace_id, span_id, agent_name, span_name, error_type, error_message, role,
       cause_span_id, {_ts("start_ns")} AS start_time, start_ns
FROM errors_t
""",
}


def ddl() -> list[str]:
    """Statements that create the current schema in an empty (or current) database."""
    stmts = [
        "CREATE TABLE IF NOT EXISTS hoptrace_meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
        _create("span_t", SPAN_COLUMNS),
        *(_create(t, cols) for t, cols in DERIVED_TABLES.items()),
        _create("model_prices", PRICE_COLUMNS),
        "CREATE TABLE IF NOT EXISTS model_price_aliases (alias VARCHAR, model VARCHAR)",
    ]
    stmts += [f"CREATE OR REPLACE VIEW {name} AS {sql}" for name, sql in VIEWS.items()]
    return stmts


VIEW_NAMES: tuple[str, ...] = tuple(VIEWS)
