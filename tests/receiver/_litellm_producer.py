"""Run litellm offline (mock_response) with its built-in OTel callback exporting over OTLP/HTTP.

Run as a subprocess (litellm's callback sets the global tracer provider):
    OTEL_EXPORTER=otlp_http OTEL_ENDPOINT=http://127.0.0.1:PORT python _litellm_producer.py
Makes two successful calls and one that fails with a rate-limit error.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def main() -> int:
    import litellm
    from opentelemetry import trace

    litellm.callbacks = ["otel"]
    messages = [{"role": "user", "content": "Say hi"}]
    for _ in range(2):
        litellm.completion(model="gpt-4o-mini", messages=messages, mock_response="Hi there!")
    try:
        litellm.completion(
            model="gpt-4o-mini",
            messages=messages,
            mock_response=litellm.RateLimitError(
                "rate limited", llm_provider="openai", model="gpt-4o-mini"
            ),
            num_retries=0,
        )
    except litellm.RateLimitError:
        pass
    else:
        return 3
    time.sleep(1.0)  # litellm runs success/failure callbacks on a background worker
    provider = trace.get_tracer_provider()
    provider.force_flush()  # type: ignore[attr-defined]
    provider.shutdown()  # type: ignore[attr-defined]
    return 0


if __name__ == "__main__":
    sys.exit(main())
