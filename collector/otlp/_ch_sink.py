"""`hoptrace collect --store URL`: the receiver's write into a ClickHouse store's `otel_traces`.

The receiver, its one write queue and its spool are the DuckDB path's; only the write
differs. Three things make it fit that queue's contract:

- **Failures carry their kind.** The queue retries a failure marked `transient = True`
  until it passes (spans kept, back-pressure to the senders) and drops a batch after three
  refusals otherwise. `ClickHouseWriteError` marks a connection that failed (refused,
  reset, timed out: clickhouse-connect's transport errors), an HTTP 502/503/504 and server
  codes that pass by themselves (too many parts, memory, space, timeouts, replicas) as
  transient; anything else (a malformed batch, a type mismatch, a dropped table) is a
  data failure.
- **Writes are idempotent.** `otel_traces` is a plain MergeTree: inserting a batch twice
  stores its spans twice. A write is only repeated when its first try may have committed:
  a transient failure (the connection broke after the server took the insert) or a spool
  replay (a SIGKILL between the insert and the spool's release). Those writes first read
  which of their spans are stored already (by TraceId, within the batch's time range, so
  the day partitions bound the read) and insert only the rest; other writes insert as is.
  A span's key is (TraceId, SpanId, pending): hoptrace's pending copy of a span and its
  finished copy are two rows, as the exporter would store them.
- **The spool has a home.** `chdb://PATH` spools to `PATH.spool/` beside the directory; a
  server URL to `--spool-dir`, by default `<user state dir>/hoptrace/spool/HOST-PORT-DB/`
  (`~/.local/state/...` on Linux). A lock file keeps two collectors off one spool.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import threading
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from collector.clickhouse import (
    OTEL_TRACES,
    ClickHouseError,
    ClickHouseStore,
    batch_to_otel,
    parse_url,
)
from collector.ingest import SpanBatch
from tracer import semconv as sc

__all__ = [
    "ClickHouseSink",
    "ClickHouseWriteError",
    "SpoolInUseError",
    "default_spool_dir",
    "is_transient_clickhouse",
    "lock_spool",
]

# ClickHouse error codes that pass without anyone changing the batch or the schema
_TRANSIENT_CODES = frozenset({
    3,  # UNEXPECTED_END_OF_FILE (a connection cut mid-answer)
    159,  # TIMEOUT_EXCEEDED
    164,  # READONLY (a replica lost its Keeper session)
    202,  # TOO_MANY_SIMULTANEOUS_QUERIES
    203,  # NO_FREE_CONNECTION
    209,  # SOCKET_TIMEOUT
    210,  # NETWORK_ERROR
    236,  # ABORTED
    241,  # MEMORY_LIMIT_EXCEEDED
    242,  # TABLE_IS_READ_ONLY
    243,  # NOT_ENOUGH_SPACE
    252,  # TOO_MANY_PARTS
    285,  # TOO_FEW_LIVE_REPLICAS
    319,  # UNKNOWN_STATUS_OF_INSERT
    394,  # QUERY_WAS_CANCELLED (a server shutting down)
    425,  # SYSTEM_ERROR
    439,  # CANNOT_SCHEDULE_TASK
    999,  # KEEPER_EXCEPTION
})  # fmt: skip
_CODE = re.compile(r"\bCode:\s*(\d+)", re.IGNORECASE)
_HTTP_STATUS = re.compile(r"HTTP status (\d{3})")
_DEDUPE_CHUNK = 2_000  # trace ids per lookup statement


class ClickHouseWriteError(ClickHouseError):
    """An insert into `otel_traces` failed; `transient` tells the write queue whether to
    retry until it passes (True) or to treat the batch as refused (False)."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class SpoolInUseError(Exception):
    """Another `hoptrace collect` holds this spool directory."""


def is_transient_clickhouse(exc: BaseException) -> bool:
    """Whether a ClickHouse failure passes by itself (see the module doc)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:  # the driver's error is the cause
        seen.add(id(cur))
        if isinstance(cur, (OSError, TimeoutError)):
            return True
        code = getattr(cur, "code", None)
        if isinstance(code, int) and code in _TRANSIENT_CODES:
            return True
        kind = type(cur).__name__
        text = str(cur)
        if kind in ("OperationalError", "StreamFailureError") and code is None:
            return True  # clickhouse-connect's transport errors: refused, reset, timed out
        match = _CODE.search(text)
        if match and int(match.group(1)) in _TRANSIENT_CODES:
            return True
        status = _HTTP_STATUS.search(text)
        if status and status.group(1) in ("502", "503", "504"):
            return True
        if "Network Error" in text or "executing HTTP request" in text:
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def default_spool_dir(url: str) -> Path:
    """Where a store URL's spool lives unless `--spool-dir` says otherwise."""
    target = parse_url(url)
    if target.embedded:
        return Path(f"{target.path.rstrip('/')}.spool")
    import platformdirs

    key = re.sub(r"[^A-Za-z0-9._-]", "_", f"{target.host}-{target.port}-{target.database}")
    return Path(platformdirs.user_state_dir("hoptrace")) / "spool" / key


def lock_spool(directory: Path) -> IO[str]:
    """Create `directory` and hold its lock file until the returned file is closed.

    Two collectors on one spool would replay each other's unanswered requests and
    number their segments alike: the second one is refused (SpoolInUseError).
    """
    directory.mkdir(parents=True, exist_ok=True)
    handle = open(directory / ".lock", "a+")  # noqa: SIM115 - held for the process's life
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise SpoolInUseError(
            f"the spool {directory} is held by another hoptrace collect; "
            "give this one its own --spool-dir"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


class ClickHouseSink:
    """The write of `hoptrace collect --store URL`: `SpanStore.write`'s place in the receiver.

    Args:
        url: `chdb://PATH` or `clickhouse[s]://...`; the tables are created if missing.
        ttl_days: Retention for the tables this call creates.
    """

    def __init__(self, url: str, *, ttl_days: int | None = None) -> None:
        self.target = parse_url(url)
        self.store = ClickHouseStore(url, ttl_days=ttl_days)
        self._lock = threading.Lock()
        self._uncertain: set[tuple[str, str, bool]] = set()  # may be stored: check first
        self._check_all = 0  # > 0 while replaying the spool
        self.skipped_spans = 0
        """Spans a write found stored already (a repeated write), not inserted again."""

    def describe(self) -> str:
        """The store URL without its password (for messages)."""
        return self.target.describe()

    @contextlib.contextmanager
    def replaying(self) -> Any:
        """Writes inside this block check for spans stored already (a spool replay)."""
        with self._lock:
            self._check_all += 1
        try:
            yield self
        finally:
            with self._lock:
                self._check_all -= 1

    def write(self, batch: SpanBatch) -> None:
        """Insert the batch's spans not stored yet; raises ClickHouseWriteError."""
        if not len(batch):
            return
        keys = _keys(batch)
        with self._lock:
            check = self._check_all > 0 or not self._uncertain.isdisjoint(keys)
        try:
            table = batch_to_otel(batch)
            if check:
                stored = self._stored(batch)
                if stored:
                    keep = [k not in stored for k in keys]
                    self.skipped_spans += len(keep) - sum(keep)
                    table = table.filter(pa.array(keep, pa.bool_()))
            self.store.conn.insert(OTEL_TRACES, table)
        except Exception as exc:
            transient = is_transient_clickhouse(exc)
            if transient:  # the insert may have reached the table before the failure
                with self._lock:
                    self._uncertain.update(keys)
            raise ClickHouseWriteError(
                f"insert into {OTEL_TRACES} at {self.describe()} failed: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}",
                transient=transient,
            ) from exc
        if check:
            with self._lock:
                self._uncertain.difference_update(keys)

    def _stored(self, batch: SpanBatch) -> set[tuple[str, str, bool]]:
        lo, hi = min(batch.start_ns), max(batch.start_ns)
        traces = sorted(set(batch.trace_id))
        out: set[tuple[str, str, bool]] = set()
        for at in range(0, len(traces), _DEDUPE_CHUNK):
            listed = ", ".join(_quote(t) for t in traces[at : at + _DEDUPE_CHUNK])
            rows = self.store.conn.rows(
                f"SELECT TraceId, SpanId, SpanAttributes['{sc.PENDING}'] = 'true' "
                f"FROM {OTEL_TRACES} WHERE Timestamp >= fromUnixTimestamp64Nano(toInt64({lo})) "
                f"AND Timestamp <= fromUnixTimestamp64Nano(toInt64({hi})) "
                f"AND TraceId IN ({listed})"
            )
            out.update((str(t), str(s), bool(p)) for t, s, p in rows)
        return out

    def close(self) -> None:
        """Release the connection."""
        self.store.close()


def _keys(batch: SpanBatch) -> list[tuple[str, str, bool]]:
    return [
        (t, s, end is None or attrs.get(sc.PENDING) is True)
        for t, s, end, attrs in zip(
            batch.trace_id, batch.span_id, batch.end_ns, batch.attributes, strict=True
        )
    ]


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
