"""`hoptrace mcp` end to end: the MCP SDK's own client launches it over stdio as a
subprocess, lists the tools, calls every one, and sees writing SQL refused."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hoptrace._mcp import MAX_TEXT, TOOL_NAMES, answer, clip

pytestmark = pytest.mark.slow

ENV = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
ENV.pop("HOPTRACE_DB", None)

WRITES = (
    "DROP VIEW runs",
    "INSERT INTO span_t (trace_id) VALUES ('x')",
    "CREATE TABLE t AS SELECT 1",
    "COPY runs TO 'out.csv'",
    "ATTACH 'other.duckdb' AS o",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SET enable_external_access = true",
    "SELECT 1; DROP VIEW runs",
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("mcp")
    db = where / "demo.duckdb"
    done = subprocess.run(
        [sys.executable, "-m", "hoptrace._cli", "demo", "--runs", "4", "--seed", "3",
         "--fail-rate", "0.6", "--db", str(db)],
        capture_output=True, text=True, timeout=240, env=ENV, cwd=where,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return db


async def _session(
    db: Path, calls: list[tuple[str, dict[str, Any]]]
) -> tuple[list[str], list[Any]]:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "hoptrace._cli", "mcp", "--db", str(db)],
        env={"LITELLM_LOCAL_MODEL_COST_MAP": "True"},
        cwd=str(db.parent),
    )
    async with Client(params, read_timeout_seconds=120) as client:
        tools = [t.name for t in (await client.list_tools()).tools]
        results = [await client.call_tool(name, args) for name, args in calls]
    return tools, results


def _text(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


def _data(result: Any) -> Any:
    assert not result.is_error, _text(result)
    return json.loads(_text(result))


def test_every_tool_over_stdio_and_writing_sql_refused(store: Path) -> None:
    import asyncio

    import duckdb

    before = hashlib.sha256(store.read_bytes()).hexdigest()
    con = duckdb.connect(str(store), read_only=True)
    failed, origin = con.execute(
        "SELECT e.trace_id, e.span_id FROM errors e JOIN runs r USING (trace_id)"
        " WHERE r.status = 'ERROR' AND e.role = 'origin' ORDER BY e.trace_id, e.start_ns LIMIT 1"
    ).fetchone()  # type: ignore[misc]
    (ok,) = con.execute(
        "SELECT trace_id FROM runs WHERE status = 'OK' ORDER BY trace_id LIMIT 1"
    ).fetchone()  # type: ignore[misc]
    con.close()
    calls: list[tuple[str, dict[str, Any]]] = [
        ("list_runs", {}),
        ("list_runs", {"status": "ERROR", "limit": 1}),
        ("run_summary", {"trace_id": failed[:12]}),
        ("span", {"trace_id": failed, "span_id": origin}),
        ("agents", {}),
        ("insights", {"limit": 3, "model": "gpt-4o-mini"}),
        ("compare_runs", {"run_a": failed, "run_b": ok}),
        ("sql", {"query": "SELECT trace_id, status FROM runs ORDER BY trace_id"}),
        ("sql", {"query": "SELECT * FROM spans", "max_rows": 5000}),
        ("run_summary", {"trace_id": "ffffffffffff"}),
        *(("sql", {"query": q}) for q in WRITES),
    ]
    tools, results = asyncio.run(_session(store, calls))
    assert sorted(tools) == sorted(TOOL_NAMES)
    runs, errors_only, summary, span, agents, insights, compare, sql, capped, missing = results[:10]

    listed = _data(runs)
    assert listed["count"] == 4
    assert {r["trace_id"] for r in listed["runs"]} >= {failed, ok}
    one = _data(errors_only)
    assert len(one["runs"]) == 1
    assert one["runs"][0]["status"] == "ERROR"
    assert "older runs not shown" in one.get("note", "") or one["count"] == 1

    s = _data(summary)
    assert s["trace_id"] == failed  # a unique prefix is enough
    assert s["status"] == "ERROR"
    assert s["root_cause"]["agent"]
    assert s["error_paths"][0][0]["role"] == "origin"
    assert {a["agent"] for a in s["agents"]}

    sp = _data(span)
    assert sp["span_id"] == origin
    assert sp["status"] == "ERROR"
    assert sp["error_role"] == "origin"

    assert {a["agent"] for a in _data(agents)["agents"]} >= {"orchestrator"}

    ins = _data(insights)
    assert ins["runs"] == 4
    assert 1 <= len(ins["insights"]) <= 3
    assert all(len(i["evidence"]) <= 3 for i in ins["insights"])

    cmp = _data(compare)
    assert cmp["a"]["trace_id"] == failed
    assert cmp["b"]["trace_id"] == ok

    table = _data(sql)
    assert table["columns"] == ["trace_id", "status"]
    assert len(table["rows"]) == 4
    big = _data(capped)
    # at most 500 rows, fewer when the answer would pass its size: said either way
    assert 0 < len(big["rows"]) <= 500
    assert "rows" in big["note"]

    assert missing.is_error
    assert "no run" in _text(missing)

    for query, result in zip(WRITES, results[10:], strict=True):
        assert result.is_error, query
        text = _text(result).lower()
        assert "refused" in text or "read-only" in text, (query, text)
    # nothing the server did changed the file
    assert hashlib.sha256(store.read_bytes()).hexdigest() == before
    assert not (store.parent / "out.csv").exists()


def test_long_values_and_answers_are_cut_with_a_note() -> None:
    long = "x" * (MAX_TEXT + 10)
    assert clip(long).endswith(f"[truncated: {MAX_TEXT + 10} chars]")
    assert clip("short") == "short"
    assert clip(3) == 3
    cut = json.loads(answer({"rows": ["y" * 1000] * 100, "columns": ["c"]}))
    assert 0 < len(cut["rows"]) < 100
    assert "of 100 rows" in cut["note"]
    assert answer("z" * 100_000).endswith("chars; ask for less]")
    assert json.loads(answer({"a": 1})) == {"a": 1}


def test_help_names_the_transport_and_imports_no_sdk() -> None:
    code = (
        "import sys\nfrom hoptrace._cli import main\n"
        "try:\n    main(['mcp', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('MCP=' + str('mcp' in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=ENV
    )
    assert "stdio" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "MCP=False"


def test_streamable_http_on_loopback(store: Path) -> None:
    import asyncio
    import socket
    import time

    from mcp import Client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "hoptrace._cli", "mcp", "--db", str(store), "--http", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV, cwd=store.parent,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:  # the server is up once it accepts connections
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)

        async def ask() -> Any:
            async with Client(f"http://127.0.0.1:{port}/mcp") as client:
                return await client.call_tool("list_runs", {"limit": 2})

        result = asyncio.run(ask())
        assert _data(result)["count"] == 4
    finally:
        proc.terminate()
        proc.wait(timeout=30)
