"""Shared fixtures: every test gets its own `Hoptrace` instance and in-memory spans."""

from __future__ import annotations

import os

# Before anything imports litellm: no network at import (see the README).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from collections.abc import Iterator

import pytest

from tracer import Hoptrace
from tracer.testing import CapturedSpans, capture_spans


@pytest.fixture
def ht() -> Hoptrace:
    """A fresh instance, so no test depends on the module-level default."""
    return Hoptrace()


@pytest.fixture
def captured(ht: Hoptrace) -> Iterator[CapturedSpans]:
    with capture_spans(ht) as spans:
        yield spans


# The fixture users get from `tracer.testing` (exercised in test_tracer_api.py).
from tracer.testing import hoptrace_spans  # noqa: E402, F401
