"""`python -m collector.store._writer_main`: the writer child's entry point.

A module of its own because `collector.store` imports `_writer_proc`: running that one
with -m would execute it a second time as __main__ (runpy warns, and its module state
would exist twice).
"""

from __future__ import annotations

import sys

from collector.store._writer_proc import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
