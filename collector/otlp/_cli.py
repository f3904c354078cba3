"""`hoptrace collect`: run the OTLP/HTTP and OTLP/gRPC receiver until SIGINT/SIGTERM.

While it runs this process is the trace store's single writer; the store's
short write transactions leave the file readable by `hoptrace sql` and the TUI.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import socket
import sys
import threading
from types import FrameType

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


def run(args: argparse.Namespace) -> int:
    """Serve `POST /v1/traces` on `--host:--port` and OTLP/gRPC on `--grpc-port` into
    `--db`; exit 0 after a clean drain."""
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

    from collector._paths import resolve_db
    from collector.otlp._receiver import Receiver
    from collector.store import NotAHoptraceStoreError, Spool, open_writer

    db = resolve_db(args.db)
    try:
        # checked here, so that a bad file is refused before listening; DuckDB runs in a
        # writer child where it can: the decoding threads here would starve it of the GIL
        writer = open_writer(db, check=True)
    except NotAHoptraceStoreError as exc:  # another application's database: left untouched
        print(f"hoptrace collect: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # unreadable path, newer schema, file held by another writer...
        print(f"hoptrace collect: cannot open the trace store {db}: {exc}", file=sys.stderr)
        return 1
    spool = None
    try:
        try:
            spool = None if getattr(args, "no_spool", False) else Spool(f"{db}.spool")
            receiver = Receiver(
                writer.write,
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
            receiver.start()
            served = [receiver.endpoint] if receiver.http_enabled else []
            if receiver.grpc is not None:
                served.append(f"gRPC {receiver.grpc_endpoint}")
            print(
                f"hoptrace collect: listening on {' and '.join(served)} "
                f"(auth: {'bearer token' if token else 'none'}), writing to {db}",
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
        writer.close()
        if spool is not None:
            spool.close()
