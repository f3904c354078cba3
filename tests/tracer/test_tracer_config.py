"""configure(), zero-config, an existing global provider, OTLP, atexit, run attributes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from tracer import Hoptrace, semconv
from tracer._config import traces_url
from tracer.testing import CapturedSpans


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["HOPTRACE_DB"] = str(tmp_path / "spans.duckdb")
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    env.update(extra)
    return env


def _run(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],  # parts are dedented already
        env=_env(tmp_path, **env),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


PIPELINE = """
import tracer

@tracer.tool
def search(q):
    return [q]

@tracer.agent
def researcher(topic):
    search(topic)
    return "notes about " + topic

@tracer.workflow
def pipeline(topic):
    tracer.set_run_attributes(injected_fault="none")
    return researcher(topic)
"""


@pytest.mark.slow
def test_zero_config_writes_the_duckdb_file_at_exit(tmp_path: Path) -> None:
    # No configure(), no flush(): the atexit hook must export everything.
    _run(PIPELINE + "\npipeline('cats')\n", tmp_path)
    from collector import query

    db = tmp_path / "spans.duckdb"
    spans = query("SELECT name, pending, service_name FROM spans ORDER BY name", db=db).to_dicts()
    assert [s["name"] for s in spans] == [
        "execute_tool search",
        "invoke_agent researcher",
        "invoke_workflow pipeline",
    ]
    assert not any(s["pending"] for s in spans)
    assert {s["service_name"] for s in spans} == {"hoptrace"}
    runs = query("SELECT name, status, attributes FROM runs", db=db).to_dicts()
    assert len(runs) == 1
    assert runs[0]["status"] == "OK"
    assert "hoptrace.run.injected_fault" in str(runs[0]["attributes"])


@pytest.mark.slow
def test_sigkill_with_the_default_sink_leaves_pending_spans_in_duckdb(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import time
        import tracer

        @tracer.agent
        def hung(task):
            print("ready", flush=True)
            time.sleep(3600)

        @tracer.workflow
        def pipeline():
            hung("stuck")

        pipeline()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        env=_env(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        # The live sink exports within ~0.5 s; on a loaded machine allow more,
        # polling the file as the live view does.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(_rows(tmp_path / "spans.duckdb")) < 2:
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    rows = _rows(tmp_path / "spans.duckdb")
    assert rows == [
        {"name": "invoke_agent hung", "pending": True},
        {"name": "invoke_workflow pipeline", "pending": True},
    ]


def _rows(db: Path) -> list[dict[str, object]]:
    from collector import StoreError, query

    if not db.exists():
        return []
    try:
        return query("SELECT name, pending FROM spans ORDER BY name", db=db).to_dicts()
    except StoreError:
        return []


def test_existing_global_provider_is_used_not_replaced(tmp_path: Path) -> None:
    code = (
        textwrap.dedent("""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    mine = TracerProvider()
    mine.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(mine)
    """)
        + PIPELINE
        + textwrap.dedent("""
    pipeline("x")
    assert trace.get_tracer_provider() is mine
    assert tracer.DEFAULT_INSTANCE.tracer_provider is mine
    assert len(mine._active_span_processor._span_processors) == 1  # nothing added
    print(sorted(s.name for s in exporter.get_finished_spans()))
    """)
    )
    out = _run(code, tmp_path)
    assert out.stdout.strip() == (
        "['execute_tool search', 'invoke_agent researcher', 'invoke_workflow pipeline']"
    )
    assert not (tmp_path / "spans.duckdb").exists()


def test_created_provider_becomes_global_so_other_instrumentations_join(tmp_path: Path) -> None:
    code = """
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    import tracer

    @tracer.agent
    def worker():
        other = trace.get_tracer("some.other.instrumentation")
        with other.start_as_current_span("http GET") as s:
            return s.get_span_context().trace_id, trace.get_current_span().get_span_context()

    trace_id, _ = worker()
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    assert provider is tracer.DEFAULT_INSTANCE.tracer_provider
    tracer.flush()
    from collector import query
    rows = query("SELECT name, trace_id, parent_span_id IS NOT NULL AS child FROM spans ORDER BY name").to_dicts()
    print(rows)
    assert [r["name"] for r in rows] == ["http GET", "invoke_agent worker"]
    assert rows[0]["trace_id"] == rows[1]["trace_id"]
    assert rows[0]["child"]
    """
    _run(code, tmp_path)


class _OtlpSink(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, int]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append((self.path, self.headers.get("Content-Type", ""), len(body)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def otlp_server() -> Iterator[tuple[str, list[tuple[str, str, int]]]]:
    received: ClassVar[list[tuple[str, str, int]]] = []
    handler = type("Handler", (_OtlpSink,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("how", ["configure", "env"])
def test_endpoint_sends_otlp_http_protobuf(
    tmp_path: Path, otlp_server: tuple[str, list[tuple[str, str, int]]], how: str
) -> None:
    base, received = otlp_server
    if how == "configure":
        _run(
            f"import tracer\ntracer.configure(endpoint={base!r})\n"
            + PIPELINE
            + "\npipeline('x')\n",
            tmp_path,
        )
    else:
        _run(PIPELINE + "\npipeline('x')\n", tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=base)
    assert received
    assert {path for path, _, _ in received} == {"/v1/traces"}
    assert {ctype for _, ctype, _ in received} == {"application/x-protobuf"}
    assert not (tmp_path / "spans.duckdb").exists()


def test_unreachable_endpoint_never_breaks_the_program(tmp_path: Path) -> None:
    out = _run(
        "import tracer\ntracer.configure(endpoint='http://127.0.0.1:9')\n"
        + PIPELINE
        + "\nprint(pipeline('x'))\ntracer.flush(timeout_millis=2000)\n",
        tmp_path,
    )
    assert out.stdout.strip() == "notes about x"


def test_traces_url_follows_the_otel_env_rules() -> None:
    assert traces_url("http://h:4318") == "http://h:4318/v1/traces"
    assert traces_url("http://h:4318/") == "http://h:4318/v1/traces"
    assert traces_url("http://h:4318/v1/traces") == "http://h:4318/v1/traces"


def test_set_run_attributes_on_the_root(ht: Hoptrace, captured: CapturedSpans) -> None:
    @ht.agent
    def inner() -> None:
        ht.set_run_attributes(injected_fault="writer", severity=3, conversation_id="conv-1")

    @ht.workflow
    def pipeline() -> None:
        inner()

    ht.set_run_attributes(trial=7, tags={"a": 1})  # before any run: goes on the next root
    pipeline()
    pipeline()
    first, second = [s for s in captured.spans if s.name == "invoke_workflow pipeline"]
    assert first.attributes["hoptrace.run.injected_fault"] == "writer"
    assert first.attributes["hoptrace.run.severity"] == 3
    assert first.attributes[semconv.GEN_AI_CONVERSATION_ID] == "conv-1"
    assert first.attributes["hoptrace.run.trial"] == 7
    assert first.attributes["hoptrace.run.tags"] == '{"a":1}'
    assert "hoptrace.run.trial" not in second.attributes
    assert (
        "hoptrace.run.injected_fault"
        not in next(s for s in captured.spans if s.name == "invoke_agent inner").attributes
    )


def test_flush_and_shutdown_never_raise(ht: Hoptrace) -> None:
    assert ht.flush() is True  # nothing configured yet: a no-op
    ht.shutdown()


def test_reconfigure_after_zero_config_uses_the_new_db(tmp_path: Path) -> None:
    code = f"""
import tracer
from collector import query

@tracer.agent
def first():
    return None

@tracer.agent
def second():
    return None

first()                       # zero-config: $HOPTRACE_DB, global provider installed
tracer.flush()
tracer.configure(db={str(tmp_path / "other.duckdb")!r})
second()
tracer.flush()
print(query("SELECT name FROM spans", db={str(tmp_path / "spans.duckdb")!r}).rows())
print(query("SELECT name FROM spans", db={str(tmp_path / "other.duckdb")!r}).rows())
"""
    out = _run(code, tmp_path)
    assert out.stdout.split("\n")[:2] == [
        "[('invoke_agent first',)]",
        "[('invoke_agent second',)]",
    ]
