"""A test exporter that appends every exported span as one JSON line (survives SIGKILL)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


class JsonLinesExporter(SpanExporter):
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self.path.open("a", encoding="utf-8") as f:
            for span in spans:
                record = {
                    "name": span.name,
                    "span_id": format(span.context.span_id, "016x"),
                    "pending": bool((span.attributes or {}).get("hoptrace.pending")),
                    "start": span.start_time,
                    "end": span.end_time,
                    "attributes": {k: str(v) for k, v in (span.attributes or {}).items()},
                }
                f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())
        return SpanExportResult.SUCCESS


def read(path: str | Path) -> list[dict[str, object]]:
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line]
