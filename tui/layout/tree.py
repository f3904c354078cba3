"""The span tree of one run, flattened into the rows the waterfall shows.

Spans whose parent is not in the run (not exported yet, or lost) become roots,
so an incomplete trace still renders; siblings are ordered by start time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from collector.queries import HandoffRow, SpanRow

__all__ = ["ICONS", "SpanTree", "TreeRow", "build_tree", "category", "flatten", "handoff_targets"]

# category -> icon; told apart by colour too (see the waterfall's component classes)
ICONS: dict[str, str] = {
    "workflow": "◆",
    "agent": "●",
    "handoff": "⇢",
    "tool": "⚙",
    "llm": "◇",
    "span": "·",
}


def category(span: SpanRow, handoff_targets: frozenset[str] = frozenset()) -> str:
    """workflow | agent | handoff | tool | llm | span: the collector's `span_class`.

    The class is the collector's, whatever dialect the span came in (OTel GenAI,
    OpenInference, Traceloop...): the TUI keeps no copy of those rules. An agent span
    that some handoff points at is drawn as a handoff, so the hops between agents stand
    out from agents merely called by their parent's code.
    """
    cat = span.span_class if span.span_class in ICONS else "span"
    if cat == "agent" and span.span_id in handoff_targets:
        return "handoff"
    return cat


def handoff_targets(handoffs: Iterable[HandoffRow]) -> frozenset[str]:
    """Span ids that received a handoff."""
    return frozenset(h.to_span_id for h in handoffs if h.to_span_id)


@dataclass(frozen=True, slots=True)
class SpanTree:
    """Children by parent, roots (incl. orphans) in start order, spans by id."""

    by_id: dict[str, SpanRow]
    children: dict[str, list[str]]
    roots: list[str]
    orphans: frozenset[str]

    def ancestors(self, span_id: str) -> list[str]:
        """Parent chain of a span, nearest first (stops at a missing parent or a cycle)."""
        out: list[str] = []
        seen = {span_id}
        span = self.by_id.get(span_id)
        while span is not None and span.parent_span_id in self.by_id:
            parent = span.parent_span_id
            assert parent is not None
            if parent in seen:
                break
            seen.add(parent)
            out.append(parent)
            span = self.by_id[parent]
        return out

    def depth(self, span_id: str) -> int:
        """Distance to its root."""
        return len(self.ancestors(span_id))


def build_tree(spans: Sequence[SpanRow]) -> SpanTree:
    """Index spans into a tree; a span whose parent is absent is a root (an orphan)."""
    by_id = {s.span_id: s for s in spans}
    children: dict[str, list[str]] = {}
    roots: list[str] = []
    orphans: set[str] = set()
    for s in spans:
        parent = s.parent_span_id
        if parent is None or parent == s.span_id:
            roots.append(s.span_id)
        elif parent not in by_id:
            roots.append(s.span_id)
            orphans.add(s.span_id)
        else:
            children.setdefault(parent, []).append(s.span_id)

    def order(ids: list[str]) -> None:
        ids.sort(key=lambda i: (by_id[i].start_ns, i))

    order(roots)
    for ids in children.values():
        order(ids)
    tree = SpanTree(by_id, children, roots, frozenset(orphans))
    _break_cycles(tree)
    return tree


def _break_cycles(tree: SpanTree) -> None:
    """A parent cycle (corrupt input) would hide spans; promote one member to root."""
    reached: set[str] = set()
    stack = list(tree.roots)
    while stack:
        sid = stack.pop()
        if sid in reached:
            continue
        reached.add(sid)
        stack.extend(tree.children.get(sid, ()))
    for sid in tree.by_id:
        if sid not in reached:
            tree.roots.append(sid)
            stack = [sid]
            while stack:
                cur = stack.pop()
                if cur in reached:
                    continue
                reached.add(cur)
                stack.extend(tree.children.get(cur, ()))


class TreeRow(NamedTuple):
    """One visible line of the waterfall (a tuple: 10k of them are built per fold)."""

    span: SpanRow
    depth: int
    has_children: bool
    collapsed: bool
    orphan: bool


def flatten(tree: SpanTree, collapsed: Iterable[str] = ()) -> list[TreeRow]:
    """Depth-first rows, skipping the descendants of collapsed spans.

    Iterative, so a 10k-deep chain cannot hit the recursion limit.
    """
    hidden = set(collapsed)
    rows: list[TreeRow] = []
    seen: set[str] = set()
    stack: list[tuple[str, int]] = [(r, 0) for r in reversed(tree.roots)]
    while stack:
        sid, depth = stack.pop()
        if sid in seen:
            continue
        seen.add(sid)
        kids = tree.children.get(sid, [])
        is_collapsed = sid in hidden and bool(kids)
        rows.append(TreeRow(tree.by_id[sid], depth, bool(kids), is_collapsed, sid in tree.orphans))
        if not is_collapsed:
            stack.extend((k, depth + 1) for k in reversed(kids))
    return rows
