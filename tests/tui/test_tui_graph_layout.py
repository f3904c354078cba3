"""The graph's navigation order, direction moves and handoff text, without Textual."""

from __future__ import annotations

from collector.queries import EdgeHandoff, GraphEdge, GraphNode, HandoffGraph
from tui.layout.graph import handoff_lines, layout_graph, nearest, node_lines, targets


def _graph() -> HandoffGraph:
    nodes = tuple(GraphNode(a, 1, 100.0, None, None, 0) for a in ("a", "b", "c", "d"))
    edges = (
        GraphEdge("a", "b", 2, (("delegate", 2),)),
        GraphEdge("a", "c", 1, (("data", 1),), errors=1),
        GraphEdge("b", "d", 1, (("explicit", 1),)),
    )
    return HandoffGraph(nodes, edges, 1, "t")


def test_targets_list_nodes_in_reading_order_then_every_edge() -> None:
    grid = layout_graph(_graph())
    order = targets(grid)
    assert [k for k, _ in order] == ["node"] * 4 + ["edge"] * 3
    rows = [grid.nodes[i].row for k, i in order if k == "node"]
    assert rows == sorted(rows)


def test_moves_go_the_way_of_the_arrow_key_and_stay_put_at_the_edge_of_the_graph() -> None:
    grid = layout_graph(_graph())
    order = targets(grid)
    top = ("node", next(i for i, b in enumerate(grid.nodes) if b.agent == "a"))
    assert nearest(grid, top, "up", order) == top
    down = nearest(grid, top, "down", order)
    assert down != top
    assert nearest(grid, down, "up", order) == top
    bottom = ("node", next(i for i, b in enumerate(grid.nodes) if b.agent == "d"))
    assert nearest(grid, bottom, "down", order) == bottom


def test_handoff_lines_describe_the_edge_and_stand_for_the_receiving_span() -> None:
    edge = _graph().edges[1]
    rows = [
        EdgeHandoff("t1" * 16, "data", "p1", "r1", '{"notes": "x"}', 1_768_467_600 * 10**9),
        EdgeHandoff("t2" * 16, "data", "p2", None, None, 1_768_467_601 * 10**9),
    ]
    lines, ids = handoff_lines(edge, rows)
    assert lines[0].text == "a → c: 1 data  (✗ 1 error hop(s) crossed)"
    assert lines[1].span_id == "r1"
    assert '{"notes": "x"}' in lines[1].text
    assert "run t1t1t1t1" in lines[1].text
    assert lines[2].span_id == "p2"  # the receiver never ran: the sender's span
    assert "(receiver never ran)" in lines[2].text
    assert ids == [None, "t1" * 16, "t2" * 16]
    one_run, _ = handoff_lines(edge, rows[:1], many_runs=False)
    assert "run " not in one_run[1].text


def test_node_lines_list_the_agents_edges() -> None:
    lines = node_lines(_graph(), "a")
    assert lines[0].text.startswith("a: 1 invocations")
    assert [line.text for line in lines[1:3]] == ["  a → b: 2× delegate", "  a → c: ✗1× data"]
