"""The `hoptrace` entry point: help, version, and lazy imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hoptrace._cli import build_parser, main
from tracer._version import __version__

HEAVY = ("duckdb", "polars", "textual", "litellm", "pyarrow")


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("sql", "collect", "demo", "tui"):
        assert command in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"hoptrace {__version__}"


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "usage: hoptrace" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["sql", "--help"], ["tui", "--help"]])
def test_help_imports_nothing_heavy(argv: list[str]) -> None:
    code = (
        "import sys\n"
        "from hoptrace._cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip().splitlines()[-1] == "HEAVY="


def test_every_subcommand_has_a_handler_module() -> None:
    import importlib.util

    from hoptrace._cli import _HANDLERS

    parser = build_parser()
    subcommands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert set(subcommands) == set(_HANDLERS)
    for module in _HANDLERS.values():
        assert importlib.util.find_spec(module) is not None, module
