"""`hoptrace collect`: run the OTLP/HTTP and OTLP/gRPC receiver until SIGINT/SIGTERM.

While it runs this process is the trace store's single writer; the store's
short write transactions leave the file readable by `hoptrace sql` and the TUI.

`--store URL` (or a URL in `--db`) writes a ClickHouse store's `otel_traces` instead, as
the OTel Collector's exporter would (collector.otlp._ch_sink): the same receiver, write
queue and spool. Exit codes: 0 after a clean drain; 1 when the store cannot be opened or
reached, a port or the spool cannot be had, or spans were dropped; 2 for arguments that
cannot work (a bad URL, no token off loopback) and a missing `hoptrace[clickhouse]` extra.
"""

from __future__ import annotations

import argparse
import importlib
import ipaddress
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING

from collector._paths import is_store_url, resolve_store

if TYPE_CHECKING:
    from collector.ingest import SpanBatch

__all__ = ["TOKEN_ENV", "is_loopback", "run"]

TOKEN_ENV = "HOPTRACE_COLLECT_TOKEN"

log = logging.getLogger("hoptrace.collect")


class _ForcedExit(Exception):
    """A second SIGINT/SIGTERM while the queue is being written."""


def is_loopback(host: str) -> bool:
    """True when every address `host` resolves to is a loopback address."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    addresses = {str(info[4][0]) for info in infos}
    return bool(addresses) and all(
        ipaddress.ip_address(a.split("%", 1)[0]).is_loopback for a in addresses
    )


@dataclass
class _Opened:
    """The store `hoptrace collect` writes: a DuckDB file or a ClickHouse URL."""

    write: Callable[[SpanBatch], None]
    close: Callable[[], None]
    where: str  # for messages: never a password
    spool_dir: Path
    url: str | None = None  # None: a DuckDB file
    replaying: Callable[[], AbstractContextManager[object]] = nullcontext
    already_stored: Callable[[], int] = lambda: 0  # spans a repeated write found stored


def _open_store(args: argparse.Namespace) -> _Opened | int:
    """Open the store before listening, so a bad one is refused first; an exit code when not."""
    db: str | None = args.db
    url: str | None = getattr(args, "store", None)
    if url is not None and db is not None:
        print("hoptrace collect: give --db or --store, not both", file=sys.stderr)
        return 2
    if url is None and db is None and is_store_url(resolve_store(None)):
        db = str(resolve_store(None))  # $HOPTRACE_DB names a ClickHouse store
    if url is None and is_store_url(db):
        url, db = db, None
    if url is not None:
        return _open_clickhouse(args, url)
    from collector._paths import resolve_db
    from collector.store import NotAHoptraceStoreError, open_writer

    path = resolve_db(db)
    try:
        # DuckDB runs in a writer child where it can: the decoding threads here would
        # starve it of the GIL
        writer = open_writer(path, check=True)
    except NotAHoptraceStoreError as exc:  # another application's database: left untouched
        print(f"hoptrace collect: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # unreadable path, newer schema, file held by another writer...
        print(f"hoptrace collect: cannot open the trace store {path}: {exc}", file=sys.stderr)
        return 1
    spool_dir = getattr(args, "spool_dir", None)
    return _Opened(
        writer.write,
        writer.close,
        str(path),
        Path(spool_dir) if spool_dir else Path(f"{path}.spool"),
    )


def _open_clickhouse(args: argparse.Namespace, url: str) -> _Opened | int:
    """`--store URL`: exit 2 for a URL or an install that cannot work, 1 for a store that
    cannot be opened or reached."""
    if not is_store_url(url):
        print(
            f"hoptrace collect: --store takes chdb://PATH or clickhouse[s]://host:port/db, "
            f"not {url!r} (a DuckDB file is --db)",
            file=sys.stderr,
        )
        return 2
    from collector.clickhouse import ClickHouseError, parse_url

    try:
        target = parse_url(url)
    except ValueError as exc:
        print(f"hoptrace collect: {exc}", file=sys.stderr)
        return 2
    module = "chdb" if target.embedded else "clickhouse_connect"
    try:
        importlib.import_module(module)
    except ImportError:
        print(
            f"hoptrace collect: {url.split('://', 1)[0]}:// needs the ClickHouse extra "
            f"({module} is not installed): pip install 'hoptrace[clickhouse]'",
            file=sys.stderr,
        )
        return 2
    from collector.otlp._ch_sink import ClickHouseSink, default_spool_dir

    try:
        sink = ClickHouseSink(url, ttl_days=getattr(args, "ttl_days", None))
    except (ClickHouseError, OSError) as exc:
        print(
            f"hoptrace collect: cannot open the trace store {target.describe()}: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}",
            file=sys.stderr,
        )
        return 1
    spool_dir = getattr(args, "spool_dir", None)
    return _Opened(
        sink.write,
        sink.close,
        sink.describe(),
        Path(spool_dir) if spool_dir else default_spool_dir(url),
        url=url,
        replaying=sink.replaying,
        already_stored=lambda: sink.skipped_spans,
    )


def run(args: argparse.Namespace) -> int:
    """Serve `POST /v1/traces` on `--host:--port` and OTLP/gRPC on `--grpc-port` into
    `--db` or `--store`; exit 0 after a clean drain."""
    host: str = args.host
    http_port: int | None = None if getattr(args, "no_http", False) else args.port
    grpc_port: int | None = (
        None if getattr(args, "no_grpc", False) else getattr(args, "grpc_port", None)
    )
    if http_port is None and grpc_port is None:
        print(
            "hoptrace collect: --no-http and --no-grpc together leave nothing to listen on; "
            "keep at least one",
            file=sys.stderr,
        )
        return 2
    token: str | None = args.token or os.environ.get(TOKEN_ENV) or None
    if not is_loopback(host) and not token:
        print(
            f"hoptrace collect: refusing to listen on {host!r} without a token.\n"
            "On a non-loopback address anyone who can reach the port could write forged spans\n"
            "into (and flood) your trace store, which holds prompts and model outputs.\n"
            f"Set a token with --token or ${TOKEN_ENV} (clients then send\n"
            "'Authorization: Bearer <token>', e.g. OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20<token>),\n"
            "or bind 127.0.0.1 (the default).",
            file=sys.stderr,
        )
        return 2
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )

    from collector.otlp._receiver import Receiver
    from collector.store import Spool

    opened = _open_store(args)
    if isinstance(opened, int):
        return opened
    spool_dir = None if getattr(args, "no_spool", False) else opened.spool_dir
    spool = None
    held: IO[str] | None = None
    try:
        if spool_dir is not None:
            try:
                if opened.url is not None:  # a DuckDB file's own lock guards its spool
                    from collector.otlp._ch_sink import SpoolInUseError, lock_spool

                    try:
                        held = lock_spool(spool_dir)
                    except SpoolInUseError as exc:
                        print(f"hoptrace collect: {exc}", file=sys.stderr)
                        return 1
                spool = Spool(spool_dir)
            except OSError as exc:
                print(
                    f"hoptrace collect: cannot use the spool directory {spool_dir}: {exc} "
                    "(choose another with --spool-dir, or --no-spool)",
                    file=sys.stderr,
                )
                return 1
        try:
            receiver = Receiver(
                opened.write,
                host=host,
                port=http_port,
                grpc_port=grpc_port,
                token=token,
                spool=spool,
            )
        except OSError as exc:
            # the gRPC server's message names its own address; HTTP binds first
            where = "" if "gRPC" in str(exc) else f" on {host}:{http_port}"
            print(f"hoptrace collect: cannot listen{where}: {exc}", file=sys.stderr)
            return 1
        stop = threading.Event()

        def _on_signal(signum: int, frame: FrameType | None) -> None:
            if stop.is_set():  # a second signal while draining: give up on the queue
                raise _ForcedExit
            stop.set()

        previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            with opened.replaying():  # the spool's records may be stored already
                receiver.start()
            served = [receiver.endpoint] if receiver.http_enabled else []
            if receiver.grpc is not None:
                served.append(f"gRPC {receiver.grpc_endpoint}")
            print(
                f"hoptrace collect: listening on {' and '.join(served)} "
                f"(auth: {'bearer token' if token else 'none'}), writing to {opened.where}",
                file=sys.stderr,
                flush=True,
            )
            try:
                while not stop.wait(0.5):
                    pass
                print(
                    "hoptrace collect: stopping, writing queued spans "
                    "(signal again to abandon them)...",
                    file=sys.stderr,
                    flush=True,
                )
                drained = receiver.stop(timeout=None)  # everything acknowledged gets written
            except _ForcedExit:
                unwritten = receiver.queue.unwritten_spans
                print(
                    f"hoptrace collect: forced exit; {unwritten} acknowledged spans "
                    "were not written",
                    file=sys.stderr,
                    flush=True,
                )
                # The writer thread may be inside DuckDB (when no writer child could
                # start), waiting on the lock: interpreter finalisation would unwind it
                # through C++ frames and abort the process (SIGABRT). Abandoning was
                # asked for, so leave without finalising. A writer child finishes its
                # current write, then sees its pipe close and exits.
                os._exit(1)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        w = receiver.queue
        print(
            f"hoptrace collect: stopped; {w.written_spans} spans written"
            + (
                f", {opened.already_stored()} spans found stored already (not inserted again)"
                if opened.already_stored()
                else ""
            )
            + (f", {w.dropped_spans} dropped after write failures" if w.dropped_spans else "")
            + (
                f", {receiver.rejected_spans} rejected as invalid"
                if receiver.rejected_spans
                else ""
            ),
            file=sys.stderr,
            flush=True,
        )
        return 0 if drained and not w.dropped_spans else 1
    finally:
        opened.close()
        if spool is not None:
            spool.close()
        if held is not None:
            held.close()
