"""The reference for bench/collector_ingest.py: the simplest receiver that persists spans.

http.server + opentelemetry-proto + one Arrow insert a request into an open DuckDB
connection: raw rows only (ids, name, kind, times, status, attributes as JSON), no
spool, no dialects, no derivation, no views. What hoptrace collect does beyond this
(durability, promotion, whole-trace facts) is what the ratio printed beside it costs.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

_SCHEMA = pa.schema(
    [("trace_id", pa.string()), ("span_id", pa.string()), ("parent_span_id", pa.string()),
     ("name", pa.string()), ("kind", pa.int32()), ("start_ns", pa.int64()),
     ("end_ns", pa.int64()), ("status", pa.int32()), ("attributes", pa.string())]
)  # fmt: skip


def _value(v: Any) -> Any:
    which = v.WhichOneof("value")
    return getattr(v, which) if which in ("string_value", "int_value", "double_value",
                                          "bool_value") else str(getattr(v, which, ""))  # fmt: skip


def rows(body: bytes) -> pa.Table:
    request = ExportTraceServiceRequest.FromString(body)
    cols: dict[str, list[Any]] = {n: [] for n in _SCHEMA.names}
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for s in ss.spans:
                cols["trace_id"].append(s.trace_id.hex())
                cols["span_id"].append(s.span_id.hex())
                cols["parent_span_id"].append(s.parent_span_id.hex() or None)
                cols["name"].append(s.name)
                cols["kind"].append(s.kind)
                cols["start_ns"].append(s.start_time_unix_nano)
                cols["end_ns"].append(s.end_time_unix_nano)
                cols["status"].append(s.status.code)
                attrs = {kv.key: _value(kv.value) for kv in s.attributes}
                cols["attributes"].append(orjson.dumps(attrs).decode())
    return pa.table(cols, schema=_SCHEMA)


class NaiveReceiver:
    """Serve POST /v1/traces on 127.0.0.1 into `db`; `stored` counts committed spans."""

    def __init__(self, db: Path) -> None:
        self.conn = duckdb.connect(str(db))
        self.conn.execute(
            "CREATE TABLE spans (trace_id VARCHAR, span_id VARCHAR, parent_span_id VARCHAR, "
            "name VARCHAR, kind INTEGER, start_ns BIGINT, end_ns BIGINT, status INTEGER, "
            "attributes VARCHAR)"
        )
        self.lock = threading.Lock()
        self.stored = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                table = rows(body)
                with receiver.lock:
                    cursor = receiver.conn.cursor()
                    cursor.register("_batch", table)
                    cursor.execute("INSERT INTO spans SELECT * FROM _batch")
                    cursor.close()
                    receiver.stored += table.num_rows
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> NaiveReceiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.conn.close()
