"""Layer rules that import-linter cannot express (ARCHITECTURE.md, "who may import whom")."""

from __future__ import annotations

import ast
from pathlib import Path

import tracer

ROOT = Path(__file__).resolve().parents[1]


def _imports(package: str) -> list[tuple[Path, str, list[str]]]:
    """(file, module, imported names) for every import statement in a package."""
    found: list[tuple[Path, str, list[str]]] = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((path, node.module, [alias.name for alias in node.names]))
            elif isinstance(node, ast.Import):
                found.extend((path, alias.name, []) for alias in node.names)
    return found


def test_sample_pipelines_use_only_the_public_tracer_api() -> None:
    imports = _imports("sample_pipelines")
    assert imports, "sample_pipelines has no imports: the package is missing"
    uses_tracer = False
    for path, module, names in imports:
        if module == "tracer" or module.startswith("tracer."):
            uses_tracer = True
            assert module in ("tracer", "tracer.testing"), f"{path}: imports private {module}"
            for name in names:
                assert name in tracer.__all__, f"{path}: tracer.{name} is not public"
    assert uses_tracer, "sample_pipelines does not use the tracer"


def test_tui_reads_only_through_the_collector_query_layer() -> None:
    imports = _imports("tui")
    assert imports, "tui has no imports: the package is missing"
    for path, module, _names in imports:
        assert module != "duckdb", f"{path}: the TUI must not open DuckDB itself"
        if module.startswith("collector."):
            assert module in ("collector.queries",), f"{path}: imports {module}"


def test_collector_sub_packages_meet_only_through_their_public_faces() -> None:
    """collector.X._y is imported only inside collector.X (ARCHITECTURE.md: public faces)."""
    for path, module, _names in _imports("collector") + _imports("tui") + _imports("hoptrace"):
        parts = module.split(".")
        if parts[0] != "collector" or len(parts) < 3 or not parts[2].startswith("_"):
            continue
        owner = ROOT / "collector" / parts[1]
        assert owner in path.parents, f"{path}: imports {module}, private to collector.{parts[1]}"
