"""A full disk answers 503, loses nothing acknowledged, and recovers when space returns."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import collector

from ._collect_proc import CollectProcess
from ._helpers import post, proto_body, sdk_spans
from .test_durability import _fresh, _template

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(path: Path) -> None:
    with path.open("wb") as f:
        chunk = b"\0" * (1 << 16)
        with contextlib.suppress(OSError):
            while True:
                f.write(chunk)
                f.flush()
        # the last partial chunk: leave no byte free
        with contextlib.suppress(OSError):
            while True:
                os.write(f.fileno(), b"\0" * 512)


def test_full_disk_gives_503_loses_nothing_acknowledged_and_recovers(small_disk: Path) -> None:
    db = small_disk / "full.duckdb"
    template = _template()
    proc = CollectProcess(db)
    acked: list[str] = []
    statuses: list[int] = []
    try:
        status, _, _ = post(proc.endpoint, proto_body(sdk_spans()))
        assert status == 200
        filler = small_disk / "filler"
        _fill(filler)
        with pytest.raises(OSError, match="No space") as info:
            (small_disk / "probe").write_bytes(b"x" * 4096)
        assert info.value.errno == errno.ENOSPC
        for _ in range(40):
            body, ids = _fresh(template)
            status, headers, _ = post(proc.endpoint, body)
            statuses.append(status)
            if status == 200:
                acked.extend(ids)
            else:
                assert status == 503, status
                assert "retry-after" in headers
        assert 503 in statuses, statuses
        filler.unlink()
        deadline = time.monotonic() + 60
        recovered = False
        while time.monotonic() < deadline:
            body, ids = _fresh(template)
            status, _, _ = post(proc.endpoint, body)
            if status == 200:
                acked.extend(ids)
                recovered = True
                break
            time.sleep(0.5)
        assert recovered, "the collector did not recover after space returned"
    finally:
        code, err = proc.stop(signal.SIGTERM)
    assert code == 0, err
    with collector.read_connection(db) as conn:
        stored = {r[0] for r in conn.execute("SELECT trace_id || span_id FROM spans").fetchall()}
    missing = set(acked) - stored
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged spans lost"
