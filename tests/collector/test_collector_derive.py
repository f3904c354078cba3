"""Pure derivation rules on ASCII-tree fixtures (no database)."""

from __future__ import annotations

import json

import pytest

from collector.derive._trace import derive_trace

MS = 1_000_000


def tree(text: str) -> list[dict]:
    """Spans from an indented tree: `name start_ms end_ms [ERROR] [agent|llm|tool]`.

    `end_ms` may be `…` for a pending span. Agent spans are named after themselves.
    """
    spans: list[dict] = []
    stack: list[tuple[int, str]] = []
    for line in text.strip("\n").splitlines():
        depth = (len(line) - len(line.lstrip())) // 2
        name, start, end, *flags = line.split()
        while stack and stack[-1][0] >= depth:
            stack.pop()
        cls = next((f for f in flags if f in ("agent", "llm", "tool")), "span")
        spans.append(
            {
                "span_id": name,
                "parent_span_id": stack[-1][1] if stack else None,
                "name": name,
                "start_ns": int(float(start) * MS),
                "end_ns": None if end == "…" else int(float(end) * MS),
                "pending": end == "…",
                "status": "ERROR" if "ERROR" in flags else "OK",
                "span_class": cls,
                "agent_attr": name if cls == "agent" else None,
                "error_type": f"{name}Error" if "ERROR" in flags else None,
            }
        )
        stack.append((depth, name))
    return spans


def facts(text: str):
    f = derive_trace("t", tree(text))
    cols = (
        "trace_id",
        "span_id",
        "agent_name",
        "agent_span_id",
        "role",
        "cause",
        "on_cp",
        "cp_ms",
        "llm",
        "start_ns",
    )
    return f, {row[1]: dict(zip(cols, row, strict=True)) for row in f.span_rows}


def test_critical_path_last_finishing_child_walk() -> None:
    _, s = facts("""
root 0 100
  a 10 50 agent
    x 12 30 llm
    y 25 45 tool
  b 40 90 agent
    z 60 80 llm
""")
    # root keeps 90..100; b keeps 80..90 and 40..60; a ends after b starts: not on the path
    got = {k: v["cp_ms"] for k, v in s.items() if v["on_cp"]}
    assert got == pytest.approx({"root": 10 + 40, "b": 10 + 20, "z": 20})
    assert [s[k]["cp_ms"] for k in ("a", "x", "y")] == [None, None, None]


def test_critical_path_sequential_children() -> None:
    _, s = facts("""
root 0 100
  a 0 40 agent
    x 5 35 llm
  b 40 100 agent
    y 50 90 tool
""")
    got = {k: v["cp_ms"] for k, v in s.items()}
    assert got == pytest.approx({"root": 0, "b": 20, "y": 40, "a": 10, "x": 30})
    assert all(v["on_cp"] for v in s.values())


def test_unmarked_error_roles_and_agents() -> None:
    f, s = facts("""
root 0 100 ERROR
  w 1 99 ERROR agent
    t1 2 10 ERROR tool
    t2 20 30 tool
      h 21 22 ERROR
    m 40 90 ERROR llm
""")
    assert (s["m"]["role"], s["m"]["cause"]) == ("origin", None)
    assert (s["w"]["role"], s["w"]["cause"]) == ("propagated", "m")  # the latest-ending ERROR child
    assert (s["root"]["role"], s["root"]["cause"]) == ("propagated", "m")
    assert (s["t2"]["role"], s["t2"]["cause"]) == ("recovered", "h")
    assert s["t1"]["role"] == "origin"
    assert [s[k]["agent_name"] for k in ("root", "w", "t1", "h", "m")] == [None, "w", "w", "w", "w"]
    assert f.run_row["root_cause_agent"] == "w"
    assert f.run_row["root_cause_error"] == "mError"


def test_pending_root_is_running_and_orphans_are_kept() -> None:
    spans = tree("""
root 0 …
  a 10 20 agent
""")
    spans.append({**spans[1], "span_id": "orphan", "parent_span_id": "missing", "agent_attr": "o"})
    f = derive_trace("t", spans)
    assert f.run_row["status"] == "RUNNING"
    assert f.run_row["end_ns"] is None
    assert f.run_row["span_count"] == 3
    assert {r["agent_name"] for r in f.agent_rows} == {"a", "o"}


def test_nested_llm_spans_count_once() -> None:
    f, s = facts("""
root 0 10
  chat 1 9 llm
    litellm_request 2 8 llm
""")
    assert [s[k]["llm"] for k in ("root", "chat", "litellm_request")] == [False, True, False]
    assert f.run_row["llm_calls"] == 1


def test_parent_cycle_does_not_lose_spans() -> None:
    spans = tree("""
a 0 10 agent
b 1 9
""")
    spans[0]["parent_span_id"], spans[1]["parent_span_id"] = "b", "a"  # corrupt ids: a cycle
    f = derive_trace("t", spans)
    assert {r[1] for r in f.span_rows} == {"a", "b"}
    assert f.run_row["span_count"] == 2


def test_repeated_span_ids_cannot_make_derivation_loop() -> None:
    # corrupt input: two spans share the id "x", the second one below x's own child
    spans = tree("""
root 0 100
  x 10 90 agent
    y 20 80
""")
    spans.append({**spans[1], "parent_span_id": "y", "start_ns": 30 * MS, "end_ns": 70 * MS})
    f = derive_trace("t", spans)  # returns (before the guards, the walk never ended)
    # the store never holds two copies of an id (an upsert replaces); only termination
    # and coverage are promised for such input
    assert {r[1] for r in f.span_rows} == {"root", "x", "y"}
    assert f.run_row["status"] == "OK"


# --- root cause follows content lineage: data handoffs from a rejected output ---------


def _with(spans: list[dict], **cols_by_span: dict) -> list[dict]:
    for s in spans:
        s.update(cols_by_span.get(s["span_id"], {}))
    return spans


def _rejects(producer: str) -> dict:
    return {"rejects": json.dumps([{"span_id": producer, "reason": "too vague"}])}


def _fed_by(*producers: str, kind: str = "data") -> dict:
    links = [{"span_id": p, "kind": kind, "from_agent": p} for p in producers]
    return {"handoff_links": json.dumps(links)}


LINEAGE = """
root 0 100 ERROR
  drafter 5 20 agent
  other 21 24 agent
  reviewer 25 40 agent
  consumer 45 90 ERROR agent
    chat 50 80 ERROR llm
"""


def _root_cause(spans: list[dict]) -> tuple:
    run = derive_trace("t", spans).run_row
    keys = ("root_cause_agent", "root_cause_span_id", "root_cause_error", "root_cause_message")
    return tuple(run[k] for k in keys)


def test_root_cause_blames_the_producer_of_a_rejected_input() -> None:
    spans = _with(tree(LINEAGE), reviewer=_rejects("drafter"), consumer=_fed_by("drafter"))
    assert _root_cause(spans) == ("drafter", "drafter", "Rejected", "too vague")
    # the consumer's own error is still where it started; only the run's blame moves
    roles = {r[1]: (r[4], r[5]) for r in derive_trace("t", spans).span_rows}
    assert roles["chat"] == ("origin", None)
    assert roles["consumer"] == ("propagated", "chat")
    assert roles["drafter"] == ("rejected", None)


@pytest.mark.parametrize(
    "cols",
    [
        {},  # no rejection, no handoff
        {"consumer": _fed_by("drafter")},  # a data handoff, but nothing rejected
        {"reviewer": _rejects("drafter")},  # rejected, but it never reached the consumer
        {"reviewer": _rejects("drafter"), "consumer": _fed_by("other")},  # other input only
        {"reviewer": _rejects("drafter"), "consumer": _fed_by("drafter", kind="explicit")},
    ],
    ids=["plain", "not-rejected", "not-handed-over", "other-input", "explicit-handoff"],
)
def test_root_cause_unchanged_without_a_rejected_lineage(cols: dict) -> None:
    spans = _with(tree(LINEAGE), **cols)
    assert _root_cause(spans) == ("consumer", "chat", "chatError", None)


def _chain(hops: int) -> list[dict]:
    """a0 -> a1 -> ... -> a{hops} by data handoffs; the reviewer rejects a0; the last raises."""
    lines = ["root 0 1000 ERROR", "  a0 1 10 agent", "  reviewer 11 20 agent"]
    lines += [f"  a{i} {20 * i + 10} {20 * i + 25} agent" for i in range(1, hops)]
    last = 20 * hops + 10
    lines += [f"  a{hops} {last} {last + 15} ERROR agent", f"    boom {last + 1} {last + 5} ERROR"]
    cols = {f"a{i}": _fed_by(f"a{i - 1}") for i in range(1, hops + 1)}
    return _with(tree("\n".join(lines)), reviewer=_rejects("a0"), **cols)


@pytest.mark.parametrize(("hops", "blamed"), [(1, "a0"), (2, "a0"), (3, "a0"), (4, "a4")])
def test_root_cause_lineage_reaches_three_hops(hops: int, blamed: str) -> None:
    agent, span, error, _ = _root_cause(_chain(hops))
    assert (agent, error) == ((blamed, "Rejected") if blamed == "a0" else (blamed, "boomError"))
    assert span == ("a0" if blamed == "a0" else "boom")


def test_root_cause_lineage_prefers_the_nearest_rejection() -> None:
    spans = _chain(2)
    # a1's output was rejected too: one hop from the failing a2, nearer than a0
    assert spans[2]["span_id"] == "reviewer"
    spans[2]["rejects"] = json.dumps(
        [{"span_id": "a0", "reason": "too vague"}, {"span_id": "a1", "reason": "off topic"}]
    )
    assert _root_cause(spans) == ("a1", "a1", "Rejected", "off topic")
