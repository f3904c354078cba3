"""sample_pipelines."""
