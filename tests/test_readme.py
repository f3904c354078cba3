"""The README is part of the product: its commands, views, columns and CLI must stay true."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hoptrace._cli import _HANDLERS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()

INSTALL_AND_DEMO = "python -m pip install -e . && hoptrace demo"
INSTALL_AND_TEST = "python -m pip install -e '.[dev]' && python -m pytest -n 2"

# issue 4: the views and the columns users may rely on
VIEW_COLUMNS: dict[str, tuple[str, ...]] = {
    "spans": (
        "trace_id",
        "span_id",
        "parent_span_id",
        "name",
        "kind",
        "service_name",
        "start_time",
        "end_time",
        "duration_ms",
        "status",
        "status_message",
        "operation",
        "agent_name",
        "model",
        "provider",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "error_type",
        "error_message",
        "pending",
        "attributes",
        "events",
        "links",
        "resource",
    ),
    "runs": (
        "trace_id",
        "name",
        "service_name",
        "start_time",
        "end_time",
        "duration_ms",
        "status",
        "span_count",
        "agent_count",
        "llm_calls",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "error_count",
        "root_cause_agent",
        "root_cause_error",
    ),
    "agents": (
        "trace_id",
        "agent_name",
        "invocations",
        "duration_ms",
        "critical_path_ms",
        "llm_calls",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "inclusive_cost_usd",
        "error_count",
    ),
    "handoffs": (
        "trace_id",
        "from_agent",
        "to_agent",
        "kind",
        "from_span_id",
        "to_span_id",
        "start_time",
        "payload_preview",
        "lineage",
        "lineage_from_call",
        "lineage_to_call",
        "lineage_text",
    ),
    "llm_calls": (
        "trace_id",
        "span_id",
        "agent_name",
        "model",
        "provider",
        "start_time",
        "duration_ms",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "status",
        "error_type",
    ),
    "errors": (
        "trace_id",
        "span_id",
        "agent_name",
        "span_name",
        "error_type",
        "error_message",
        "role",
        "cause_span_id",
        "start_time",
    ),
}


def test_the_two_setup_commands_are_there() -> None:
    assert INSTALL_AND_DEMO in README
    assert INSTALL_AND_TEST in README


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    # CI runs inside a venv, where `pip`/`pytest` are that venv's `python -m pip`/`python -m pytest`
    assert INSTALL_AND_TEST in ci


def _section(view: str) -> str:
    match = re.search(rf"^#+ [^\n]*`{view}`[^\n]*\n(.*?)(?=^#+ )", README, re.S | re.M)
    assert match, f"README has no section for view {view}"
    return match.group(1)


@pytest.mark.parametrize("view", sorted(VIEW_COLUMNS))
def test_every_view_and_column_is_documented(view: str) -> None:
    section = _section(view)
    for column in VIEW_COLUMNS[view]:
        assert re.search(rf"\b{column}\b", section), f"{view}.{column} is not documented"


@pytest.mark.parametrize("command", sorted(_HANDLERS))
def test_every_cli_command_is_documented(command: str) -> None:
    assert f"hoptrace {command}" in README


def test_every_attribute_name_is_documented() -> None:
    from tracer import semconv

    for name in semconv.__all__:
        value = getattr(semconv, name)
        if isinstance(value, str) and "." in value and not value.endswith("."):
            assert value in README, f"attribute {value} ({name}) is not in the README"
