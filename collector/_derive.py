"""Facts that need the whole trace, computed once per write for the touched traces.

Pure functions over plain dicts (one per span, keys = span_t columns), so they are
unit-tested on small ASCII-tree fixtures without a database.

Rules (documented in the README, "How the derived columns are computed"):
- Effective agent: an agent span names itself; any other span takes its own
  `gen_ai.agent.name` if set, else the nearest enclosing agent span's name.
- Billable model call (`is_llm_call`): an llm-class span with no llm-class ancestor
  (litellm's span inside hoptrace's `chat` span is not counted twice).
- Error roles: hoptrace's markers win (`hoptrace.error.role` / `.cause_span_id`).
  Unmarked: an ERROR span without an ERROR descendant is an origin; an ERROR span
  with one propagates it (cause = the origin reached through its latest-ending
  ERROR child, else descendant). An unmarked non-ERROR span with an ERROR child
  recovered it. A span named by a `hoptrace.reject` event is 'rejected'
  (error_type 'Rejected', message = reason).
- Root cause of a failed run: from the root's error follow cause_span_id until a
  span without one; that span's agent and error type.
- Critical path: Jaeger's walk from the root: a span's last-finishing child, then
  the child that finished before that one started, and so on; each span's own time
  on the path is its `critical_path_ms`. Pending spans end "now" (latest time seen).
- Orphans (parent not in the trace) are roots of their own subtrees.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from tracer import semconv as sc

Span = dict[str, Any]


@dataclass
class TraceFacts:
    """Everything derived for one trace, as rows for the derived tables."""

    span_rows: list[tuple[Any, ...]] = field(default_factory=list)
    run_row: dict[str, Any] = field(default_factory=dict)
    agent_rows: list[dict[str, Any]] = field(default_factory=list)
    handoff_rows: list[dict[str, Any]] = field(default_factory=list)
    error_rows: list[dict[str, Any]] = field(default_factory=list)


def _loads(v: Any) -> list[dict[str, Any]]:
    if not v:
        return []
    return json.loads(v) if isinstance(v, str) else list(v)


def _end(s: Span, now: int) -> int:
    e = s.get("end_ns")
    return now if e is None or s.get("pending") else int(e)


def _pick_root(spans: list[Span], roots: list[Span]) -> Span | None:
    true_roots = [s for s in roots if not s.get("parent_span_id")]
    pool = true_roots or roots
    return min(pool, key=lambda s: (s["start_ns"], s["span_id"])) if pool else None


def critical_path(root: Span, children: dict[str, list[Span]], now: int) -> dict[str, float]:
    """Each span's own time on the critical path from `root`, in nanoseconds."""
    own: dict[str, float] = defaultdict(float)
    # frame: [span, clipped start, clipped end, cursor, children sorted by end ascending]
    stack: list[list[Any]] = [
        [root, root["start_ns"], _end(root, now), _end(root, now), _kids(root, children, now)]
    ]
    while stack:
        frame = stack[-1]
        span, start, end, cursor, kids = frame
        nxt = None
        while kids:
            cand = kids.pop()  # sorted by end ascending: the last-finishing child is last
            c_end = min(_end(cand, now), end)  # a child is clipped to its parent
            if cand["start_ns"] >= end or c_end <= start:
                continue
            if c_end > cursor:  # overlaps the child already on the path
                continue
            nxt = cand
            break
        if nxt is None:
            own[span["span_id"]] += max(0, cursor - start)
            stack.pop()
            continue
        c_end = min(_end(nxt, now), end)
        c_start = max(nxt["start_ns"], start)
        own[span["span_id"]] += cursor - c_end
        frame[3] = c_start
        stack.append([nxt, c_start, c_end, c_end, _kids(nxt, children, now)])
    return own


def _kids(span: Span, children: dict[str, list[Span]], now: int) -> list[Span]:
    return sorted(children.get(span["span_id"], ()), key=lambda c: _end(c, now))


def derive_trace(trace_id: str, spans: list[Span]) -> TraceFacts:
    """Derive span facts, the run row, agent rows, handoff edges and error rows."""
    facts = TraceFacts()
    if not spans:
        return facts
    by_id = {s["span_id"]: s for s in spans}
    children: dict[str, list[Span]] = defaultdict(list)
    roots: list[Span] = []
    for s in spans:
        p = s.get("parent_span_id")
        if p and p in by_id and p != s["span_id"]:
            children[p].append(s)
        else:
            roots.append(s)
    now = max(max(s["start_ns"], s.get("end_ns") or 0) for s in spans)

    # parents before children; a cycle (bad ids) cannot loop: each span once
    order: list[Span] = []
    seen: set[str] = set()
    parent_of: dict[str, Span | None] = {}
    agent_of: dict[str, Span | None] = {}  # nearest agent-class ancestor-or-self
    in_llm: dict[str, bool] = {}
    stack: list[tuple[Span, Span | None]] = [
        (r, None) for r in sorted(roots, key=lambda s: s["start_ns"], reverse=True)
    ]
    tree: dict[str, list[Span]] = defaultdict(list)  # children as actually walked
    leftovers = iter(spans)  # spans in a parent cycle (bad ids) become roots too
    while True:
        if not stack:
            nxt = next((x for x in leftovers if x["span_id"] not in seen), None)
            if nxt is None:
                break
            roots.append(nxt)
            stack.append((nxt, None))
        s, parent = stack.pop()
        sid = s["span_id"]
        if sid in seen:
            continue
        seen.add(sid)
        order.append(s)
        parent_of[sid] = parent
        if parent is not None:
            tree[parent["span_id"]].append(s)
        up_agent = agent_of[parent["span_id"]] if parent is not None else None
        agent_of[sid] = s if s.get("span_class") == "agent" else up_agent
        in_llm[sid] = parent is not None and (
            in_llm[parent["span_id"]] or parent.get("span_class") == "llm"
        )
        stack.extend((c, s) for c in children.get(sid, ()))
    children = tree

    agent_name: dict[str, str | None] = {}
    agent_span: dict[str, str | None] = {}
    for s in order:
        sid = s["span_id"]
        if s.get("span_class") == "agent":
            agent_name[sid], agent_span[sid] = s.get("agent_attr"), sid
            continue
        enclosing = agent_of[sid]
        agent_name[sid] = s.get("agent_attr") or (enclosing or {}).get("agent_attr")
        agent_span[sid] = s.get("agent_span_attr") or (enclosing or {}).get("span_id")

    role, cause, etype, emsg = _errors(order, children, by_id)

    root = _pick_root(spans, roots)
    cp_ns = critical_path(root, children, now) if root is not None else {}

    is_llm = {
        s["span_id"]: s.get("span_class") == "llm" and not in_llm[s["span_id"]] for s in order
    }
    for s in order:
        sid = s["span_id"]
        cp = cp_ns.get(sid)
        facts.span_rows.append(
            (
                trace_id,
                sid,
                agent_name[sid],
                agent_span[sid],
                role.get(sid),
                cause.get(sid),
                cp is not None,
                None if cp is None else cp / 1e6,
                is_llm[sid],
                s["start_ns"],
            )
        )
        if sid in role:
            facts.error_rows.append(
                {
                    "trace_id": trace_id,
                    "span_id": sid,
                    "agent_name": agent_name[sid],
                    "span_name": s.get("name"),
                    "error_type": etype.get(sid),
                    "error_message": emsg.get(sid),
                    "role": role[sid],
                    "cause_span_id": cause.get(sid),
                    "start_ns": s["start_ns"],
                }
            )

    facts.run_row = _run_row(
        trace_id, spans, root, cause, role, etype, emsg, agent_name, is_llm, cp_ns
    )
    facts.agent_rows = _agent_rows(
        trace_id, order, agent_name, agent_of, parent_of, is_llm, cp_ns, facts.run_row, now
    )
    facts.handoff_rows = _handoffs(
        trace_id, order, by_id, agent_name, agent_span, agent_of, parent_of
    )
    return facts


def _errors(
    order: list[Span], children: dict[str, list[Span]], by_id: dict[str, Span]
) -> tuple[dict[str, str], dict[str, str | None], dict[str, str | None], dict[str, str | None]]:
    role: dict[str, str] = {}
    cause: dict[str, str | None] = {}
    etype: dict[str, str | None] = {}
    emsg: dict[str, str | None] = {}
    origin_of: dict[str, str] = {}  # span -> origin span of its error
    deepest_err: dict[str, Span | None] = {}  # latest-ending ERROR span strictly below
    for s in reversed(order):  # children first
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
    for s in order:
        for rej in _loads(s.get("rejects")):
            pid = rej.get("span_id")
            if pid in by_id and pid not in role:
                role[pid], cause[pid] = sc.ROLE_REJECTED, None
                etype[pid] = sc.REJECTION_ERROR_TYPE
                emsg[pid] = rej.get("reason")
    return role, cause, etype, emsg


def _run_row(
    trace_id: str,
    spans: list[Span],
    root: Span | None,
    cause: dict[str, str | None],
    role: dict[str, str],
    etype: dict[str, str | None],
    emsg: dict[str, str | None],
    agent_name: dict[str, str | None],
    is_llm: dict[str, bool],
    cp_ns: dict[str, float],
) -> dict[str, Any]:
    pending = sum(1 for s in spans if s.get("pending"))
    finished_root = root is not None and not root.get("parent_span_id") and not root.get("pending")
    if finished_root or (root is not None and not pending):
        status = "ERROR" if root is not None and root.get("status") == "ERROR" else "OK"
    else:
        status = "RUNNING"
    rc_span = None
    if status == "ERROR" and root is not None:
        cur, visited = root["span_id"], set()
        while cur not in visited:
            visited.add(cur)
            nxt = cause.get(cur)
            if not nxt or nxt not in agent_name:
                break
            cur = nxt
        rc_span = cur
    llm = [s for s in spans if is_llm.get(s["span_id"])]
    costs = [s["cost_usd"] for s in llm if s.get("cost_usd") is not None]
    ends = [s["end_ns"] for s in spans if s.get("end_ns") is not None and not s.get("pending")]
    conv = (root or {}).get("conversation_id") or next(
        (s["conversation_id"] for s in spans if s.get("conversation_id")), None
    )
    return {
        "trace_id": trace_id,
        "name": (root or {}).get("name"),
        "service_name": (root or {}).get("service_name"),
        "start_ns": min(s["start_ns"] for s in spans),
        "end_ns": None if status == "RUNNING" else (max(ends) if ends else None),
        "status": status,
        "span_count": len(spans),
        "agent_count": len({s.get("agent_attr") for s in spans if s.get("span_class") == "agent"}),
        "llm_calls": len(llm),
        "input_tokens": sum(s.get("input_tokens") or 0 for s in llm),
        "output_tokens": sum(s.get("output_tokens") or 0 for s in llm),
        "cost_usd": sum(costs) if costs else None,
        "error_count": sum(1 for s in spans if s.get("status") == "ERROR"),
        "root_cause_agent": agent_name.get(rc_span) if rc_span else None,
        "root_cause_error": etype.get(rc_span) if rc_span else None,
        "root_span_id": (root or {}).get("span_id"),
        "root_cause_span_id": rc_span,
        "root_cause_message": emsg.get(rc_span) if rc_span else None,
        "conversation_id": conv,
        "critical_path_ms": sum(cp_ns.values()) / 1e6 if cp_ns else None,
        "pending_spans": pending,
        "attributes": (root or {}).get("attributes"),
    }


def _agent_rows(
    trace_id: str,
    order: list[Span],
    agent_name: dict[str, str | None],
    agent_of: dict[str, Span | None],
    parent_of: dict[str, Span | None],
    is_llm: dict[str, bool],
    cp_ns: dict[str, float],
    run: dict[str, Any],
    now: int,
) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}

    def row(name: str) -> dict[str, Any]:
        r = rows.get(name)
        if r is None:
            r = rows[name] = {
                "trace_id": trace_id,
                "agent_name": name,
                "invocations": 0,
                "duration_ms": 0.0,
                "critical_path_ms": 0.0,
                "critical_path_share": None,
                "llm_calls": 0,
                "input_tokens": 0,
                "output_tokens": 0,
                "cost_usd": None,
                "inclusive_cost_usd": None,
                "error_count": 0,
                "models": set(),
                "first_start_ns": None,
            }
        return r

    for s in order:
        sid = s["span_id"]
        name = agent_name[sid]
        if s.get("span_class") == "agent" and name:
            r = row(name)
            r["invocations"] += 1
            if r["first_start_ns"] is None or s["start_ns"] < r["first_start_ns"]:
                r["first_start_ns"] = s["start_ns"]
            parent = parent_of[sid]
            outer = agent_of[parent["span_id"]] if parent is not None else None
            if outer is None or outer.get("agent_attr") != name:  # no double count on recursion
                r["duration_ms"] += (_end(s, now) - s["start_ns"]) / 1e6
        if not name:
            continue
        r = row(name)
        r["critical_path_ms"] += cp_ns.get(sid, 0.0) / 1e6
        if s.get("status") == "ERROR":
            r["error_count"] += 1
        if is_llm[sid]:
            r["llm_calls"] += 1
            r["input_tokens"] += s.get("input_tokens") or 0
            r["output_tokens"] += s.get("output_tokens") or 0
            if s.get("model"):
                r["models"].add(s["model"])
            cost = s.get("cost_usd")
            if cost is not None:
                r["cost_usd"] = (r["cost_usd"] or 0.0) + cost
                # inclusive: every agent whose span encloses this call, plus its own agent
                names = {name}
                a = agent_of[sid]
                while a is not None:
                    if a.get("agent_attr"):
                        names.add(a["agent_attr"])
                    p = parent_of[a["span_id"]]
                    a = agent_of[p["span_id"]] if p is not None else None
                for n in names:
                    rr = row(n)
                    rr["inclusive_cost_usd"] = (rr["inclusive_cost_usd"] or 0.0) + cost
    total = run.get("critical_path_ms")
    out = []
    for r in rows.values():
        r["models"] = ", ".join(sorted(r["models"])) or None
        if total:
            r["critical_path_share"] = r["critical_path_ms"] / total
        out.append(r)
    return out


def _below(span: Span, ancestor: Span, parent_of: dict[str, Span | None]) -> bool:
    cur = parent_of.get(span["span_id"])
    while cur is not None:
        if cur is ancestor:
            return True
        cur = parent_of.get(cur["span_id"])
    return False


def _handoffs(
    trace_id: str,
    order: list[Span],
    by_id: dict[str, Span],
    agent_name: dict[str, str | None],
    agent_span: dict[str, str | None],
    agent_of: dict[str, Span | None],
    parent_of: dict[str, Span | None],
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def add(**kw: Any) -> None:
        row = {
            "trace_id": trace_id,
            "from_agent": None,
            "to_agent": None,
            "kind": sc.KIND_DELEGATE,
            "from_span_id": None,
            "to_span_id": None,
            "start_ns": None,
            "payload_preview": None,
            "argument": None,
            "handoff_id": None,
        }
        row.update(kw)
        rows.append(row)

    link_ids: set[str] = set()
    for s in order:
        sid = s["span_id"]
        cls = s.get("span_class")
        parent = parent_of[sid]
        outer = agent_of[parent["span_id"]] if parent is not None else None
        if cls == "agent":
            if s.get("handoff_from_agent") or s.get("handoff_from_span_id"):
                add(
                    from_agent=s.get("handoff_from_agent"),
                    to_agent=agent_name[sid],
                    from_span_id=s.get("handoff_from_span_id"),
                    to_span_id=sid,
                    start_ns=s["start_ns"],
                    payload_preview=s.get("handoff_payload"),
                )
            elif not s.get("native") and outer is not None:
                # foreign nesting (pydantic-ai agent under a tool, OTel GenAI agents)
                add(
                    from_agent=outer.get("agent_attr"),
                    to_agent=agent_name[sid],
                    from_span_id=outer["span_id"],
                    to_span_id=sid,
                    start_ns=s["start_ns"],
                    payload_preview=s.get("input_preview"),
                )
        for ln in _loads(s.get("handoff_links")):
            src = ln.get("span_id")
            if ln.get("id"):
                link_ids.add(str(ln["id"]))
            add(
                from_agent=ln.get("from_agent") or (agent_name.get(src) if src else None),
                to_agent=agent_name[sid],
                kind=ln.get("kind") or sc.KIND_DATA,
                from_span_id=src,
                to_span_id=sid,
                start_ns=s["start_ns"],
                payload_preview=ln.get("payload"),
                argument=ln.get("argument"),
                handoff_id=ln.get("id"),
            )
        if cls == "handoff" or (cls == "tool" and s.get("handoff_to_agent")):
            # OpenAI Agents (OTel contrib `agent_handoff`, OpenInference "handoff to X"),
            # OTel GenAI upstream `execute_tool` + gen_ai.transfer.target.name: the
            # target agent usually runs as a later sibling, not as a child
            to = s.get("handoff_to_agent")
            target = None
            for cand in order:
                if (
                    cand.get("span_class") == "agent"
                    and cand.get("agent_attr") == to
                    and cand["start_ns"] >= s["start_ns"]
                    and (target is None or cand["start_ns"] < target["start_ns"])
                ):
                    target = cand
            if target is not None and not target.get("native") and _below(target, s, parent_of):
                continue  # nested under the transfer: the delegate edge above covers it
            add(
                from_agent=s.get("handoff_from_agent") or agent_name[sid],
                to_agent=to,
                kind=sc.KIND_EXPLICIT,
                from_span_id=agent_span[sid],
                to_span_id=target["span_id"] if target else None,
                start_ns=s["start_ns"],
            )
    for s in order:
        for ev in _loads(s.get("handoff_events")):
            if ev.get("id") and str(ev["id"]) in link_ids:
                continue  # the receiver ran; its link already gave the edge
            add(
                from_agent=agent_name[s["span_id"]],
                to_agent=ev.get("to_agent"),
                kind=sc.KIND_EXPLICIT,
                from_span_id=s["span_id"],
                to_span_id=None,
                start_ns=ev.get("time_ns") or s["start_ns"],
                payload_preview=ev.get("payload"),
                handoff_id=ev.get("id"),
            )
    return rows
