"""hoptrace: tracing for multi-agent LLM pipelines."""
