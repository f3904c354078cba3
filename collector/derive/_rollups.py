"""The per-trace rollups of a derive pass, from the walk's temp tables (`_f`, `_cp`, `_roles`,
`_causes`): `_facts` (per span), `_runs`, `_agents` and `_errors`, shaped like the derived
span_t columns and the rollup tables; and, before error roles (root cause follows them),
the handoff edges `_hand` that collector.derive._lineage turns into `_handoffs`."""

from __future__ import annotations

from tracer import semconv as sc

__all__ = ["HANDOFFS", "LINEAGE_EDGES", "ROLLUPS"]

# the handoffs root cause follows (see collector.derive._error_roles), in the traces with a
# rejection: data handoffs, and any handoff whose receiver's first prompt holds the sender's
# last model reply (content lineage, collector.derive._lineage), as
# (trace_id, receiving span, producing span)
LINEAGE_EDGES = f"""
SELECT DISTINCT trace_id, to_span_id, from_span_id
FROM _handoffs
WHERE from_span_id IS NOT NULL AND to_span_id IS NOT NULL
  AND (kind = '{sc.KIND_DATA}' OR lineage_text IS NOT NULL)
  AND trace_id IN (SELECT trace_id FROM _f WHERE rejects IS NOT NULL)
ORDER BY trace_id, to_span_id, from_span_id
"""

# the handoff edges `_hand`, before their content lineage (collector.derive._lineage)
HANDOFFS = f"""
CREATE OR REPLACE TEMP TABLE _links AS
SELECT f.trace_id, f.span_id, f.agent_name, f.start_ns, unnest(from_json(f.handoff_links,
       '[{{"span_id":"VARCHAR","kind":"VARCHAR","from_agent":"VARCHAR","payload":"VARCHAR",
          "argument":"VARCHAR","id":"VARCHAR"}}]')) AS l
FROM _f f WHERE f.handoff_links IS NOT NULL;

CREATE OR REPLACE TEMP TABLE _hand AS
-- an agent span that says who handed over to it, or a foreign agent nested in another
SELECT trace_id,
       CASE WHEN told THEN handoff_from_agent ELSE outer_nm END AS from_agent,
       agent_name AS to_agent, '{sc.KIND_DELEGATE}' AS kind,
       CASE WHEN told THEN handoff_from_span_id ELSE outer_sid END AS from_span_id,
       span_id AS to_span_id, start_ns,
       CASE WHEN told THEN handoff_payload ELSE input_preview END AS payload_preview,
       NULL AS argument, NULL AS handoff_id
FROM (SELECT *, handoff_from_agent IS NOT NULL OR handoff_from_span_id IS NOT NULL AS told
      FROM _f WHERE span_class = 'agent')
WHERE told OR (NOT coalesce(native, false) AND outer_sid IS NOT NULL
               AND outer_nm IS DISTINCT FROM agent_name)
UNION ALL
-- hoptrace data handoffs: a link from the producing span
SELECT k.trace_id, coalesce(k.l.from_agent, src.agent_name), k.agent_name,
       coalesce(k.l.kind, '{sc.KIND_DATA}'), k.l.span_id, k.span_id, k.start_ns, k.l.payload,
       k.l.argument, k.l.id
FROM _links k LEFT JOIN _f src ON src.trace_id = k.trace_id AND src.span_id = k.l.span_id
UNION ALL
-- transfers (transfer tools of LangGraph, AutoGen, ADK, the OpenAI Agents SDK, GenAI PR 98):
-- the receiving span is the target's next agent span, usually a later sibling; a transfer
-- that does not name its target (ADK without captured arguments) goes to the next agent
-- to start outside the sender
SELECT h.trace_id, coalesce(h.handoff_from_agent, h.agent_name),
       coalesce(h.handoff_to_agent, t.agent_attr), '{sc.KIND_TRANSFER}', h.agent_span_id,
       t.span_id, h.start_ns, NULL, NULL, NULL
FROM (SELECT * FROM _f
      WHERE span_class = 'handoff' OR (span_class = 'tool' AND handoff_to_agent IS NOT NULL)) h
LEFT JOIN (
    SELECT h.trace_id, h.span_id, arg_min(a.span_id, (a.start_ns, a.span_id)) AS target
    FROM _f h JOIN _f a ON a.trace_id = h.trace_id AND a.span_class = 'agent'
         AND a.start_ns >= h.start_ns
         AND (a.agent_attr = h.handoff_to_agent
              OR (h.handoff_to_agent IS NULL AND NOT list_contains(h.anc, a.rid)
                  AND a.agent_attr IS DISTINCT FROM h.agent_name))
    WHERE h.span_class IN ('handoff', 'tool')
    GROUP BY ALL
) g ON g.trace_id = h.trace_id AND g.span_id = h.span_id
LEFT JOIN _f t ON t.trace_id = g.trace_id AND t.span_id = g.target
-- nested under the transfer: the delegate edge above covers it
WHERE NOT (t.span_id IS NOT NULL AND NOT coalesce(t.native, false)
           AND list_contains(t.anc, h.rid))
  -- one transfer traced twice (AutoGen: OpenInference's tool span around the native one)
  AND NOT EXISTS (SELECT 1 FROM _f p WHERE p.trace_id = h.trace_id AND p.span_class = 'handoff'
                  AND list_contains(h.anc, p.rid)
                  AND p.handoff_to_agent IS NOT DISTINCT FROM h.handoff_to_agent)
UNION ALL
-- announced handoffs whose receiver has not (yet) linked back
SELECT trace_id, agent_name, e.to_agent, '{sc.KIND_EXPLICIT}', span_id, NULL,
       coalesce(nullif(e.time_ns, 0), start_ns), e.payload, NULL, e.id
FROM (SELECT f.*, unnest(from_json(f.handoff_events,
             '[{{"to_agent":"VARCHAR","payload":"VARCHAR","id":"VARCHAR","time_ns":"BIGINT"}}]')) AS e
      FROM _f f WHERE f.handoff_events IS NOT NULL) x
WHERE e.id IS NULL OR e.id = '' OR NOT EXISTS (
    SELECT 1 FROM _links k WHERE k.trace_id = x.trace_id AND k.l.id = x.e.id)
"""

ROLLUPS = f"""
CREATE OR REPLACE TEMP TABLE _facts AS
SELECT f.trace_id, f.span_id, f.agent_name, f.agent_span_id, r.role AS error_role,
       r.cause AS cause_span_id, c.rid IS NOT NULL AS on_critical_path,
       c.own_ns / 1e6 AS critical_path_ms, f.is_llm AS is_llm_call, f.start_ns, f.rid
FROM _f f
LEFT JOIN _roles r ON r.trace_id = f.trace_id AND r.span_id = f.span_id
LEFT JOIN _cp c ON c.rid = f.rid;

CREATE OR REPLACE TEMP TABLE _runs AS
WITH agg AS (
    SELECT trace_id, min(start_ns) AS start_ns, count(*) AS span_count,
           count(DISTINCT agent_attr) FILTER (WHERE span_class = 'agent') AS agent_count,
           count(*) FILTER (WHERE is_llm) AS llm_calls,
           coalesce(sum(input_tokens) FILTER (WHERE is_llm), 0) AS input_tokens,
           coalesce(sum(output_tokens) FILTER (WHERE is_llm), 0) AS output_tokens,
           sum(cost_usd) FILTER (WHERE is_llm) AS cost_usd,
           count(*) FILTER (WHERE status = 'ERROR') AS error_count,
           max(end_ns) FILTER (WHERE end_ns IS NOT NULL AND NOT coalesce(pending, false)) AS last_end,
           count(*) FILTER (WHERE pending) AS pending_spans,
           min(conversation_id) AS any_conversation
    FROM _f GROUP BY trace_id
),
cp AS (SELECT trace_id, sum(own_ns) / 1e6 AS critical_path_ms FROM _cp GROUP BY trace_id),
run AS (
    SELECT a.*, rt.name AS root_span_name, rt.service_name, rt.span_id AS root_span_id,
           rt.attributes,
           -- the root never arrived (a framework that does not end its span when it
           -- raises, or a parent outside this trace): the run is its top spans
           coalesce(rt.parent_span_id, '') <> '' AS incomplete,
           -- the run's own name: the root workflow's or agent's, else the root span's
           -- name without an operation prefix (the README's `runs` view); without its
           -- root, the service's name rather than whichever step happens to be first
           coalesce(CASE WHEN rt.span_class = 'workflow' THEN nullif(rt.workflow_name, '') END,
                    CASE WHEN rt.span_class = 'agent' THEN nullif(rt.agent_attr, '') END,
                    CASE WHEN starts_with(rt.name, '{sc.OP_WORKFLOW} ')
                           OR starts_with(rt.name, '{sc.OP_AGENT} ')
                         THEN nullif(substr(rt.name, strpos(rt.name, ' ') + 1), '') END,
                    CASE WHEN coalesce(rt.parent_span_id, '') <> ''
                         THEN nullif(rt.service_name, '') END,
                    rt.name) AS name,
           coalesce(rt.conversation_id, a.any_conversation) AS conversation_id,
           CASE WHEN (coalesce(rt.parent_span_id, '') = '' AND NOT coalesce(rt.pending, false))
                     OR a.pending_spans = 0
                -- failed: the root says so, or an agent failed and nothing recovered it
                THEN CASE WHEN rt.status = 'ERROR' OR c.trace_id IS NOT NULL THEN 'ERROR'
                          ELSE 'OK' END
                ELSE 'RUNNING' END AS status
    FROM agg a JOIN _root r USING (trace_id)
    JOIN _f rt ON rt.rid = r.root_rid
    LEFT JOIN _causes c USING (trace_id)
    -- AutoGen traces each agent's construction on its own: not a run
    WHERE NOT (a.span_count = 1 AND coalesce(rt.operation, '') = 'create_agent')
)
SELECT run.trace_id, name, root_span_name, service_name, start_ns,
       CASE WHEN status = 'RUNNING' THEN NULL ELSE last_end END AS end_ns, status, span_count,
       agent_count, llm_calls, input_tokens, output_tokens, cost_usd, error_count,
       CASE WHEN status = 'ERROR' THEN rc.rc_agent END AS root_cause_agent,
       CASE WHEN status = 'ERROR' THEN rc.rc_error END AS root_cause_error,
       root_span_id,
       CASE WHEN status = 'ERROR' THEN rc.rc_span END AS root_cause_span_id,
       CASE WHEN status = 'ERROR' THEN rc.rc_message END AS root_cause_message,
       conversation_id, cp.critical_path_ms, pending_spans, attributes, incomplete
FROM run LEFT JOIN cp USING (trace_id) LEFT JOIN _causes rc USING (trace_id);

CREATE OR REPLACE TEMP TABLE _agents AS
WITH spans AS MATERIALIZED (
    SELECT f.trace_id, f.agent_name, f.span_class, f.end_eff, f.start_ns, f.outer_nm, f.is_llm,
           f.input_tokens, f.output_tokens, f.cost_usd, f.status, f.model, f.chain,
           -- one invocation traced twice (AutoGen's native invoke_agent around
           -- OpenInference's on_messages_stream) is one invocation
           f.span_class = 'agent' AND NOT (f.outer_nm IS NOT DISTINCT FROM f.agent_name
                                           AND NOT coalesce(f.native, false)) AS invocation,
           coalesce(c.own_ns, 0) AS own_ns
    FROM _f f
    LEFT JOIN _cp c ON c.rid = f.rid
    WHERE f.agent_name IS NOT NULL
),
inclusive AS (
    SELECT trace_id, agent_name, sum(cost_usd) AS inclusive_cost_usd FROM (
        SELECT trace_id, cost_usd, unnest(list_distinct(list_append(chain, agent_name))) AS agent_name
        FROM spans WHERE is_llm AND cost_usd IS NOT NULL)
    GROUP BY ALL
),
rows AS (
    SELECT trace_id, agent_name,
           count(*) FILTER (WHERE invocation) AS invocations,
           coalesce(sum((end_eff - start_ns) / 1e6) FILTER (
               WHERE span_class = 'agent' AND outer_nm IS DISTINCT FROM agent_name), 0) AS duration_ms,
           sum(own_ns) / 1e6 AS critical_path_ms,
           count(*) FILTER (WHERE is_llm) AS llm_calls,
           coalesce(sum(input_tokens) FILTER (WHERE is_llm), 0) AS input_tokens,
           coalesce(sum(output_tokens) FILTER (WHERE is_llm), 0) AS output_tokens,
           sum(cost_usd) FILTER (WHERE is_llm) AS cost_usd,
           count(*) FILTER (WHERE status = 'ERROR') AS error_count,
           nullif(array_to_string(list_sort(list_distinct(
               list(model) FILTER (WHERE is_llm AND coalesce(model, '') <> ''))), ', '), '') AS models,
           min(start_ns) FILTER (WHERE span_class = 'agent') AS first_start_ns
    FROM spans GROUP BY trace_id, agent_name
)
SELECT r.trace_id, r.agent_name, r.invocations, r.duration_ms, r.critical_path_ms,
       CASE WHEN coalesce(run.critical_path_ms, 0) <> 0
            THEN r.critical_path_ms / run.critical_path_ms END AS critical_path_share,
       r.llm_calls, r.input_tokens, r.output_tokens, r.cost_usd, i.inclusive_cost_usd,
       r.error_count, r.models, r.first_start_ns
FROM rows r LEFT JOIN inclusive i USING (trace_id, agent_name) LEFT JOIN _runs run USING (trace_id);

CREATE OR REPLACE TEMP TABLE _errors AS
SELECT r.trace_id, r.span_id, f.agent_name, f.name AS span_name, r.error_type, r.error_message,
       r.role, r.cause AS cause_span_id, f.start_ns
FROM _roles r JOIN _f f USING (trace_id, span_id);
"""
