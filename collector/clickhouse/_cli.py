"""`hoptrace derive --store URL [--worker I/N] [--once]`: the ClickHouse derive worker.

Exit codes: 0 ok (after `--once`, or on Ctrl-C); 1 the store cannot be opened at start,
or (with `--once`) refused the pass; 2 bad arguments. A loop outlives a store that goes
away: a failed pass is reported and retried, backing off up to 30 s.
"""

from __future__ import annotations

import argparse
import sys
import time

MAX_BACKOFF_S = 30.0
"""The longest wait between failed passes of a `hoptrace derive` loop."""


def parse_worker(text: str) -> tuple[int, int]:
    """`I/N` -> (I, N), with 0 <= I < N; ValueError otherwise."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--worker takes I/N (e.g. 0/4), not {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise ValueError(f"--worker {text}: need 0 <= I < N")
    return i, n


def run(args: argparse.Namespace) -> int:
    """Entry point called by `hoptrace._cli`."""
    from collector.clickhouse import (
        ClickHouseError,
        ClickHouseStore,
        derive_pass,
        is_clickhouse_url,
    )

    if not is_clickhouse_url(args.store):
        print(
            "hoptrace derive: --store takes chdb://PATH or clickhouse://host:8123/db "
            "(a DuckDB store derives on write and needs no worker)",
            file=sys.stderr,
        )
        return 2
    try:
        worker, workers = parse_worker(args.worker)
    except ValueError as exc:
        print(f"hoptrace derive: {exc}", file=sys.stderr)
        return 2
    try:
        store = ClickHouseStore(args.store, ttl_days=args.ttl_days)
    except ClickHouseError as exc:
        print(f"hoptrace derive: {exc}", file=sys.stderr)
        return 1
    failing = 0  # passes failed in a row
    try:
        while True:
            try:
                stats = derive_pass(store.conn, worker=worker, workers=workers, lag_s=args.lag)
            except ClickHouseError as exc:
                if args.once:
                    print(f"hoptrace derive: {exc}", file=sys.stderr)
                    return 1
                # a pass is idempotent and its watermark moves only after its rows are in:
                # a worker outlives a server restart and retries, backing off
                failing += 1
                wait = min(args.interval * 2**failing, MAX_BACKOFF_S)
                print(f"hoptrace derive: {exc} (pass failed, retrying in {wait:g} s)",
                      file=sys.stderr, flush=True)  # fmt: skip
                time.sleep(wait)
                continue
            if failing:
                print(f"hoptrace derive {worker}/{workers}: the store answers again", flush=True)
                failing = 0
            if stats.traces or args.once:
                print(
                    f"hoptrace derive {worker}/{workers}: {stats.traces} trace(s), "
                    f"{stats.spans} span(s) in {stats.seconds:.2f} s",
                    flush=True,
                )
            if args.once:
                return 0
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0
