"""The reference multi-agent pipeline hoptrace is built for, and `hoptrace demo`.

- `sample_pipelines.pipeline`: the pipeline (orchestrator, memory, researcher, coder,
  analyst, reviewer), written with the public `tracer` API only.
- `sample_pipelines.baseline`: the same task done by one agent on one model.
- `sample_pipelines.faults`: the faults the demo injects and their ground truth.
- `sample_pipelines.demo`: `run_demo(DemoConfig(...))`, many conversations at once.

Importing this package imports nothing heavy; litellm loads at the first model call.
"""
