"""Error propagation paths: from each origin, hop by hop, to the run's outcome.

The collector has already decided every error's role and origin
(`cause_span_id`); this module only orders the hops, finds the handoff edges
between consecutive hops' agents and names who recovered or rejected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from collector.queries import ErrorRow, HandoffRow, RecoveryMark, RejectMark

from .tree import SpanTree

__all__ = ["ErrorPath", "Hop", "error_paths"]


@dataclass(frozen=True, slots=True)
class Hop:
    """One span the error passed through; `crossed` are the edges taken to reach it."""

    span_id: str
    span_name: str
    agent: str | None
    error_type: str | None
    error_message: str | None
    role: str
    crossed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ErrorPath:
    """An origin and where its error went.

    `outcome` is failed (reached the run's root), recovered, rejected (stopped at
    the rejecting agent), absorbed (caught without a recovery marker, e.g. by a
    retry loop) or open (the run is still running).
    """

    origin_span_id: str
    hops: tuple[Hop, ...]
    outcome: str
    outcome_text: str
    outcome_span_id: str | None
    rejected_by: str | None = None
    """"agent: reason" when the origin is a rejected output."""


def _agent_span(tree: SpanTree, span_id: str) -> str | None:
    """Nearest agent span at or above `span_id`."""
    span = tree.by_id.get(span_id)
    if span is None:
        return None
    if span.span_class == "agent":
        return span_id
    return span.agent_span_id  # derived by the collector: the nearest agent span above


def _edges(
    tree: SpanTree, a: ErrorRow, b: ErrorRow, handoffs: Sequence[HandoffRow]
) -> tuple[str, ...]:
    """Handoff edges between hop `a` and the next hop `b`, described for the user."""
    if not a.agent_name or not b.agent_name or a.agent_name == b.agent_name:
        return ()
    pair = {a.agent_name, b.agent_name}
    a_agent = _agent_span(tree, a.span_id)
    near = [
        h
        for h in handoffs
        if {h.from_agent, h.to_agent} == pair and a_agent in (h.to_span_id, h.from_span_id)
    ]
    chosen = near or [h for h in handoffs if {h.from_agent, h.to_agent} == pair]
    seen: list[str] = []
    for h in chosen:
        text = f"{h.from_agent} → {h.to_agent} ({h.kind})"
        if text not in seen:
            seen.append(text)
    return tuple(seen)


def error_paths(
    tree: SpanTree,
    errors: Sequence[ErrorRow],
    handoffs: Sequence[HandoffRow] = (),
    rejections: Sequence[RejectMark] = (),
    recoveries: Sequence[RecoveryMark] = (),
) -> list[ErrorPath]:
    """Every propagation path of a run, ordered by the origin's start time."""
    by_span = {e.span_id: e for e in errors}
    recovered_by: dict[str, str] = {}
    for mark in recoveries:
        for origin_id in mark.origin_span_ids:
            recovered_by.setdefault(origin_id, mark.span_id)
    for e in errors:
        if e.role == "recovered" and e.cause_span_id:
            recovered_by.setdefault(e.cause_span_id, e.span_id)
    rejected_by = {r.rejected_span_id: r for r in rejections}

    followers: dict[str, list[ErrorRow]] = {}
    origins: list[ErrorRow] = []
    for e in errors:
        if e.role == "recovered":
            continue
        if e.role in ("origin", "rejected") or not e.cause_span_id:
            origins.append(e)
        else:
            followers.setdefault(e.cause_span_id, []).append(e)
    # a propagated error whose origin is missing from `errors` still gets a path
    for cause in followers:
        if cause not in by_span:
            span = tree.by_id.get(cause)
            if span is not None:
                origins.append(
                    ErrorRow(
                        cause,
                        span.agent_name,
                        span.name,
                        span.error_type,
                        None,
                        "origin",
                        None,
                        span.start_ns,
                    )
                )
    origins.sort(key=lambda e: (e.start_ns, e.span_id))

    def hop_key(e: ErrorRow) -> tuple[int, int, int]:
        span = tree.by_id.get(e.span_id)
        end = span.end_ns if span is not None and span.end_ns is not None else 2**63
        return (end, -tree.depth(e.span_id), e.start_ns)

    paths: list[ErrorPath] = []
    for origin in origins:
        chain = [origin, *sorted(followers.get(origin.span_id, []), key=hop_key)]
        hops = [
            Hop(
                e.span_id,
                e.span_name or (tree.by_id[e.span_id].name if e.span_id in tree.by_id else "?"),
                e.agent_name,
                e.error_type,
                e.error_message,
                e.role,
                _edges(tree, chain[i - 1], e, handoffs) if i else (),
            )
            for i, e in enumerate(chain)
        ]
        path = _with_outcome(tree, origin, hops, recovered_by, rejected_by)
        reject = rejected_by.get(origin.span_id)
        if reject is not None:
            reason = f": {reject.reason}" if reject.reason else ""
            who = reject.agent or "?"
            path = replace(path, rejected_by=f"{who}{reason}")
        paths.append(path)
    # the paths that decided the run's outcome first
    paths.sort(key=lambda p: _OUTCOME_ORDER.get(p.outcome, 9))
    return paths


_OUTCOME_ORDER = {"failed": 0, "rejected": 1, "open": 2, "absorbed": 3, "recovered": 4}


def _with_outcome(
    tree: SpanTree,
    origin: ErrorRow,
    hops: list[Hop],
    recovered_by: dict[str, str],
    rejected_by: dict[str, RejectMark],
) -> ErrorPath:
    last = tree.by_id.get(hops[-1].span_id)
    rescuer = recovered_by.get(origin.span_id)
    if rescuer is not None:
        span = tree.by_id.get(rescuer)
        who = (span.agent_name or span.name) if span else rescuer
        return ErrorPath(origin.span_id, tuple(hops), "recovered", f"recovered by {who}", rescuer)
    is_root = last is not None and (
        last.parent_span_id is None or last.parent_span_id not in tree.by_id
    )
    if last is not None and is_root and last.status == "ERROR":
        return ErrorPath(
            origin.span_id, tuple(hops), "failed", f"run failed at {last.name}", last.span_id
        )
    reject = rejected_by.get(origin.span_id)
    if reject is not None and len(hops) == 1:
        reason = f": {reject.reason}" if reject.reason else ""
        return ErrorPath(
            origin.span_id,
            tuple(hops),
            "rejected",
            f"rejected by {reject.agent}{reason}",
            reject.span_id,
        )
    where = hops[-1].agent or hops[-1].span_name
    if any(tree.by_id[r].pending for r in tree.roots if r in tree.by_id):
        return ErrorPath(
            origin.span_id, tuple(hops), "open", f"still open at {where}", hops[-1].span_id
        )
    # caught without a recovery marker (e.g. a retry loop): it stopped here
    return ErrorPath(
        origin.span_id, tuple(hops), "absorbed", f"went no further than {where}", hops[-1].span_id
    )
