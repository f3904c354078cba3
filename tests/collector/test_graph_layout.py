"""The handoff graph on a character grid: layering, cycles, fan-out / fan-in, marks, hit boxes."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import pytest

from collector.queries import GraphEdge, GraphNode, HandoffGraph, layout_graph
from collector.queries._graph_layout import EdgeRoute, GraphGrid, NodeBox


def node(agent: str, errors: int = 0, critical: float | None = 5.0) -> GraphNode:
    return GraphNode(agent, 2, 1500.0, critical, 0.0123, errors)


def edge(src: str, dst: str, kind: str = "delegate", n: int = 1, **kw: object) -> GraphEdge:
    return GraphEdge(src, dst, n, ((kind, n),), **kw)  # type: ignore[arg-type]


def graph(nodes: list[GraphNode], edges: list[GraphEdge]) -> HandoffGraph:
    return HandoffGraph(
        tuple(sorted(nodes, key=lambda n: n.agent)),
        tuple(sorted(edges, key=lambda e: (e.source, e.target))),
        1,
        "t",
    )


# planner fans out to three workers, which fan in to a merger; the reviewer and the
# author hand work back and forth (a cycle); the error crossed planner -> w2
TEAM = graph(
    [node(a) for a in ("planner", "w1", "w3", "merger", "author", "reviewer")] + [node("w2", 1)],
    [
        edge("planner", "w1"),
        edge("planner", "w2", errors=1),
        edge("planner", "w3"),
        edge("w1", "merger", "data"),
        edge("w2", "merger", "data"),
        edge("w3", "merger", "data"),
        edge("merger", "author"),
        edge("author", "reviewer", "data", 3),
        edge("reviewer", "author", "explicit", 2, rejections=2),
    ],
)


def box(grid: GraphGrid, agent: str) -> NodeBox:
    return next(b for b in grid.nodes if b.agent == agent)


def route(grid: GraphGrid, src: str, dst: str) -> EdgeRoute:
    return next(r for r in grid.edges if (r.source, r.target) == (src, dst))


def border(b: NodeBox) -> set[tuple[int, int]]:
    """Cells just outside the top and bottom borders, where lines attach."""
    cols = range(b.col, b.col + b.width)
    return {(b.row - 1, c) for c in cols} | {(b.row + b.height, c) for c in cols}


def connected(
    cells: frozenset[tuple[int, int]], a: set[tuple[int, int]], b: set[tuple[int, int]]
) -> bool:
    start = cells & a
    if not start:
        return False
    seen, todo = set(start), deque(start)
    while todo:
        r, c = todo.popleft()
        for nxt in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
            if nxt in cells and nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return bool(seen & b)


@pytest.fixture(scope="module")
def grid() -> GraphGrid:
    return layout_graph(TEAM)


def test_every_agent_gets_a_box_with_its_text_and_boxes_never_overlap(grid: GraphGrid) -> None:
    assert sorted(b.agent for b in grid.nodes) == sorted(n.agent for n in TEAM.nodes)
    for b in grid.nodes:
        assert grid.lines[b.row][b.col] == "┌"
        assert grid.lines[b.row + 1][b.col + 2 : b.col + 2 + len(b.agent)] == b.agent
        assert "2× 1.50s $0.0123" in grid.lines[b.row + 2]
    cells = [
        {(r, c) for r in range(b.row, b.row + b.height) for c in range(b.col, b.col + b.width)}
        for b in grid.nodes
    ]
    for i, a in enumerate(cells):
        for other in cells[i + 1 :]:
            assert not a & other


def test_layers_follow_the_handoffs_fan_out_and_fan_in(grid: GraphGrid) -> None:
    planner, merger = box(grid, "planner"), box(grid, "merger")
    workers = [box(grid, w) for w in ("w1", "w2", "w3")]
    assert all(planner.row < w.row < merger.row for w in workers)
    assert len({w.row for w in workers}) == 1  # one layer, side by side
    assert merger.row < box(grid, "author").row


def test_every_edge_is_one_line_from_box_to_box_outside_every_box(grid: GraphGrid) -> None:
    assert len(grid.edges) == len(TEAM.edges)
    inside = {
        (r, c)
        for b in grid.nodes
        for r in range(b.row, b.row + b.height)
        for c in range(b.col, b.col + b.width)
    }
    for r in grid.edges:
        assert r.cells
        assert not r.cells & inside
        assert connected(r.cells, border(box(grid, r.source)), border(box(grid, r.target)))


def test_arrows_point_into_the_receiver_and_the_cycle_keeps_one_arrow_up(grid: GraphGrid) -> None:
    def arrow_into(r: EdgeRoute) -> str:
        target = box(grid, r.target)
        marks = {grid.lines[row][col] for row, col in r.cells & border(target)}
        return "".join(sorted(marks & {"▼", "▲"}))

    assert all(arrow_into(r) in ("▼", "▲") for r in grid.edges)
    forth, back = route(grid, "author", "reviewer"), route(grid, "reviewer", "author")
    assert sorted(arrow_into(r) for r in (forth, back)) == ["▲", "▼"]
    assert box(grid, "author").row != box(grid, "reviewer").row


def test_error_and_rejection_edges_are_styled_and_the_others_are_not(grid: GraphGrid) -> None:
    def tags(r: EdgeRoute) -> set[str]:
        return {grid.styles[row][col] for row, col in r.cells}

    err = route(grid, "planner", "w2")
    assert "edge-error" in tags(err)
    assert "edge-reject" in tags(route(grid, "reviewer", "author"))
    assert "edge-error" not in tags(route(grid, "planner", "w1"))
    assert "node-error" in grid.styles[box(grid, "w2").row + 2]
    # the error edge's label carries its mark
    assert err.label is None or "✗1× delegate" in grid.lines[err.label[0]]


def test_hit_boxes_find_nodes_and_edges(grid: GraphGrid) -> None:
    b = box(grid, "merger")
    assert grid.node_at(b.row + 1, b.col + 1) == b
    r = route(grid, "w3", "merger")
    cell = sorted(r.cells)[len(r.cells) // 2]
    assert grid.edge_at(*cell) is not None
    assert grid.node_at(*cell) is None


def test_layout_is_deterministic_and_self_loops_are_counted_on_the_box() -> None:
    g = graph([node("a"), node("b")], [edge("a", "b"), edge("a", "a", n=3)])
    first, second = layout_graph(g), layout_graph(g)
    assert first == second
    assert "↻3" in "\n".join(first.lines)
    assert [(r.source, r.target) for r in first.edges] == [("a", "b")]


def test_a_pure_cycle_and_a_disconnected_agent_still_lay_out() -> None:
    g = graph(
        [node("x"), node("y"), node("z"), node("alone")],
        [edge("x", "y"), edge("y", "z"), edge("z", "x")],
    )
    grid = layout_graph(g)
    assert len(grid.nodes) == 4
    assert len(grid.edges) == 3
    for r in grid.edges:
        assert connected(r.cells, border(box(grid, r.source)), border(box(grid, r.target)))


def test_thirty_agents_with_long_edges_are_routed() -> None:
    names = [f"agent{i:02d}" for i in range(30)]
    edges = [edge(names[i], names[i + 1]) for i in range(29)]
    edges += [edge(names[0], names[i]) for i in (5, 10, 20)]  # long edges through dummies
    edges += [edge(names[29], names[3], "data")]  # a long back edge
    grid = layout_graph(graph([node(n) for n in names], edges))
    assert len(grid.nodes) == 30
    assert len(grid.edges) == len(edges)
    for r in grid.edges:
        assert connected(r.cells, border(box(grid, r.source)), border(box(grid, r.target)))


def test_an_empty_graph_says_so() -> None:
    assert layout_graph(HandoffGraph((), (), 0)).lines == ("No agents.",)


def test_layout_is_the_same_in_every_process() -> None:
    """grandalf keeps some edges in sets; the layout must not depend on object addresses."""
    import subprocess
    import sys

    here = str(Path(__file__).resolve().parent)
    code = (
        f"import sys; sys.path.insert(0, {here!r});"
        "import test_graph_layout as t; from collector.queries import layout_graph;"
        "print('\\n'.join(layout_graph(t.TEAM).lines))"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
        ).stdout
        for _ in range(3)
    }
    assert len(outs) == 1
    assert outs.pop().strip() == "\n".join(layout_graph(TEAM).lines).strip()
