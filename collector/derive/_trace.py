"""Facts that need the whole trace, derived in DuckDB for the traces a write touches.

Input: the temp table `_all`, every span of the touched traces (stored ones merged
with the batch), with the span_t columns in `DERIVE_COLUMNS`, and the model calls'
messages the caller looks up for content lineage (collector.derive._lineage). Output:
temp tables `_facts` (per span), `_runs`, `_agents`, `_handoffs`, `_errors`, shaped like
the derived span_t columns and the rollup tables. Set-based SQL, so the cost per span
stays flat however many traces a flush holds; only error roles (a few spans per
failed run) go through Python (collector.derive._error_roles).

Rules (the README's "How the derived columns are computed"):
- Effective agent: an agent span names itself; any other span takes its own
  `gen_ai.agent.name` if set, else the nearest enclosing agent span's name.
- Billable model call (`is_llm_call`): an llm-class span with no llm-class ancestor.
- Critical path: Jaeger's walk from the root: a span's last-finishing child, then
  the child that finished before that one started, and so on, each child clipped
  to its parent. Set-based: a child's successor on the path is the sibling with
  the latest end at or before its start, found with one running count per parent;
  the path is what is reachable from the root through first-child / successor edges.
  Pending spans end "now" (the latest time seen in the trace).
- Orphans (parent not in the trace) are roots of their own subtrees; spans in a
  parent cycle (corrupt ids) become roots too, and neither recursive walk follows a
  row already on its path, so corrupt input cannot make them loop.

Rows are keyed by `_all`'s integer rowid from the first statement on: the walks and
the critical path join on one BIGINT instead of two id strings, which took the
derivation from ~17 to ~6 us a span (bench/store_ingest.py sizes, one 100k write).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from collector.derive._error_roles import derive_errors
from collector.derive._lineage import TEMP as _LINEAGE_TEMP
from collector.derive._lineage import content_lineage
from collector.derive._rollups import HANDOFFS, LINEAGE_EDGES, ROLLUPS
from collector.schema import DERIVED_COLUMNS, DERIVED_TABLES

DERIVE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("trace_id", "VARCHAR"),
    ("span_id", "VARCHAR"),
    ("parent_span_id", "VARCHAR"),
    ("name", "VARCHAR"),
    ("start_ns", "BIGINT"),
    ("end_ns", "BIGINT"),
    ("status", "VARCHAR"),
    ("pending", "BOOLEAN"),
    ("span_class", "VARCHAR"),
    ("native", "BOOLEAN"),
    ("operation", "VARCHAR"),
    ("agent_attr", "VARCHAR"),
    ("agent_span_attr", "VARCHAR"),
    ("workflow_name", "VARCHAR"),
    ("error_type", "VARCHAR"),
    ("error_message", "VARCHAR"),
    ("marker_role", "VARCHAR"),
    ("marker_cause", "VARCHAR"),
    ("rejects", "VARCHAR"),
    ("handoff_links", "VARCHAR"),
    ("handoff_events", "VARCHAR"),
    ("handoff_from_agent", "VARCHAR"),
    ("handoff_from_span_id", "VARCHAR"),
    ("handoff_to_agent", "VARCHAR"),
    ("handoff_payload", "VARCHAR"),
    ("input_tokens", "BIGINT"),
    ("output_tokens", "BIGINT"),
    ("cost_usd", "DOUBLE"),
    ("model", "VARCHAR"),
    ("service_name", "VARCHAR"),
    ("conversation_id", "VARCHAR"),
    ("input_preview", "VARCHAR"),
    ("attributes", "VARCHAR"),  # only needed (and only read) for parentless spans
)
"""The span_t columns derivation reads (`_all` may carry more)."""

_WALK = """
-- what the walk needs, narrow: it is read once per level. Rows are keyed by the
-- integer rowid of `_all` (joins on it are far cheaper than on two id strings);
-- `par` is the parent's rowid, NULL for a root, an orphan or a self-parent.
CREATE OR REPLACE TEMP TABLE _n AS
SELECT a.rowid AS rid, a.trace_id, a.span_class, a.agent_attr, a.start_ns,
       CASE WHEN a.end_ns IS NULL OR coalesce(a.pending, false) THEN t.now ELSE a.end_ns END AS end_eff,
       CASE WHEN a.parent_span_id <> a.span_id THEN p.rid END AS par
FROM _all a
JOIN (SELECT trace_id, max(greatest(start_ns, coalesce(end_ns, 0))) AS now FROM _all GROUP BY trace_id) t
  USING (trace_id)
LEFT JOIN (SELECT trace_id, span_id, min(rowid) AS rid FROM _all GROUP BY ALL) p
  ON p.trace_id = a.trace_id AND p.span_id = a.parent_span_id;

CREATE OR REPLACE TEMP TABLE _w AS
WITH RECURSIVE w AS (
    SELECT rid, span_class AS cls, 0 AS depth,
           CASE WHEN span_class = 'agent' THEN rid END AS agent_rid,
           CASE WHEN span_class = 'agent' THEN agent_attr END AS agent_nm,
           NULL::BIGINT AS outer_rid, NULL::VARCHAR AS outer_nm, false AS in_llm,
           CASE WHEN span_class = 'agent' AND agent_attr IS NOT NULL
                THEN [agent_attr] ELSE []::VARCHAR[] END AS chain,
           []::BIGINT[] AS anc, start_ns AS cs, end_eff AS ce,
           NULL::BIGINT AS pcs, NULL::BIGINT AS pce
    FROM _n WHERE par IS NULL
    UNION ALL
    SELECT c.rid, c.span_class, w.depth + 1,
           CASE WHEN c.span_class = 'agent' THEN c.rid ELSE w.agent_rid END,
           CASE WHEN c.span_class = 'agent' THEN c.agent_attr ELSE w.agent_nm END,
           w.agent_rid, w.agent_nm, w.in_llm OR w.cls = 'llm',
           CASE WHEN c.span_class = 'agent' AND c.agent_attr IS NOT NULL
                THEN list_append(w.chain, c.agent_attr) ELSE w.chain END,
           list_append(w.anc, w.rid), greatest(c.start_ns, w.cs), least(c.end_eff, w.ce),
           w.cs, w.ce
    FROM w JOIN _n c ON c.par = w.rid
    -- a row already on the path means a cycle through repeated ids (corrupt input)
    WHERE NOT list_contains(list_append(w.anc, w.rid), c.rid)
)
SELECT * FROM w
UNION ALL  -- spans in a parent cycle are never reached from a root: they become roots
SELECT n.rid, n.span_class, 0,
       CASE WHEN n.span_class = 'agent' THEN n.rid END,
       CASE WHEN n.span_class = 'agent' THEN n.agent_attr END, NULL, NULL, false,
       CASE WHEN n.span_class = 'agent' AND n.agent_attr IS NOT NULL
            THEN [n.agent_attr] ELSE []::VARCHAR[] END,
       []::BIGINT[], n.start_ns, n.end_eff, NULL, NULL
FROM _n n ANTI JOIN w ON w.rid = n.rid;

CREATE OR REPLACE TEMP TABLE _f AS
SELECT a.*, w.rid, n.end_eff, w.depth, w.anc, w.cs, w.ce, w.pcs, w.pce, w.outer_nm, w.chain,
       CASE WHEN w.depth = 0 THEN NULL ELSE n.par END AS tpar,
       CASE WHEN w.depth = 0 THEN NULL ELSE a.parent_span_id END AS tpar_sid,
       o.span_id AS outer_sid,
       CASE WHEN a.span_class = 'agent' THEN a.agent_attr
            ELSE coalesce(a.agent_attr, w.agent_nm) END AS agent_name,
       CASE WHEN a.span_class = 'agent' THEN a.span_id
            ELSE coalesce(a.agent_span_attr, g.span_id) END AS agent_span_id,
       a.span_class = 'llm' AND NOT w.in_llm AS is_llm
FROM _w w JOIN _all a ON a.rowid = w.rid JOIN _n n ON n.rid = w.rid
LEFT JOIN _all g ON g.rowid = w.agent_rid
LEFT JOIN _all o ON o.rowid = w.outer_rid;

CREATE OR REPLACE TEMP TABLE _root AS
SELECT trace_id, span_id AS root_id, rid AS root_rid FROM _f WHERE tpar IS NULL
QUALIFY row_number() OVER (PARTITION BY trace_id ORDER BY coalesce(parent_span_id, '') <> '',
                                                         start_ns, span_id) = 1;
"""

_CRITICAL_PATH = """
-- children that overlap their parent's window, numbered by end (the walk pops the last)
CREATE OR REPLACE TEMP TABLE _v AS
SELECT rid, tpar AS par, cs, ce,
       row_number() OVER (PARTITION BY tpar ORDER BY end_eff, span_id) AS pos
FROM _f WHERE tpar IS NOT NULL AND start_ns < pce AND ce > pcs;

-- successor of c: the sibling with the highest position among those ending by c's start
-- (ends grow with positions, so they are the first m of them)
CREATE OR REPLACE TEMP TABLE _e AS
WITH probes AS (
    SELECT rid, probe,
           sum(1 - probe) OVER (PARTITION BY par ORDER BY x, probe
                                ROWS UNBOUNDED PRECEDING) AS m
    FROM (SELECT par, rid, ce AS x, 0 AS probe FROM _v
          UNION ALL SELECT par, rid, cs AS x, 1 AS probe FROM _v)
)
SELECT par AS src, rid AS dst FROM _v
QUALIFY pos = max(pos) OVER (PARTITION BY par)
UNION ALL
SELECT v.rid, s.rid
FROM _v v JOIN probes q ON q.probe = 1 AND q.rid = v.rid
JOIN _v s ON s.par = v.par AND s.pos = least(q.m, v.pos - 1);

CREATE OR REPLACE TEMP TABLE _cp AS
WITH RECURSIVE p(rid) AS (
    SELECT root_rid FROM _root
    UNION  -- not ALL: stops even if corrupt ids made the edges cyclic
    SELECT e.dst FROM p JOIN _e e ON e.src = p.rid
),
on_path AS (SELECT f.rid, f.trace_id, f.tpar, f.ce - f.cs AS len FROM _f f SEMI JOIN p USING (rid))
SELECT o.rid, o.trace_id, o.len - coalesce(k.kids, 0) AS own_ns
FROM on_path o LEFT JOIN (SELECT tpar, sum(len) AS kids FROM on_path GROUP BY ALL) k
  ON k.tpar = o.rid;
"""

# the spans error roles need (see collector.derive._error_roles), parents before children
_ERROR_SPANS = """
WITH refs AS (
    SELECT unnest(list_append(anc, rid)) AS rid FROM _f WHERE status = 'ERROR'
    UNION SELECT rid FROM _f WHERE marker_role IS NOT NULL OR rejects IS NOT NULL
    UNION SELECT t.rid FROM _f f JOIN _f t ON t.trace_id = f.trace_id AND t.span_id = f.marker_cause
    UNION SELECT t.rid FROM (
              SELECT trace_id, unnest(json_extract_string(rejects, '$[*].span_id')) AS sid
              FROM _f WHERE rejects IS NOT NULL) r
          JOIN _f t ON t.trace_id = r.trace_id AND t.span_id = r.sid
)
SELECT f.trace_id, f.span_id, f.tpar_sid AS parent, f.name, f.start_ns, f.end_ns, f.status,
       f.marker_role, f.marker_cause, f.error_type, f.error_message, f.rejects, f.agent_name,
       f.span_class AS cls, coalesce(f.native, false) AS native,
       -- the parent went on working after this span ended (a later sibling started)
       coalesce(sib.last_start > f.end_eff, false) AS continued
FROM _f f SEMI JOIN refs USING (rid)
LEFT JOIN (SELECT tpar, max(start_ns) AS last_start FROM _f
           WHERE tpar IS NOT NULL AND span_class IS DISTINCT FROM 'runtime' GROUP BY tpar) sib
  ON sib.tpar = f.tpar
ORDER BY f.trace_id, f.depth, f.start_ns, f.span_id
"""
_ROLE_SCHEMA = pa.schema([(c, pa.string()) for c in
                          ("trace_id", "span_id", "role", "cause", "error_type", "error_message")])  # fmt: skip
_CAUSE_SCHEMA = pa.schema([(c, pa.string()) for c in
                           ("trace_id", "rc_span", "rc_agent", "rc_error", "rc_message")])  # fmt: skip

_TEMP = ("_n", "_w", "_f", "_root", "_v", "_e", "_cp", "_facts", "_runs", "_agents", "_links",
         "_handoffs", "_errors", *_LINEAGE_TEMP)  # fmt: skip


def _run(conn: duckdb.DuckDBPyConnection, script: str) -> None:
    for stmt in script.split(";\n"):
        if stmt.strip():
            conn.execute(stmt)


def derive(conn: duckdb.DuckDBPyConnection, messages: str | None = None) -> None:
    """Derive the temp tables `_facts`, `_runs`, `_agents`, `_handoffs`, `_errors` from `_all`.

    `messages`: SQL of a relation (rid, messages), the `span_t.messages` of the `_all` rows
    listed in the temp table `_lneed` (collector.derive._lineage); None: no content lineage.
    """
    _run(conn, _WALK)
    _run(conn, _CRITICAL_PATH)
    # handoffs and their content lineage first: root cause follows them
    _run(conn, HANDOFFS)
    content_lineage(conn, messages)
    rows = conn.sql(_ERROR_SPANS).to_arrow_table().to_pylist() if _has_errors(conn) else []
    edges = conn.execute(LINEAGE_EDGES).fetchall() if rows else []
    roles, causes = derive_errors(rows, edges)
    conn.register("_roles", _table(roles, _ROLE_SCHEMA))
    conn.register("_causes", _table(causes, _CAUSE_SCHEMA))
    try:
        _run(conn, ROLLUPS)
    finally:
        # in an aborted transaction unregister fails too; the original error matters
        with contextlib.suppress(duckdb.Error):
            conn.unregister("_roles")
            conn.unregister("_causes")


def _has_errors(conn: duckdb.DuckDBPyConnection) -> bool:
    return bool(conn.execute(
        "SELECT EXISTS (SELECT 1 FROM _f WHERE status = 'ERROR' OR marker_role IS NOT NULL "
        "OR rejects IS NOT NULL)"
    ).fetchall()[0][0])  # fmt: skip


def _table(rows: list[tuple[Any, ...]], schema: pa.Schema) -> pa.Table:
    cols: list[tuple[Any, ...]] = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    return pa.table([pa.array(c, pa.string()) for c in cols], schema=schema)


def drop_temp(conn: duckdb.DuckDBPyConnection) -> None:
    """Free the temp tables of the last derivation (they live as long as the connection)."""
    for t in _TEMP:
        conn.execute(f"DROP TABLE IF EXISTS {t}")


# --- one trace, from plain dicts (tests and tools) ----------------------------------


_OWN_MESSAGES = "SELECT rowid AS rid, messages FROM _all WHERE rowid IN (SELECT rid FROM _lneed)"


@dataclass
class TraceFacts:
    """Everything derived for one trace, as rows for the derived tables."""

    span_rows: list[tuple[Any, ...]] = field(default_factory=list)
    run_row: dict[str, Any] = field(default_factory=dict)
    agent_rows: list[dict[str, Any]] = field(default_factory=list)
    handoff_rows: list[dict[str, Any]] = field(default_factory=list)
    error_rows: list[dict[str, Any]] = field(default_factory=list)


def derive_trace(trace_id: str, spans: list[dict[str, Any]]) -> TraceFacts:
    """Derive one trace given as dicts keyed by span_t column (missing keys are NULL)."""
    from collector.ingest import arrow_schema

    facts = TraceFacts()
    if not spans:
        return facts
    schema = arrow_schema(DERIVE_COLUMNS)
    # span_t.messages (normalised JSON rows) is only read for content lineage
    with_messages = any(s.get("messages") is not None for s in spans)
    if with_messages:
        schema = schema.append(pa.field("messages", pa.string()))
    rows = [{c: s.get(c) for c in schema.names} | {"trace_id": trace_id} for s in spans]
    conn = duckdb.connect()
    try:
        conn.register("_input", pa.Table.from_pylist(rows, schema=schema))
        conn.execute("CREATE TEMP TABLE _all AS SELECT * FROM _input")
        derive(conn, _OWN_MESSAGES if with_messages else None)
        cols = ", ".join(c for c, _ in DERIVED_COLUMNS)
        facts.span_rows = conn.execute(f"SELECT {cols} FROM _facts").fetchall()
        table = {t: conn.sql(f"SELECT * FROM _{t.removesuffix('_t')}").to_arrow_table().to_pylist()
                 for t in DERIVED_TABLES}  # fmt: skip
        facts.run_row = table["runs_t"][0] if table["runs_t"] else {}
        facts.agent_rows = table["agents_t"]
        facts.handoff_rows = table["handoffs_t"]
        facts.error_rows = table["errors_t"]
    finally:
        conn.close()
    return facts
