"""Error roles and root causes: the one derivation step that stays in Python.

It is a bottom-up walk with choices at each level (which ERROR child is the latest,
where a propagated error came from), awkward in SQL and cheap here because it only
ever sees the few spans that matter: ERROR spans, their ancestors, spans carrying
hoptrace's markers, and the spans those markers or rejections point at
(collector.derive._trace selects them). Rules, as the README states them:

- hoptrace's markers win (`hoptrace.error.role` / `.cause_span_id`).
- Unmarked: an ERROR span without an ERROR descendant is an origin; an ERROR span
  with one propagates it (cause = the origin reached through its latest-ending
  ERROR child, else descendant). An unmarked non-ERROR span with an ERROR child
  recovered it. A span named by a `hoptrace.reject` event is 'rejected'
  (error_type 'Rejected', message = reason).
- Root cause of a failed run: from the root's error follow cause_span_id until a
  span without one; that span's agent and error type.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from tracer import semconv as sc

Span = dict[str, Any]


def error_roles(
    spans: list[Span],
) -> tuple[dict[str, str], dict[str, str | None], dict[str, str | None], dict[str, str | None]]:
    """role, cause, error type and message by span id, for the spans of ONE trace.

    `spans` are ordered parents before children; `parent` is the tree parent.
    """
    by_id = {s["span_id"]: s for s in spans}
    children: dict[str, list[Span]] = defaultdict(list)
    for s in spans:
        p = s.get("parent")
        if p is not None and p in by_id:
            children[p].append(s)
    role: dict[str, str] = {}
    cause: dict[str, str | None] = {}
    etype: dict[str, str | None] = {}
    emsg: dict[str, str | None] = {}
    origin_of: dict[str, str] = {}  # span -> origin span of its error
    deepest_err: dict[str, Span | None] = {}  # latest-ending ERROR span strictly below
    for s in reversed(spans):  # children first
        sid = s["span_id"]
        kids = children.get(sid, ())
        err_kids = [c for c in kids if c.get("status") == "ERROR"]
        below: list[Span] = err_kids or [b for c in kids if (b := deepest_err[c["span_id"]])]
        deepest_err[sid] = (
            max(below, key=lambda c: c.get("end_ns") or c["start_ns"]) if below else None
        )
        marker = s.get("marker_role")
        if s.get("status") == "ERROR":
            etype[sid], emsg[sid] = s.get("error_type"), s.get("error_message")
            if marker == sc.ROLE_ORIGIN or (marker is None and deepest_err[sid] is None):
                role[sid], cause[sid] = sc.ROLE_ORIGIN, None
                origin_of[sid] = sid
            elif marker == sc.ROLE_PROPAGATED and s.get("marker_cause"):
                role[sid], cause[sid] = sc.ROLE_PROPAGATED, s["marker_cause"]
                origin_of[sid] = s["marker_cause"]
            elif (below_err := deepest_err[sid]) is not None:
                below_id: str = below_err["span_id"]
                origin_id = origin_of.get(below_id, below_id)
                role[sid], cause[sid] = sc.ROLE_PROPAGATED, origin_id
                origin_of[sid] = origin_id
            else:
                role[sid], cause[sid] = marker or sc.ROLE_ORIGIN, None
                origin_of[sid] = sid
        elif marker == sc.ROLE_RECOVERED or (marker is None and err_kids):
            role[sid] = sc.ROLE_RECOVERED
            src: str | None = s.get("marker_cause")
            if src is None and err_kids:
                last = max(err_kids, key=lambda c: c.get("end_ns") or c["start_ns"])
                src = origin_of.get(last["span_id"], last["span_id"])
            cause[sid] = src
            origin_span: Span = by_id.get(src, {}) if src else {}
            etype[sid] = s.get("error_type") or origin_span.get("error_type")
            emsg[sid] = s.get("error_message") or origin_span.get("error_message")
    # rejections: the producer span shows as 'rejected' (it did not raise)
    for s in spans:
        rejects = s.get("rejects")
        for rej in json.loads(rejects) if rejects else ():
            pid = rej.get("span_id")
            if pid in by_id and pid not in role:
                role[pid], cause[pid] = sc.ROLE_REJECTED, None
                etype[pid] = sc.REJECTION_ERROR_TYPE
                emsg[pid] = rej.get("reason")
    return role, cause, etype, emsg


def root_cause(root_id: str, cause: dict[str, str | None], known: set[str]) -> str:
    """Follow cause_span_id from the root's error to the span where it started."""
    cur, visited = root_id, set()
    while cur not in visited:
        visited.add(cur)
        nxt = cause.get(cur)
        if not nxt or nxt not in known:
            break
        cur = nxt
    return cur


def derive_errors(
    rows: list[Span], roots: dict[str, str]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Role rows and root-cause rows for the error-relevant spans of many traces.

    `rows` (ordered by trace, then parents before children) carry trace_id, span_id,
    parent, name, start_ns, end_ns, status, marker_role, marker_cause, error_type,
    error_message, rejects, agent_name; `roots` maps the trace id of each failed run
    to its root span id. Returns (trace_id, span_id, role, cause, error_type,
    error_message) rows and (trace_id, span_id, agent, error_type, message) rows.
    """
    by_trace: dict[str, list[Span]] = defaultdict(list)
    for r in rows:
        by_trace[r["trace_id"]].append(r)
    roles: list[tuple[Any, ...]] = []
    causes: list[tuple[Any, ...]] = []
    for trace_id, spans in by_trace.items():
        role, cause, etype, emsg = error_roles(spans)
        roles.extend((trace_id, sid, r, cause.get(sid), etype.get(sid), emsg.get(sid))
                     for sid, r in role.items())  # fmt: skip
        root = roots.get(trace_id)
        if root is not None:
            agents = {s["span_id"]: s.get("agent_name") for s in spans}
            rc = root_cause(root, cause, set(agents))
            causes.append((trace_id, rc, agents.get(rc), etype.get(rc), emsg.get(rc)))
    return roles, causes
