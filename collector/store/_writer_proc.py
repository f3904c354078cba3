"""ProcessStore: the store's DuckDB work in a child process, fed staged Arrow batches.

Why a process: DuckDB's Python client takes the GIL after every execution task (to
notice Ctrl-C). Beside a thread that runs Python (the traced program; the receiver's
decoding threads) each of those waits up to the interpreter's switch interval (5 ms),
and a write runs thousands of tasks. Measured here: two 2,048-span writes took 0.6 s
alone and 9.4 s beside one busy Python thread (bench/store_ingest.py prints the
comparison). A child has its own GIL, so the writer keeps its pace whatever the
parent runs, and the parent keeps only the Python half of ingest (staging).

The child is still the file's one writer in the usual sense (collector.store._connect: it
attaches the file per write and detaches, so readers and other writers get turns).

Protocol, over two dedicated pipes (never stdin/stdout, so stray prints cannot
corrupt it), one request at a time: the parent sends an 8-byte big-endian length
and an Arrow IPC stream of the staged table (its dialect names in the schema
metadata); the child answers one JSON line, `{"ok": true}` or `{"ok": false,
"error": <exception class>, "message": ...}`. End of input: the child exits. It
ignores SIGINT and SIGTERM, which a terminal or a service manager also sends to the
children of the process they stop: the parent ends it by closing the pipe once the
last spans are written, and if the parent dies the pipe closes as well.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import weakref
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from collector._paths import resolve_db
from collector.ingest import SpanBatch, Staged, stage
from collector.store._connect import (
    WRITE_TIMEOUT_S,
    NotAHoptraceStoreError,
    SchemaVersionError,
    StoreBusyError,
    StoreError,
)

__all__ = ["ProcessStore", "child_supported", "open_writer"]

logger = logging.getLogger("collector")
_NAMES_KEY = b"hoptrace.names"
_READY = b'{"ready": true}\n'
_START_TIMEOUT_S = 60.0
_ERRORS: dict[str, type[StoreError]] = {
    "StoreBusyError": StoreBusyError,
    "SchemaVersionError": SchemaVersionError,
    "NotAHoptraceStoreError": NotAHoptraceStoreError,
}


def child_supported() -> bool:
    """A writer child needs inheritable pipe fds (POSIX) and a Python to run it."""
    return os.name == "posix" and bool(sys.executable)


def open_writer(
    db: str | Path | None = None,
    *,
    writer_process: bool | None = None,
    timeout: float = WRITE_TIMEOUT_S,
    check: bool = False,
) -> Any:
    """The one place that chooses how this process writes: a writer child where
    supported (`writer_process` None or True), else a `SpanStore` here.

    With `check`, the file is opened here first, so that a foreign or unreadable file
    raises now (`hoptrace collect` refuses it before listening), not at the first write.
    """
    from collector.store._span_store import SpanStore

    local = SpanStore(db, timeout=timeout) if check else None
    use_child = child_supported() if writer_process is None else writer_process
    if use_child:
        if local is not None:
            local.close()
        return (
            ProcessStore(db, timeout=timeout).start()
            if check
            else ProcessStore(db, timeout=timeout)
        )
    return local if local is not None else SpanStore(db, timeout=timeout)


class ProcessStore:
    """`SpanStore`'s write API, served by a child process (started at the first write).

    A child that died is replaced at the next write; the write that found it dead
    raises `StoreError`, and the caller keeps its batch (the exporter and the
    receiver both retry). A child that cannot start at all (no usable
    `sys.executable`, e.g. an embedded interpreter) is not retried: the writes then
    run in this process (`SpanStore`), with a warning. After a fork the child
    belongs to the parent: the forked process starts its own.
    """

    def __init__(self, db: str | Path | None = None, *, timeout: float = WRITE_TIMEOUT_S) -> None:
        self.path = resolve_db(db)
        self.timeout = timeout
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid = 0  # the process that started the child
        self._send: IO[bytes] | None = None
        self._recv: IO[bytes] | None = None
        self._local: Any = None  # SpanStore, when no child could be started
        _instances.add(self)

    @property
    def child_pid(self) -> int | None:
        """The writer child's pid while one runs (for tests and diagnostics)."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def start(self) -> ProcessStore:
        """Start the child now rather than at the first write (it takes ~0.5 s to import)."""
        with self._lock:
            self._ensure()
        return self

    def write(self, batch: SpanBatch) -> None:
        """Stage `batch` here and write it in the child; raises what the store raised."""
        self.write_staged(stage(batch))

    def write_staged(self, staged: Staged) -> None:
        """Write an already staged batch in the child (one transaction there)."""
        if not staged.table.num_rows:
            return
        with self._lock:
            channel = self._ensure()
            if channel is None:
                self._local.write_staged(staged)
                return
            send, recv = channel
            payload = _encode(staged)
            try:
                send.write(len(payload).to_bytes(8, "big"))
                send.write(payload)
                send.flush()
                line = recv.readline()
            except OSError as exc:
                line = b""
                reason = str(exc)
            else:
                reason = "no answer"
            if not line:
                code = self._reap()
                raise StoreError(
                    f"the hoptrace writer process for {self.path} exited "
                    f"(code {code}, {reason}); the batch is kept for the next try"
                )
        reply = json.loads(line)
        if not reply.get("ok"):
            raise _ERRORS.get(reply.get("error", ""), StoreError)(reply.get("message", ""))

    def close(self) -> None:
        """Let the child finish and exit (it has nothing buffered: writes are acknowledged)."""
        with self._lock:
            if self._proc is not None and self._pid == os.getpid():
                self._reap(wait=self.timeout + 5)
            self._proc = None

    # --- the child's lifecycle --------------------------------------------------

    def _ensure(self) -> tuple[IO[bytes], IO[bytes]] | None:
        """The child's pipes, starting it if needed; None when writing in-process."""
        if self._local is not None:
            return None
        try:
            return self._channel()
        except _StartError as exc:
            from collector.store._span_store import SpanStore

            logger.warning("hoptrace: %s; writing in this process instead", exc)
            self._local = SpanStore(self.path, timeout=self.timeout)
            return None

    def _channel(self) -> tuple[IO[bytes], IO[bytes]]:
        if self._pid != os.getpid():
            self._proc = None  # inherited across fork: the parent's, not ours
        if self._proc is None or self._proc.poll() is not None:
            self._start()
        assert self._send is not None
        assert self._recv is not None
        return self._send, self._recv

    def _start(self) -> None:
        self._reap()
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        self._pid = os.getpid()
        self._send = os.fdopen(to_child_w, "wb")
        self._recv = os.fdopen(from_child_r, "rb")
        env = dict(os.environ)
        # the child imports this very collector, wherever the parent found it
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        args = [sys.executable, "-m", "collector.store._writer_main", str(self.path),
                str(self.timeout), str(to_child_r), str(from_child_w)]  # fmt: skip
        try:
            self._proc = subprocess.Popen(
                args, pass_fds=(to_child_r, from_child_w), env=env, stdin=subprocess.DEVNULL
            )
        except OSError as exc:
            self._reap()
            raise _StartError(f"cannot start the writer process ({exc})") from None
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        ready, _, _ = select.select([self._recv], [], [], _START_TIMEOUT_S)
        line = self._recv.readline() if ready else b""
        if line != _READY:
            code = self._reap(wait=1.0)
            raise _StartError(f"the writer process did not start (exit code {code})")

    def _reap(self, wait: float = 5.0) -> int | None:
        for f in (self._send, self._recv):
            if f is not None:
                with contextlib.suppress(OSError):
                    f.close()
        self._send = self._recv = None
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        try:
            return proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            logger.warning("hoptrace: the writer process did not exit in %.0f s; killing it", wait)
            proc.kill()
            return proc.wait()


_instances: weakref.WeakSet[ProcessStore] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # a lock held by another thread of the parent at fork time would never be released
    for store in list(_instances):
        store._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _StartError(StoreError):
    """No writer child could be started here."""


def _encode(staged: Staged) -> pa.Buffer:
    meta = {_NAMES_KEY: json.dumps(sorted(staged.names)).encode()}
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, staged.table.schema.with_metadata(meta)) as writer:
        writer.write_table(staged.table)
    return sink.getvalue()


def _decode(payload: bytes) -> Staged:
    table = pa.ipc.open_stream(payload).read_all()
    names = frozenset(json.loads((table.schema.metadata or {}).get(_NAMES_KEY, b"[]")))
    return Staged(table.replace_schema_metadata(None), names)


def _serve(db: str, timeout: float, inp: IO[bytes], out: IO[bytes]) -> None:
    from collector.store._span_store import SpanStore

    out.write(_READY)  # imports done: the parent may send
    out.flush()
    store: Any = None
    while True:
        head = inp.read(8)
        if len(head) < 8:
            return
        payload = inp.read(int.from_bytes(head, "big"))
        try:
            staged = _decode(payload)
            if store is None:  # here, so that a refused file is an answer, not a dead child
                store = SpanStore(db, timeout=timeout)
            store.write_staged(staged)
            reply: dict[str, Any] = {"ok": True}
        except Exception as exc:
            reply = {"ok": False, "error": type(exc).__name__, "message": str(exc)}
        try:
            out.write(json.dumps(reply).encode() + b"\n")
            out.flush()
        except BrokenPipeError:  # the parent is gone: nobody left to serve
            return


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    db, timeout, rfd, wfd = argv
    with os.fdopen(int(rfd), "rb") as inp, os.fdopen(int(wfd), "wb") as out:
        _serve(db, float(timeout), inp, out)
    return 0
