"""How fast does `hoptrace collect` persist spans, next to how fast it can merely decode them?

One run prints, for the same pre-encoded 512-span protobuf requests (hoptrace-shaped
traces: workflow -> agents -> tools / model calls, 8-12 attributes per span):

- decode-only spans/s: `collector.otlp._decode.decode_protobuf` in one thread, no HTTP, no store;
- store-only spans/s: the decoded spans written with `SpanStore.write` in 50k-span batches
  (what the receiver's writer child does), no HTTP, and the storage floor: the same
  finished rows merely inserted and committed in one transaction;
- receiver alone: the same over HTTP with a writer that discards (the receiver's ceiling);
- persisted spans/s: 2 sender processes POST the requests concurrently over loopback
  (keep-alive, retrying 503s after Retry-After) to a `Receiver` writing into a fresh
  DuckDB file through `SpanStore`; the clock stops when every span is committed, and
  the span count is read back from the `spans` view.

Usage: .venv/bin/python bench/collector_ingest.py [--requests-per-sender 60] [--senders 2]
Target (issue 6): persisted >= 50k spans/s on 2 cores.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import os
import pickle
import random
import sys
import tempfile
import time
from pathlib import Path

SPANS_PER_REQUEST = 512


def build_requests(n_requests: int, seed: int) -> list[bytes]:
    """Encode `n_requests` bodies of 512 spans each with the real OTLP encoder."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, Status, StatusCode

    rng = random.Random(seed)
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("hoptrace", "0.1")
    agents = ["planner", "researcher", "writer", "reviewer"]
    models = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5"]

    def run_trace(i: int) -> None:
        with tracer.start_as_current_span(
            "invoke_workflow report",
            attributes={
                "gen_ai.operation.name": "invoke_workflow",
                "hoptrace.kind": "workflow",
                "gen_ai.workflow.name": "report",
                "hoptrace.input": f'{{"topic": "t{i}"}}',
            },
        ):
            for agent in agents:
                with tracer.start_as_current_span(
                    f"invoke_agent {agent}",
                    attributes={
                        "gen_ai.operation.name": "invoke_agent",
                        "hoptrace.kind": "agent",
                        "gen_ai.agent.name": agent,
                        "hoptrace.input": "x" * rng.randint(50, 300),
                        "hoptrace.output": "y" * rng.randint(50, 300),
                    },
                ) as agent_span:
                    agent_id = f"{agent_span.get_span_context().span_id:016x}"
                    for _ in range(rng.randint(1, 2)):
                        model = rng.choice(models)
                        with tracer.start_as_current_span(
                            f"chat {model}",
                            kind=SpanKind.CLIENT,
                            attributes={
                                "gen_ai.operation.name": "chat",
                                "hoptrace.kind": "llm",
                                "gen_ai.agent.name": agent,
                                "hoptrace.agent.span_id": agent_id,
                                "gen_ai.request.model": model,
                                "gen_ai.response.model": model,
                                "gen_ai.provider.name": "openai",
                                "gen_ai.usage.input_tokens": rng.randint(100, 3000),
                                "gen_ai.usage.output_tokens": rng.randint(10, 800),
                                "hoptrace.cost_usd": rng.random() / 100,
                                "hoptrace.input": "p" * rng.randint(50, 400),
                                "hoptrace.output": "o" * rng.randint(50, 400),
                            },
                        ) as chat:
                            if rng.random() < 0.03:
                                chat.set_status(Status(StatusCode.ERROR, "rate limited"))
                                chat.set_attribute("error.type", "RateLimitError")
                    with tracer.start_as_current_span(
                        "execute_tool search",
                        attributes={
                            "gen_ai.operation.name": "execute_tool",
                            "hoptrace.kind": "tool",
                            "gen_ai.tool.name": "search",
                            "gen_ai.agent.name": agent,
                            "hoptrace.agent.span_id": agent_id,
                            "hoptrace.input": '{"q": "x"}',
                            "hoptrace.output": "r" * rng.randint(20, 200),
                        },
                    ):
                        pass

    # Eight distinct requests come from the SDK; the rest are copies with fresh ids
    # (every id XORed with a per-request salt, so parent/child structure is kept).
    templates = min(n_requests, 8)
    needed = templates * SPANS_PER_REQUEST
    i = 0
    while len(exporter.get_finished_spans()) < needed:
        run_trace(i)
        i += 1
    spans = list(exporter.get_finished_spans())[:needed]
    provider.shutdown()
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    requests = [
        encode_spans(spans[k : k + SPANS_PER_REQUEST]) for k in range(0, needed, SPANS_PER_REQUEST)
    ]
    bodies = []
    for r in range(n_requests):
        request = ExportTraceServiceRequest()
        request.CopyFrom(requests[r % templates])
        salt = (r // templates).to_bytes(4, "big")
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    span.trace_id = _salted(span.trace_id, salt)
                    span.span_id = _salted(span.span_id, salt)
                    if span.parent_span_id:
                        span.parent_span_id = _salted(span.parent_span_id, salt)
        bodies.append(request.SerializeToString())
    return bodies


def _salted(ident: bytes, salt: bytes) -> bytes:
    return ident[: -len(salt)] + bytes(
        a ^ b for a, b in zip(ident[-len(salt) :], salt, strict=True)
    )


def sender(endpoint: str, bodies_file: str, start: mp.Event, out: mp.Queue) -> None:
    """Post every body of `bodies_file` on one keep-alive connection; report 503 retries."""
    bodies = pickle.loads(Path(bodies_file).read_bytes())
    host, port = endpoint.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    retries = 0
    start.wait()
    for body in bodies:
        while True:
            conn.request(
                "POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"}
            )
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                break
            if resp.status != 503:
                raise SystemExit(f"unexpected HTTP {resp.status}")
            retries += 1
            time.sleep(
                float(resp.getheader("Retry-After", "1")) / 10
            )  # bench: retry sooner than told
    conn.close()
    out.put(retries)


def _send_all(endpoint: str, bodies: list[bytes], senders: int) -> tuple[float, float, int]:
    """Sender processes post `bodies` to `endpoint`; (clock start, seconds until all answered, 503s)."""
    with tempfile.TemporaryDirectory(prefix="hoptrace-bench-") as tmp:
        ctx = mp.get_context("spawn")
        start, out = ctx.Event(), ctx.Queue()
        procs = []
        for s in range(senders):
            path = Path(tmp) / f"bodies{s}.pkl"
            path.write_bytes(pickle.dumps(bodies[s::senders]))
            proc = ctx.Process(target=sender, args=(endpoint, str(path), start, out))
            proc.start()
            procs.append(proc)
        time.sleep(1.5)  # let the sender processes import and load their bodies
        t0 = time.perf_counter()
        start.set()
        for proc in procs:
            proc.join()
        post_s = time.perf_counter() - t0
        retries = sum(out.get() for _ in procs)
    return t0, post_s, retries


def http_run(
    bodies: list[bytes], senders: int, write, spool_dir: Path | None = None
) -> tuple[float, float, int, int]:
    """Senders post `bodies` to a fresh Receiver; (all posted s, all written s, 503s, writes)."""
    from collector.otlp import Receiver
    from collector.store import Spool

    spool = Spool(spool_dir) if spool_dir is not None else None
    receiver = Receiver(write, port=0, spool=spool).start()
    t0, post_s, retries = _send_all(receiver.endpoint, bodies, senders)
    assert receiver.wait_idle(600)
    persist_s = time.perf_counter() - t0
    receiver.stop()
    if spool is not None:
        spool.close()
    return post_s, persist_s, retries, receiver.queue.writes


def naive_run(bodies: list[bytes], senders: int, db: Path) -> float:
    """The reference receiver (bench/naive_receiver.py): seconds until every span is stored."""
    from naive_receiver import NaiveReceiver

    naive = NaiveReceiver(db).start()
    _, post_s, _ = _send_all(naive.endpoint, bodies, senders)
    stored = naive.stored
    naive.stop()
    assert stored == len(bodies) * SPANS_PER_REQUEST, stored
    return post_s  # it answers after the insert: answered = persisted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests-per-sender", type=int, default=60)
    parser.add_argument("--senders", type=int, default=2)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

    from collector import SpanBatch, SpanStore, query
    from collector.otlp import decode_protobuf
    from collector.store import ProcessStore

    n_requests = args.requests_per_sender * args.senders
    t0 = time.perf_counter()
    bodies = build_requests(n_requests, seed=7)
    total = n_requests * SPANS_PER_REQUEST
    print(
        f"built {n_requests} requests x {SPANS_PER_REQUEST} spans "
        f"({sum(map(len, bodies)) / n_requests / 1024:.0f} KiB each) in {time.perf_counter() - t0:.1f}s"
    )

    # 1. decode only (same bodies, one thread)
    t0 = time.perf_counter()
    batches = [decode_protobuf(b).batch for b in bodies]
    decode_s = time.perf_counter() - t0
    assert sum(map(len, batches)) == total

    # 2. store only: the decoded spans, coalesced as the writer does, straight into SpanStore
    with tempfile.TemporaryDirectory(prefix="hoptrace-bench-") as tmp:
        store = SpanStore(Path(tmp) / "store-only.duckdb")
        t0 = time.perf_counter()
        for k in range(0, len(batches), 50_000 // SPANS_PER_REQUEST):
            merged = SpanBatch()
            for b in batches[k : k + 50_000 // SPANS_PER_REQUEST]:
                merged.extend(b)
            store.write(merged)
        store_s = time.perf_counter() - t0
        store.close()
        # the same finished rows inserted and committed, nothing else (store_ingest.py)
        from store_ingest import storage_floor

        floor_us = storage_floor(Path(tmp) / "store-only.duckdb")
    del batches

    # 3. the receiver alone: HTTP + decode + queue, the writer discards (its ceiling)
    null_s, _, null_retries, _ = http_run(bodies, args.senders, write=lambda batch: None)
    # 4. persisted through HTTP + spool + queue + writer + DuckDB: `hoptrace collect`
    with tempfile.TemporaryDirectory(prefix="hoptrace-bench-") as tmp:
        db = Path(tmp) / "bench.duckdb"
        SpanStore(db)  # the schema exists before the clock starts, as `hoptrace collect` does
        store = ProcessStore(db).start()  # what `hoptrace collect` writes through
        post_s, persist_s, retries, writes = http_run(
            bodies, args.senders, write=store.write, spool_dir=Path(tmp) / "bench.duckdb.spool"
        )
        store.close()
        stored = int(query("SELECT count(*) AS n FROM spans", db=db)["n"][0])
    assert stored == total, (stored, total)
    # 5. the same without the spool (--no-spool), and the naive reference
    with tempfile.TemporaryDirectory(prefix="hoptrace-bench-") as tmp:
        db = Path(tmp) / "bench.duckdb"
        SpanStore(db)
        store = ProcessStore(db).start()
        _, nospool_s, _, _ = http_run(bodies, args.senders, write=store.write)
        store.close()
        naive_s = naive_run(bodies, args.senders, Path(tmp) / "naive.duckdb")

    decode_rate = total / decode_s
    persist_rate = total / persist_s
    print(f"cores: {os.cpu_count()}, senders: {args.senders}, spans: {total}")
    print(
        f"decode only       : {decode_rate:10,.0f} spans/s  ({decode_s:.2f}s, one thread, no HTTP)"
    )
    print(
        f"store only        : {total / store_s:10,.0f} spans/s  ({store_s:.2f}s, SpanStore.write, no HTTP)"
    )
    print(
        f"storage floor     : {1e6 / floor_us:10,.0f} spans/s  ({floor_us:.1f} us a span: the "
        "finished rows inserted and committed, no promotion or derivation)"
    )
    print(
        f"receiver, no store: {total / null_s:10,.0f} spans/s  ({null_s:.2f}s, HTTP + decode + queue, "
        f"{null_retries} x 503)"
    )
    print(
        f"accepted (HTTP)   : {total / post_s:10,.0f} spans/s  ({post_s:.2f}s, {retries} x 503 retried)"
    )
    print(
        f"persisted (DuckDB): {persist_rate:10,.0f} spans/s  ({persist_s:.2f}s, {writes} coalesced writes)"
    )
    print(f"persisted, --no-spool: {total / nospool_s:7,.0f} spans/s  ({nospool_s:.2f}s)")
    print(
        f"naive reference   : {total / naive_s:10,.0f} spans/s  ({naive_s:.2f}s, raw rows, "
        "one insert a request, no spool, no derivation: bench/naive_receiver.py)"
    )
    print(f"persisted / naive reference = {naive_s / persist_s:.2f}   (goal >= 1.0)")
    print(
        f"persisted / decode-only = {persist_rate / decode_rate:.2f}, persisted / store-only = "
        f"{persist_rate * store_s / total:.2f}   target: persisted >= 50,000 spans/s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
