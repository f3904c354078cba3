"""ClickHouse tables: the OTel Collector's `otel_traces`, hoptrace's derived tables, the views.

- `otel_traces`: exactly the contrib `clickhouseexporter`'s table (its
  internal/sql_templates/traces_table.sql), so a collector fleet and
  `ClickHouseStore.write` write the same rows. hoptrace never alters it.
- `hoptrace_changes`: filled by a materialized view on every insert into `otel_traces`
  (trace id, earliest start in the insert, the insert's time): the derive workers'
  "what changed since my watermark" log, without a column added to the standard table.
- `hoptrace_<table>`: the DuckDB store's tables (`span_t` and the rollups), the same
  columns plus `_version` (the derive pass's time), `_day` (the trace's first day:
  partitions by month, TTL by day) and, for rollups without a natural key, `_n`;
  ReplacingMergeTree(_version), so re-deriving a trace replaces its rows when parts merge.
- `hoptrace_versions`: the latest derived version of each trace, written last by a pass:
  the views show only the rows of that version (a re-derived trace that lost a row, e.g.
  a handoff, shows none of the old ones, merged or not).
- `hoptrace_watermarks`: each worker's (`I/N`) position in the change log.

The views carry the DuckDB views' names and columns; their SQL is the DuckDB views'
(collector.schema.ddl) with the few DuckDB-only spellings translated, so the two
cannot drift apart.
"""

from __future__ import annotations

import json
import re

from collector.schema import DERIVED_TABLES, PRICE_COLUMNS, SPAN_COLUMNS
from collector.schema import ddl as duckdb_ddl

OTEL_TRACES = "otel_traces"
CHANGES = "hoptrace_changes"
VERSIONS = "hoptrace_versions"
WATERMARKS = "hoptrace_watermarks"

# Verbatim from opentelemetry-collector-contrib exporter/clickhouseexporter
# internal/sql_templates/traces_table.sql (engine MergeTree(), no cluster clause).
OTEL_TRACES_DDL = """CREATE TABLE IF NOT EXISTS otel_traces (
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    Links Nested (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1
) ENGINE = MergeTree()
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp))
{ttl}
SETTINGS index_granularity=8192, ttl_only_drop_parts = 1"""

_CH_TYPES = {
    "VARCHAR": "Nullable(String)",
    "BIGINT": "Nullable(Int64)",
    "DOUBLE": "Nullable(Float64)",
    "BOOLEAN": "Nullable(Bool)",
}
# sorting-key columns cannot be Nullable in ClickHouse; the DuckDB store never leaves them NULL
NOT_NULL: dict[str, tuple[str, ...]] = {
    "hoptrace_span_t": ("trace_id", "span_id", "start_ns"),
    "model_prices": ("model",),
    "hoptrace_runs_t": ("trace_id", "start_ns"),
    "hoptrace_agents_t": ("trace_id", "agent_name"),
}

# (ClickHouse table, DuckDB table, columns, sorting key after trace_id)
DERIVED: tuple[tuple[str, str, tuple[tuple[str, str], ...], str], ...] = (
    ("hoptrace_span_t", "span_t", SPAN_COLUMNS, "span_id"),
    *(
        (f"hoptrace_{t}", t, cols, "agent_name" if t == "agents_t" else "_n")
        for t, cols in DERIVED_TABLES.items()
    ),
)


def _columns(cols: tuple[tuple[str, str], ...], table: str) -> str:
    keys = NOT_NULL.get(table, ("trace_id",))
    return ", ".join(
        f"`{c}` {_CH_TYPES[t].removeprefix('Nullable(').removesuffix(')') if c in keys else _CH_TYPES[t]}"
        for c, t in cols
    )


def ddl(ttl_days: int | None = None) -> list[str]:
    """Statements creating every table (idempotent); the views are `view_ddl`'s."""
    otel_ttl = f"TTL toDateTime(Timestamp) + toIntervalDay({ttl_days})" if ttl_days else ""
    ttl = f"TTL _day + toIntervalDay({ttl_days})" if ttl_days else ""
    stmts = [
        OTEL_TRACES_DDL.format(ttl=otel_ttl),
        f"CREATE TABLE IF NOT EXISTS {CHANGES} (trace_id String, min_ns Int64, "
        "ingested_ns Int64) ENGINE = MergeTree ORDER BY ingested_ns "
        + (
            f"TTL toDate(fromUnixTimestamp64Nano(ingested_ns)) + toIntervalDay({ttl_days})"
            if ttl_days
            else ""
        ),
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {CHANGES}_mv TO {CHANGES} AS "
        "SELECT TraceId AS trace_id, min(toUnixTimestamp64Nano(Timestamp)) AS min_ns, "
        f"toUnixTimestamp64Nano(now64(9)) AS ingested_ns FROM {OTEL_TRACES} GROUP BY TraceId",
        f"CREATE TABLE IF NOT EXISTS {VERSIONS} (trace_id String, _version UInt64, _day Date) "
        f"ENGINE = ReplacingMergeTree(_version) ORDER BY trace_id {ttl}",
        f"CREATE TABLE IF NOT EXISTS {WATERMARKS} (worker String, watermark_ns Int64, "
        "_version UInt64) ENGINE = ReplacingMergeTree(_version) ORDER BY worker",
    ]
    # litellm's price map, which insights price model swaps from (ClickHouseStore loads it)
    stmts += [
        f"CREATE TABLE IF NOT EXISTS model_prices ({_columns(PRICE_COLUMNS, 'model_prices')}) "
        "ENGINE = MergeTree ORDER BY model",
        "CREATE TABLE IF NOT EXISTS model_price_aliases (alias String, model String) "
        "ENGINE = MergeTree ORDER BY alias",
    ]
    for table, _, cols, key in DERIVED:
        extra = ", `_n` UInt32" if key == "_n" else ""
        stmts.append(
            f"CREATE TABLE IF NOT EXISTS {table} ({_columns(cols, table)}{extra}, "
            "`_version` UInt64, `_day` Date) ENGINE = ReplacingMergeTree(_version) "
            f"PARTITION BY toYYYYMM(_day) ORDER BY (trace_id, {key}) {ttl}"
        )
        # a newer hoptrace adds columns: an existing store gains them (NULL for old rows)
        keys = NOT_NULL.get(table, ("trace_id",))
        stmts += [
            f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS `{c}` {_CH_TYPES[t]}"
            for c, t in cols
            if c not in keys
        ]
    return stmts


def view_ddl() -> dict[str, str]:
    """`CREATE OR REPLACE VIEW` per view name, and `span_t`: the stored span rows (the
    DuckDB table's name and columns), which a few of hoptrace's queries read for the
    columns the views leave out (rejects)."""
    out = {name: f"CREATE OR REPLACE VIEW {name} AS {sql}" for name, sql in views().items()}
    out["span_t"] = f"CREATE OR REPLACE VIEW span_t AS SELECT * FROM {latest('hoptrace_span_t')}"
    return out


# Tables whose rows a re-derivation replaces but never removes (a trace only gains spans;
# it keeps its one runs row): FINAL alone shows their latest rows, and a query on one
# trace reads it by the sorting key. The others (agents, handoffs, errors) can lose a row
# when a trace is derived again, so they filter by the trace's latest version too.
KEPT_ROWS = frozenset({"hoptrace_span_t", "hoptrace_runs_t"})


def latest(table: str) -> str:
    """The rows of the latest derived version of each trace in `table`."""
    if table in KEPT_ROWS:
        return f"(SELECT * FROM {table} FINAL)"
    return (
        f"(SELECT * FROM {table} FINAL WHERE (trace_id, _version) IN "
        f"(SELECT trace_id, max(_version) FROM {VERSIONS} GROUP BY trace_id))"
    )


_TS = re.compile(r"make_timestamp\(([\w.]+) // 1000\)")
_JSON = re.compile(r"([\w.]+)::JSON")
_VIEW = re.compile(r"CREATE OR REPLACE VIEW (\w+) AS (.*)", re.S)
_UNNEST = re.compile(r"unnest\(from_json\((\w+), '(\[\{.*?\}\])'\)\) AS (\w+)")
_SHAPE_TYPES = {"VARCHAR": "String", "BIGINT": "Int64", "DOUBLE": "Float64", "BOOLEAN": "Bool"}


def _unnest(sql: str) -> str:
    """DuckDB's unnest(from_json(col, '[{shape}]')) AS m, and m.field, in ClickHouse."""
    found = _UNNEST.search(sql)
    if not found:
        return sql
    col, shape, alias = found.group(1), json.loads(found.group(2))[0], found.group(3)
    fields = ", ".join(f"`{k}` Nullable({_SHAPE_TYPES[t]})" for k, t in shape.items())
    sql = sql.replace(
        found.group(0),
        f"arrayJoin(JSONExtract(ifNull({col}, '[]'), 'Array(Tuple({fields}))')) AS {alias}",
    )
    return re.sub(rf'\b{alias}\."?(\w+)"?', rf"tupleElement({alias}, '\1') AS `\1`", sql)


def views() -> dict[str, str]:
    """The DuckDB views' SQL, translated to ClickHouse over the latest derived rows."""
    out = {}
    for stmt in duckdb_ddl():
        found = _VIEW.match(stmt)
        if not found:
            continue
        name, sql = found.group(1), found.group(2)
        ch = _TS.sub(r"fromUnixTimestamp64Micro(intDiv(\1, 1000), 'UTC')", sql)
        ch = _unnest(_JSON.sub(r"\1", ch))
        for table, duck, _, _ in DERIVED:
            ch = re.sub(rf"FROM {duck} s\b", f"FROM {latest(table)} AS s", ch)
            ch = re.sub(rf"FROM {duck}\b", f"FROM {latest(table)} AS {duck}", ch)
        out[name] = ch.strip()
    return out
