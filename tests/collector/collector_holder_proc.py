"""Child process: holds a DuckDB file read-write (as a foreign writer would) for N seconds."""

from __future__ import annotations

import sys
import time

import duckdb


def main() -> None:
    path, seconds = sys.argv[1], float(sys.argv[2])
    con = duckdb.connect(path)
    con.execute("SELECT 1").fetchall()
    print("holding", flush=True)
    time.sleep(seconds)
    con.close()


if __name__ == "__main__":
    main()
