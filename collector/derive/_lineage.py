"""Content lineage of handoffs: which upstream model reply flowed into which downstream prompt.

Computed once per derive pass (issue 13.6) and stored on the handoff rows
(`handoffs_t.lineage_from_call`, `lineage_to_call`, `lineage_text`), so the transcript,
SQL and root cause read one answer instead of recomputing it. Rule (the README's
"How the derived columns are computed", Handoffs):

- Only handoffs with both ends known (`from_span_id` and `to_span_id`).
- The sender's last model call: the llm-class span of the sending agent
  (`agent_span_id = from_span_id`) that started last at or before the handoff (a
  handoff without a time: its last one); ties go to the greater span id.
- The receiver's first model call: the llm-class span made by the receiving span (its
  `agent_span_id`, or a direct child with none) that started first; ties, the smaller id.
- Its prompt: the call's system and input message parts (text, tool calls and results;
  not tool definitions).
- A probe: one text part of the sender's call's output without its leading whitespace,
  its first `LINEAGE_PROBE` characters, without trailing whitespace. Lineage holds when
  a probe of at least `MIN_LINEAGE` characters occurs inside one part of the prompt;
  the lowest-numbered such output part is stored.

Cost: set-based SQL over the pass's handoffs and model calls; messages are read
only for the two calls of each handoff, through a relation the caller supplies (the
store reads the batch or the stored row; `derive_trace` its dicts), never for every
span of the touched traces.
"""

from __future__ import annotations

import duckdb

__all__ = ["LINEAGE_PROBE", "MIN_LINEAGE", "content_lineage"]

LINEAGE_PROBE = 160
"""Characters of the sender's reply looked for in the receiver's prompt (from its start)."""
MIN_LINEAGE = 16
"""A reply shorter than this is too common a text to prove anything."""

# the shape of span_t.messages (collector.ingest._messages), the fields read here
_SHAPE = '[{"direction":"VARCHAR","index":"BIGINT","part_type":"VARCHAR","content":"VARCHAR"}]'
# the whitespace trimmed from a probe (space, tab, newline, CR, VT, FF)
_WS = "chr(32) || chr(9) || chr(10) || chr(13) || chr(11) || chr(12)"

_PAIRS = """
CREATE OR REPLACE TEMP TABLE _lpair AS
WITH h AS (
    SELECT DISTINCT trace_id, from_span_id, to_span_id, start_ns FROM _hand
    WHERE from_span_id IS NOT NULL AND to_span_id IS NOT NULL
),
llm AS MATERIALIZED (
    SELECT trace_id, span_id, rid, start_ns, agent_span_id,
           coalesce(agent_span_id, parent_span_id) AS owner
    FROM _f WHERE span_class = 'llm' AND trace_id IN (SELECT trace_id FROM h)
),
recv AS (
    SELECT h.trace_id, h.to_span_id, arg_min(c.rid, (c.start_ns, c.span_id)) AS to_rid,
           arg_min(c.span_id, (c.start_ns, c.span_id)) AS to_call
    FROM (SELECT DISTINCT trace_id, to_span_id FROM h) h
    JOIN llm c ON c.trace_id = h.trace_id AND c.owner = h.to_span_id
         AND c.span_id <> h.to_span_id
    GROUP BY ALL
),
send AS (
    SELECT h.trace_id, h.from_span_id, h.start_ns,
           arg_max(c.rid, (c.start_ns, c.span_id)) AS from_rid,
           arg_max(c.span_id, (c.start_ns, c.span_id)) AS from_call
    FROM (SELECT DISTINCT trace_id, from_span_id, start_ns FROM h) h
    JOIN llm c ON c.trace_id = h.trace_id AND c.agent_span_id = h.from_span_id
         AND c.start_ns <= coalesce(h.start_ns, c.start_ns)
    GROUP BY ALL
)
SELECT h.trace_id, h.from_span_id, h.to_span_id, h.start_ns, s.from_rid, r.to_rid,
       s.from_call, r.to_call
FROM h
JOIN send s ON s.trace_id = h.trace_id AND s.from_span_id = h.from_span_id
     AND s.start_ns IS NOT DISTINCT FROM h.start_ns
JOIN recv r ON r.trace_id = h.trace_id AND r.to_span_id = h.to_span_id;

CREATE OR REPLACE TEMP TABLE _lneed AS
SELECT from_rid AS rid FROM _lpair UNION SELECT to_rid FROM _lpair
"""

_MATCH = f"""
CREATE OR REPLACE TEMP TABLE _lineage AS
-- each side's messages parsed once, only for the calls that side needs
WITH sent AS (
    SELECT rid, unnest(from_json(messages, '{_SHAPE}')) AS m FROM _lmsg
    WHERE messages IS NOT NULL AND rid IN (SELECT from_rid FROM _lpair)
),
probe AS (
    -- ltrim, cut, then rtrim the cut: DuckDB's rtrim walks the whole string, and
    -- replies are long
    SELECT rid, m."index" AS i,
           rtrim(left(ltrim(m.content, {_WS}), {LINEAGE_PROBE}), {_WS}) AS probe
    FROM sent WHERE m.direction = 'output' AND m.part_type = 'text' AND m.content IS NOT NULL
),
got AS (
    SELECT rid, unnest(from_json(messages, '{_SHAPE}')) AS m FROM _lmsg
    WHERE messages IS NOT NULL AND rid IN (SELECT to_rid FROM _lpair)
),
prompt AS (
    SELECT rid, m.content AS text FROM got
    WHERE m.direction IN ('system', 'input') AND m.part_type IS DISTINCT FROM 'tool_definition'
      AND m.content IS NOT NULL
)
SELECT p.trace_id, p.from_span_id, p.to_span_id, p.start_ns,
       p.from_call AS lineage_from_call, p.to_call AS lineage_to_call,
       arg_min(o.probe, o.i) AS lineage_text
FROM _lpair p
JOIN probe o ON o.rid = p.from_rid AND length(o.probe) >= {MIN_LINEAGE}
JOIN prompt q ON q.rid = p.to_rid AND contains(q.text, o.probe)
GROUP BY ALL;

CREATE OR REPLACE TEMP TABLE _handoffs AS
SELECT h.*, l.lineage_from_call, l.lineage_to_call, l.lineage_text
FROM _hand h
LEFT JOIN _lineage l ON l.trace_id = h.trace_id AND l.from_span_id = h.from_span_id
     AND l.to_span_id = h.to_span_id AND l.start_ns IS NOT DISTINCT FROM h.start_ns
"""

TEMP = ("_hand", "_lpair", "_lneed", "_lmsg", "_lineage")
"""The temp tables this step leaves (dropped with the rest of the pass's)."""


def content_lineage(conn: duckdb.DuckDBPyConnection, messages: str | None) -> None:
    """`_handoffs`: the handoff edges `_hand` with their content lineage columns.

    `messages`: SQL of a relation (rid, messages) giving `span_t.messages` of the `_all`
    rows whose rowid is in the temp table `_lneed`; None when the caller has no
    messages (then no handoff has lineage).
    """
    for stmt in _PAIRS.split(";\n"):
        conn.execute(stmt)
    wanted = (
        messages is not None
        and conn.execute("SELECT EXISTS (SELECT 1 FROM _lneed)").fetchall()[0][0]
    )
    if wanted:
        conn.execute(f"CREATE OR REPLACE TEMP TABLE _lmsg AS {messages}")
    else:
        conn.execute("CREATE OR REPLACE TEMP TABLE _lmsg (rid BIGINT, messages VARCHAR)")
    for stmt in _MATCH.split(";\n"):
        conn.execute(stmt)
