"""The CrewAI tests (issue 12) run only where the `crewai` extra is installed (the separate
.venv-crewai of .ci/run: crewai's pins would downgrade google-adk in .venv-fw); elsewhere every
test here is skipped. The test module imports crewai only inside its tests."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

_MODULES = ("crewai", "openinference.instrumentation.crewai")


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a missing parent package of a dotted name
        return False


MISSING = [m for m in _MODULES if not _installed(m)]


def pytest_report_header() -> str:
    if MISSING:
        return (
            f"tests/frameworks_crewai: skipped (not installed: {', '.join(MISSING)}; see .ci/run)"
        )
    return "tests/frameworks_crewai: crewai installed"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    skip = pytest.mark.skip(reason=f"crewai not installed ({', '.join(MISSING)}): see .ci/run")
    for item in items:
        if here in Path(str(item.fspath)).parents:
            if MISSING:
                item.add_marker(skip)
            # crewai's and its dependencies' own warnings, which pyproject turns into errors
            for category in ("DeprecationWarning", "PendingDeprecationWarning", "UserWarning",
                             "FutureWarning", "RuntimeWarning", "ImportWarning"):  # fmt: skip
                item.add_marker(pytest.mark.filterwarnings(f"ignore::{category}"))


@pytest.fixture
def store_receiver(tmp_path: Path) -> Iterator[tuple[object, Path]]:
    """A real receiver on 127.0.0.1 writing into a real store file."""
    from collector import SpanStore
    from collector.otlp import Receiver

    db = tmp_path / "crewai.duckdb"
    store = SpanStore(db)
    receiver = Receiver(store.write, port=0).start()
    yield receiver, db
    assert receiver.stop(30)
