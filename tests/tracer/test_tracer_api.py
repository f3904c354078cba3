"""The public surface: `__all__` sorted and complete; `tracer.testing` helpers."""

from __future__ import annotations

import contextlib
import types

import pytest

import tracer
import tracer.testing
from tracer import Hoptrace
from tracer.testing import (
    IncrementalIdGenerator,
    by_name,
    capture_spans,
    error_role,
    find,
    handoff_links,
    span_id,
    tree,
)


def _public_names(module: types.ModuleType) -> list[str]:
    return sorted(
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name not in ("annotations",)
    )


def test_all_is_sorted_and_complete() -> None:
    assert tracer.__all__ == sorted(tracer.__all__)
    assert sorted(set(tracer.__all__) - {"__version__"}) == _public_names(tracer)
    for name in tracer.__all__:
        assert hasattr(tracer, name)


def test_required_names_exist() -> None:
    for name in (
        "agent",
        "tool",
        "workflow",
        "span",
        "handoff",
        "reject",
        "configure",
        "flush",
        "shutdown",
        "set_run_attributes",
        "llm_call",
        "instrument_litellm",
        "Hoptrace",
        "PendingSpanProcessor",
    ):
        assert name in tracer.__all__
    # module-level functions are bound methods of the default instance
    assert tracer.agent.__self__ is tracer.DEFAULT_INSTANCE  # type: ignore[attr-defined]


def test_testing_all_is_complete() -> None:
    for name in tracer.testing.__all__:
        assert hasattr(tracer.testing, name)


def test_incremental_ids_and_tree() -> None:
    ht = Hoptrace()

    @ht.tool
    def search() -> None:
        return None

    @ht.agent
    def writer() -> None:
        search()
        with contextlib.suppress(RuntimeError):
            failing()

    @ht.tool
    def failing() -> None:
        raise RuntimeError("x")

    @ht.workflow
    def pipeline() -> None:
        writer()
        writer()

    with capture_spans(ht) as captured:
        pipeline()
    spans = captured.spans
    root = find(spans, "invoke_workflow pipeline")
    assert span_id(root) == "0000000000000001"
    assert root.context.trace_id == 1
    assert tree(spans) == "\n".join(
        [
            "invoke_workflow pipeline",
            "├─ invoke_agent writer",
            "│  ├─ execute_tool search",
            "│  └─ execute_tool failing !",
            "└─ invoke_agent writer",
            "   ├─ execute_tool search",
            "   └─ execute_tool failing !",
        ]
    )
    assert len(by_name(spans, "writer")) == 2
    assert error_role(by_name(spans, "failing")[0]) == "origin"
    assert error_role(by_name(spans, "writer")[0]) == "recovered"
    assert handoff_links(root) == []
    with pytest.raises(LookupError, match="2 spans match 'writer'"):
        find(spans, "writer")
    gen = IncrementalIdGenerator()
    assert [gen.generate_span_id(), gen.generate_span_id(), gen.generate_trace_id()] == [1, 2, 1]


def test_capture_spans_restores_the_previous_configuration() -> None:
    ht = Hoptrace()

    @ht.agent
    def a() -> None:
        return None

    with capture_spans(ht) as outer:
        with capture_spans(ht) as inner:
            a()
        a()
    assert len(inner.spans) == 1
    assert len(outer.spans) == 1


def test_hoptrace_spans_fixture(hoptrace_spans: tracer.testing.CapturedSpans) -> None:
    @tracer.agent
    def default_instance_agent() -> str:
        return "ok"

    default_instance_agent()
    assert find(hoptrace_spans.spans, "default_instance_agent").name == (
        "invoke_agent default_instance_agent"
    )
