"""Error roles and root causes: the one derivation step that stays in Python.

It is a bottom-up walk with choices at each level (which ERROR child caused this one,
where a propagated error came from), awkward in SQL and cheap here because it only
ever sees the few spans that matter: ERROR spans, their ancestors, spans carrying
hoptrace's markers, and the spans those markers or rejections point at
(collector.derive._trace selects them). Rules, as the README states them:

- hoptrace's markers win (`hoptrace.error.role` / `.cause_span_id`).
- Unmarked: an ERROR span without an ERROR descendant is an origin; an ERROR span
  with one propagates it. Its cause is the earliest *causal* error below: errors after
  which the parent went on working (a later sibling started) were dealt with, so they
  only count when nothing else failed; among the rest the one that ended first wins
  (a failure's later fallout, like AutoGen's `ValueError` about an undeliverable error
  message, ends after it). Framework runtime spans (class `runtime`) are looked
  through: they neither recover nor hide an error.
- An unmarked non-ERROR span with an ERROR child recovered it, except: a span whose
  parent is ERROR passed it on (propagated; frameworks often leave wrappers OK), and a
  foreign top span (the run's root, or one of the spans of a run whose root never
  arrived) that did nothing after an agent failed below it: the framework's root
  saying OK is not a recovery, so the run failed (propagated).
- A span named by a `hoptrace.reject` event is 'rejected' (error_type 'Rejected',
  message = reason).
- Root cause of a failed run: from the failed top span whose error started first, follow
  cause_span_id until a span without one; that span's agent and error type.
- Lineage: if that span's agent (its nearest agent span) got its inputs through data
  handoffs, directly or up to `MAX_LINEAGE_HOPS` handoffs up, from an output that was
  rejected, the run is blamed on the rejected producer (the fewest hops away, then the
  one that ended first): the failure is the rejected output's fallout.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from tracer import semconv as sc

Span = dict[str, Any]
Edge = tuple[str, str, str]
"""A data handoff: (trace_id, receiving agent span id, producing agent span id)."""

MAX_LINEAGE_HOPS = 3
"""How many data handoffs up from the failing agent a rejected output is looked for."""


def error_roles(
    spans: list[Span],
) -> tuple[dict[str, str], dict[str, str | None], dict[str, str | None], dict[str, str | None]]:
    """role, cause, error type and message by span id, for the spans of ONE trace.

    `spans` are ordered parents before children; `parent` is the tree parent; optional
    `cls` (span class), `native` and `continued` (a sibling started after it ended).
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
    best: dict[str, Span | None] = {}  # the ERROR span below that caused this span's error
    agent_failed: dict[str, bool] = {}  # an agent span failed on the way to `best`

    def key(c: Span) -> tuple[bool, int]:
        o = by_id.get(origin_of.get(c["span_id"], c["span_id"]), c)
        return bool(o.get("continued")), o.get("end_ns") or o["start_ns"]

    def is_err(c: Span) -> bool:
        return c.get("status") == "ERROR"

    for s in reversed(spans):  # children first
        sid = s["span_id"]
        kids = children.get(sid, ())
        err_kids = [c for c in kids if is_err(c)]
        through = [b for c in kids if not is_err(c) and c.get("cls") == "runtime"
                   and (b := best[c["span_id"]])]  # fmt: skip
        below = err_kids + through or [b for c in kids if (b := best[c["span_id"]])]
        pick = min(below, key=key) if below else None
        best[sid] = pick
        agent_failed[sid] = (is_err(s) and s.get("cls") == "agent") or bool(
            pick and agent_failed.get(pick["span_id"])
        )
        marker = s.get("marker_role")
        parent = by_id.get(s.get("parent") or "")
        if is_err(s):
            etype[sid], emsg[sid] = s.get("error_type"), s.get("error_message")
            if marker == sc.ROLE_ORIGIN or (marker is None and pick is None):
                role[sid], cause[sid] = sc.ROLE_ORIGIN, None
                origin_of[sid] = sid
            elif marker == sc.ROLE_PROPAGATED and s.get("marker_cause"):
                role[sid], cause[sid] = sc.ROLE_PROPAGATED, s["marker_cause"]
                origin_of[sid] = s["marker_cause"]
            elif pick is not None:
                below_id: str = pick["span_id"]
                origin_id = origin_of.get(below_id, below_id)
                role[sid], cause[sid] = sc.ROLE_PROPAGATED, origin_id
                origin_of[sid] = origin_id
            else:
                role[sid], cause[sid] = marker or sc.ROLE_ORIGIN, None
                origin_of[sid] = sid
            continue
        if marker is None and s.get("cls") == "runtime":
            continue
        if marker != sc.ROLE_RECOVERED and (marker is not None or not err_kids):
            continue
        src: str | None = s.get("marker_cause")
        if src is None and err_kids:
            first = min(err_kids, key=key)
            src = origin_of.get(first["span_id"], first["span_id"])
        cause[sid] = src
        origin_span: Span = by_id.get(src, {}) if src else {}
        etype[sid] = s.get("error_type") or origin_span.get("error_type")
        emsg[sid] = s.get("error_message") or origin_span.get("error_message")
        role[sid] = sc.ROLE_RECOVERED
    # the framework's own wrappers "OK" up to the top after an agent failed and nothing ran
    # after it (the OpenAI Agents SDK's workflow spans): no recovery, the run failed
    for s in spans:
        sid = s["span_id"]
        kids = [c for c in children.get(sid, ()) if is_err(c)]
        if (role.get(sid) != sc.ROLE_RECOVERED or s.get("marker_role") is not None
                or not kids or not agent_failed[sid] or min(kids, key=key).get("continued")):  # fmt: skip
            continue
        chain, cur = [s], s
        while (up := by_id.get(cur.get("parent") or "")) is not None:
            if (is_err(up) or up.get("native") or up.get("marker_role") is not None
                    or cur.get("continued") or role.get(up["span_id"]) not in (None, sc.ROLE_RECOVERED)):  # fmt: skip
                break
            chain.append(up)
            cur = up
        if up is None and not cur.get("native") and cur.get("parent") is None:
            src = cause[sid]
            for c in chain:
                cid = c["span_id"]
                role[cid], cause[cid] = sc.ROLE_PROPAGATED, src
                origin_of[cid] = src or cid
                etype.setdefault(cid, etype.get(sid))
                emsg.setdefault(cid, emsg.get(sid))
    # one exception recorded by two sibling wrappers (LangGraph's call_model beside the
    # chat model's own span): the one whose error started first is the origin
    for kids in children.values():
        errs = [c for c in kids if is_err(c)]
        for c in errs if len(errs) > 1 else ():
            cid = c["span_id"]
            if role.get(cid) != sc.ROLE_ORIGIN or c.get("marker_role") is not None:
                continue
            same = [o for o in errs if o is not c and (o.get("error_type"), o.get("error_message"))
                    == (c.get("error_type"), c.get("error_message"))]  # fmt: skip
            if same and key(first := min(same, key=key)) <= key(c):
                first_origin = str(origin_of.get(first["span_id"], first["span_id"]))
                role[cid], cause[cid] = sc.ROLE_PROPAGATED, first_origin
                origin_of[cid] = first_origin
    # an OK wrapper whose parent failed of the very error it "recovered" passed it on
    for s in spans:
        sid = s["span_id"]
        parent = by_id.get(s.get("parent") or "")
        if (role.get(sid) == sc.ROLE_RECOVERED and s.get("marker_role") is None
                and parent is not None and is_err(parent)
                and origin_of.get(parent["span_id"]) == cause.get(sid)):  # fmt: skip
            role[sid] = sc.ROLE_PROPAGATED
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


def failed_tops(spans: list[Span], role: dict[str, str]) -> list[Span]:
    """The top spans (no parent in the trace) whose failure fails the run, first-failing first."""
    tops = [s for s in spans if s.get("parent") is None and (
        s.get("status") == "ERROR" or role.get(s["span_id"]) == sc.ROLE_PROPAGATED)]  # fmt: skip
    return sorted(tops, key=lambda s: (s.get("end_ns") or s["start_ns"], s["span_id"]))


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


def lineage_cause(
    start: str, by_id: dict[str, Span], inputs: dict[str, list[str]], rejected: dict[str, Any]
) -> str | None:
    """The rejected producer whose output reached `start`'s agent through data handoffs.

    `inputs`: receiving agent span -> producing agent spans; `rejected`: rejected span ids.
    Breadth first, so the nearest rejection wins; None when none is within reach.
    """
    agent = by_id.get(start)
    while agent is not None and agent.get("cls") != "agent":
        agent = by_id.get(agent.get("parent") or "")
    if agent is None or not inputs:
        return None
    frontier, seen = [agent["span_id"]], {agent["span_id"]}
    for _ in range(MAX_LINEAGE_HOPS):
        up: list[str] = []
        for sid in frontier:
            for p in inputs.get(sid, ()):
                if p not in seen:
                    seen.add(p)
                    up.append(p)
        frontier = up
        hits = [p for p in frontier if p in rejected and p in by_id]
        if hits:
            return min(hits, key=lambda p: (by_id[p].get("end_ns") or by_id[p]["start_ns"], p))
    return None


def derive_errors(
    rows: list[Span], edges: Sequence[Edge] = ()
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Role rows and root-cause rows for the error-relevant spans of many traces.

    `rows` (ordered by trace, then parents before children) carry trace_id, span_id,
    parent, name, start_ns, end_ns, status, marker_role, marker_cause, error_type,
    error_message, rejects, agent_name, cls, native, continued; `edges` are the data
    handoffs of traces with a rejection. Returns (trace_id, span_id, role, cause,
    error_type, error_message) rows and (trace_id, span_id, agent, error_type, message)
    rows, one for each failed run.
    """
    by_trace: dict[str, list[Span]] = defaultdict(list)
    for r in rows:
        by_trace[r["trace_id"]].append(r)
    inputs_of: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for trace_id, to_span, from_span in edges:
        inputs_of[trace_id][to_span].append(from_span)
    roles: list[tuple[Any, ...]] = []
    causes: list[tuple[Any, ...]] = []
    for trace_id, spans in by_trace.items():
        role, cause, etype, emsg = error_roles(spans)
        roles.extend((trace_id, sid, r, cause.get(sid), etype.get(sid), emsg.get(sid))
                     for sid, r in role.items())  # fmt: skip
        agents = {s["span_id"]: s.get("agent_name") for s in spans}
        ends = {s["span_id"]: s.get("end_ns") or s["start_ns"] for s in spans}
        origins = [root_cause(t["span_id"], cause, set(agents)) for t in failed_tops(spans, role)]
        if not origins:
            continue
        rc = min(origins, key=lambda o: ends[o])  # the failure that started first
        error, message = etype.get(rc), emsg.get(rc)
        rejected = _rejected(spans)
        if rejected and rc not in rejected:
            by_id = {s["span_id"]: s for s in spans}
            producer = lineage_cause(rc, by_id, inputs_of.get(trace_id, {}), rejected)
            if producer is not None:
                rc, error, message = producer, sc.REJECTION_ERROR_TYPE, rejected[producer]
        causes.append((trace_id, rc, agents.get(rc), error, message))
    return roles, causes


def _rejected(spans: list[Span]) -> dict[str, str | None]:
    """Rejected span id -> the (first) reason, from the rejecting spans' `rejects`."""
    out: dict[str, str | None] = {}
    for s in spans:
        rejects = s.get("rejects")
        for rej in json.loads(rejects) if rejects else ():
            pid = rej.get("span_id")
            if pid:
                out.setdefault(pid, rej.get("reason"))
    return out
