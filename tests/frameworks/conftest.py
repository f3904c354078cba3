"""The multi-agent framework tests (issue 12) run only where the `frameworks` extra is installed
(the separate .venv-fw of .ci/run); elsewhere every test here is skipped. The modules import
their framework only inside the tests, so collecting them costs nothing."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

_FRAMEWORKS = (
    "langgraph",
    "langgraph_supervisor",
    "smolagents",
    "autogen_agentchat",
    "google.adk",
    "strands",
)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a missing parent package of a dotted name
        return False


MISSING = [m for m in _FRAMEWORKS if not _installed(m)]


def pytest_report_header() -> str:
    if MISSING:
        return f"tests/frameworks: skipped (not installed: {', '.join(MISSING)}; see .ci/run)"
    return "tests/frameworks: all frameworks installed"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    # the test modules import their framework inside the tests, so they collect anywhere
    skip = pytest.mark.skip(reason=f"frameworks not installed ({', '.join(MISSING)}): see .ci/run")
    for item in items:
        if here in Path(str(item.fspath)).parents:
            if MISSING:
                item.add_marker(skip)
            # the frameworks' own deprecation noise, which pyproject turns into errors
            item.add_marker(pytest.mark.filterwarnings("ignore::DeprecationWarning"))
            item.add_marker(pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"))
            item.add_marker(pytest.mark.filterwarnings("ignore::UserWarning"))
            item.add_marker(pytest.mark.filterwarnings("ignore::FutureWarning"))


@pytest.fixture
def store_receiver(tmp_path: Path) -> Iterator[tuple[object, Path]]:
    """A real receiver on 127.0.0.1 writing into a real store file."""
    from collector import SpanStore
    from collector.otlp import Receiver

    db = tmp_path / "frameworks.duckdb"
    store = SpanStore(db)
    receiver = Receiver(store.write, port=0).start()
    yield receiver, db
    assert receiver.stop(30)
