"""`import tracer` must stay light: it is imported into users' agent processes."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("textual", "duckdb", "polars", "litellm", "pyarrow", "collector", "tui")


def _modules_after(statement: str) -> set[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return set(json.loads(out.stdout))


def test_import_tracer_leaves_heavy_modules_out() -> None:
    loaded = _modules_after("import tracer")
    assert "tracer" in loaded
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}


def test_decorating_and_tracing_in_memory_stays_light() -> None:
    loaded = _modules_after(
        "import tracer\n"
        "from tracer.testing import capture_spans\n"
        "with capture_spans():\n"
        "    tracer.agent(lambda: None)()\n"
    )
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}
