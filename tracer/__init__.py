"""hoptrace: tracing for multi-agent LLM pipelines.

Decorate the agent functions you already have; every agent, tool and model
call becomes an OpenTelemetry span, handoffs become links, errors know where
they started, model calls carry tokens and cost.

```py
import tracer

@tracer.agent(model="gpt-4o-mini")
def writer(brief: str) -> str: ...

@tracer.workflow
def pipeline(topic: str) -> str:
    return writer(topic)
```

All state lives in a `Hoptrace` instance; the functions here are bound methods
of the default one. Importing this package never imports litellm, DuckDB,
Polars, Textual or pyarrow.
"""

from __future__ import annotations

from ._hoptrace import Hoptrace
from ._litellm import instrument_litellm
from ._llm import LlmCall
from ._pending import PendingSpanProcessor, span_processor
from ._version import __version__

DEFAULT_INSTANCE: Hoptrace = Hoptrace()
"""The instance behind the module-level functions."""

agent = DEFAULT_INSTANCE.agent
tool = DEFAULT_INSTANCE.tool
workflow = DEFAULT_INSTANCE.workflow
span = DEFAULT_INSTANCE.span
handoff = DEFAULT_INSTANCE.handoff
reject = DEFAULT_INSTANCE.reject
set_run_attributes = DEFAULT_INSTANCE.set_run_attributes
llm_call = DEFAULT_INSTANCE.llm_call
configure = DEFAULT_INSTANCE.configure
flush = DEFAULT_INSTANCE.flush
shutdown = DEFAULT_INSTANCE.shutdown

__all__ = [
    "DEFAULT_INSTANCE",
    "Hoptrace",
    "LlmCall",
    "PendingSpanProcessor",
    "__version__",
    "agent",
    "configure",
    "flush",
    "handoff",
    "instrument_litellm",
    "llm_call",
    "reject",
    "set_run_attributes",
    "shutdown",
    "span",
    "span_processor",
    "tool",
    "workflow",
]
