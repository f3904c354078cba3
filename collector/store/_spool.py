"""The spool: what makes `hoptrace collect`'s 200 mean durable.

Every accepted request body (decompressed, as received) is appended to a segment
file in `<db>.spool/` and fsync'd before the answer; concurrent requests share one
fsync (group commit: whoever syncs covers every record written before it). A record
is released once the store has committed its spans; a segment whose records are all
released (and that is no longer being appended to) is deleted. At start every record
still in the directory is replayed into the store (writes are idempotent upserts, so a
record committed just before a crash is merely written again), then its segment is
deleted. The OTel Collector's file-backed persistent queue works the same way.

Record layout: magic (2 bytes), kind (1 byte: b"p" protobuf, b"j" OTLP/JSON), length
(4 bytes, big-endian), CRC-32 of the payload (4 bytes), payload. Replay stops a segment
at the first record that is torn or fails its CRC (a crash mid-append: that request
was never answered 200).
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["Spool", "SpoolRecord"]

log = logging.getLogger("hoptrace.collect")

_MAGIC = b"hS"
_HEAD = struct.Struct(">2scII")
_SEGMENT_BYTES = 64 * 1024 * 1024
_KINDS = {"protobuf": b"p", "json": b"j"}
_NAMES = {v: k for k, v in _KINDS.items()}

SpoolRecord = int
"""A record's handle: the number of the segment that holds it."""


class Spool:
    """Append-only, fsync'd record of accepted requests, in a directory next to the store."""

    def __init__(self, directory: str | Path, *, segment_bytes: int = _SEGMENT_BYTES) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._segment_bytes = segment_bytes
        self._lock = threading.Lock()  # appends and segment bookkeeping
        self._sync_lock = threading.Lock()  # one fsync at a time; the others ride on it
        self._pending: dict[int, int] = {}  # segment -> records not yet released
        self._segment = max(self._numbers(), default=0)  # replay owns the existing ones
        self._file: int | None = None
        self._size = 0
        self._written = 0  # bytes appended, over the spool's life (for group commit)
        self._synced = 0

    # --- accepting ------------------------------------------------------------------

    def append(self, payload: bytes, kind: str) -> SpoolRecord:
        """Write one request and make it durable; raises OSError (disk full…) with nothing kept."""
        record = _HEAD.pack(_MAGIC, _KINDS[kind], len(payload), zlib.crc32(payload)) + payload
        with self._lock:
            fd = self._open_segment(len(record))
            try:
                _write_all(fd, record)
            except OSError:
                # leave no torn record in front of later ones (replay would stop there)
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, self._size)
                raise
            self._size += len(record)
            self._written += len(record)
            mine = self._written
            segment = self._segment
            self._pending[segment] = self._pending.get(segment, 0) + 1
        try:
            self._sync(fd, mine)
        except OSError:
            self.release(segment)
            raise
        return segment

    def release(self, record: SpoolRecord) -> None:
        """The record's spans are committed to the store (or were refused with a 503)."""
        with self._lock:
            left = self._pending.get(record, 0) - 1
            if left > 0:
                self._pending[record] = left
                return
            self._pending.pop(record, None)
            if record != self._segment:
                self._unlink(record)

    def pending(self) -> int:
        """Records appended and not yet released."""
        with self._lock:
            return sum(self._pending.values())

    def close(self) -> None:
        """Close the current segment; delete it when every record in it was released."""
        with self._lock:
            if self._file is not None:
                os.close(self._file)
                self._file = None
                if not self._pending.get(self._segment):
                    self._unlink(self._segment)

    def _open_segment(self, need: int) -> int:
        if self._file is not None and self._size + need > self._segment_bytes and self._size:
            with self._sync_lock:  # no fsync may be running on the fd being closed
                os.fsync(self._file)
                self._synced = self._written
                os.close(self._file)
            self._file = None
            if not self._pending.get(self._segment):
                self._unlink(self._segment)
        if self._file is None:
            self._segment += 1
            path = self._path(self._segment)
            self._file = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._size = 0
            _fsync_dir(self.directory)  # the new name itself must survive a crash
        return self._file

    def _sync(self, fd: int, upto: int) -> None:
        with self._sync_lock:
            if self._synced >= upto:
                return  # another request's fsync already covered this record
            # read without the append lock (rotation holds it while taking this one);
            # _written only ever counts bytes already handed to the kernel
            target = self._written
            os.fdatasync(fd) if hasattr(os, "fdatasync") else os.fsync(fd)
            self._synced = max(self._synced, target)

    # --- replay ---------------------------------------------------------------------

    def replay(self, write: Callable[[str, bytes], None]) -> tuple[int, int]:
        """Hand every record left by an earlier run to `write(kind, payload)`, oldest first.

        A segment is deleted once all its records were written. A record `write`
        refuses (raises) is kept: its segment moves to `failed/` with a logged error,
        so one bad record never blocks the start or the records after it.
        Returns (records replayed, segments moved to failed/).
        """
        replayed = failed = 0
        with self._lock:
            numbers = [n for n in self._numbers() if n <= self._segment]
        for number in numbers:
            path = self._path(number)
            try:
                for kind, payload in _records(path):
                    write(kind, payload)
                    replayed += 1
            except Exception:
                log.exception("spool segment %s could not be replayed; kept in failed/", path)
                (self.directory / "failed").mkdir(exist_ok=True)
                path.replace(self.directory / "failed" / path.name)
                failed += 1
                continue
            path.unlink()
        return replayed, failed

    # --- files ----------------------------------------------------------------------

    def _numbers(self) -> list[int]:
        out = []
        for p in self.directory.glob("segment-*.log"):
            with contextlib.suppress(ValueError):
                out.append(int(p.stem.removeprefix("segment-")))
        return sorted(out)

    def _path(self, number: int) -> Path:
        return self.directory / f"segment-{number:012d}.log"

    def _unlink(self, number: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(number).unlink()


def _records(path: Path) -> Iterator[tuple[str, bytes]]:
    data = path.read_bytes()
    at = 0
    while at + _HEAD.size <= len(data):
        magic, kind, length, crc = _HEAD.unpack_from(data, at)
        payload = data[at + _HEAD.size : at + _HEAD.size + length]
        if magic != _MAGIC or kind not in _NAMES or len(payload) != length:
            break
        if zlib.crc32(payload) != crc:
            break
        yield _NAMES[kind], payload
        at += _HEAD.size + length
    if at != len(data):
        log.warning("spool segment %s ends in a torn record (never answered 200)", path)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
