"""Child process for the two-process test: exports traces continuously through the exporter.

Prints one line per finished trace: "<trace_id> <unix time just before its root ended>".
"""

from __future__ import annotations

import sys
import time

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from collector import DuckDBSpanExporter


def main() -> None:
    db, n_traces = sys.argv[1], int(sys.argv[2])
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(DuckDBSpanExporter(db)))
    tracer = provider.get_tracer("writer")
    for i in range(n_traces):
        with tracer.start_as_current_span(f"invoke_workflow run{i}") as root:
            for _ in range(9):
                with tracer.start_as_current_span("step"):
                    pass
            ending = time.time()  # the root ends (and is exported) right after this
        print(f"{root.get_span_context().trace_id:032x} {ending}", flush=True)
        time.sleep(0.01)
    provider.shutdown()
    print("done", flush=True)


if __name__ == "__main__":
    main()
