"""The `hoptrace` command-line interface (the libraries are `tracer`, `collector`, `tui`)."""
