"""The examples in the README's tracer section run as written."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
pytest.importorskip("litellm")
pytestmark = pytest.mark.filterwarnings("ignore:.*`ReadOnly` qualifier:UserWarning")

DOC = Path(__file__).parents[2] / "README.md"


def _python_blocks() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Tracing your agents") :]
    section = section[: section.index("\n## ", 1)]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_quickstart_and_testing_examples_run(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = _python_blocks()
    quickstart = blocks[0]
    testing = next(b for b in blocks if "from tracer.testing import" in b)
    namespace: dict[str, object] = {}
    exec(compile(quickstart, str(DOC), "exec"), namespace)
    exec(compile(testing, str(DOC), "exec"), namespace)
    namespace["test_pipeline"]()  # type: ignore[operator]
    printed = capsys.readouterr().out
    assert "invoke_workflow pipeline" in printed
    assert "chat gpt-4o-mini" in printed
