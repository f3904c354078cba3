"""Run `hoptrace collect` as a real subprocess for CLI-level tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

_LISTENING = re.compile(r"listening on (?:(http://\S+/v1/traces))?(?: and )?(?:gRPC (\S+))?")


class CollectProcess:
    def __init__(self, db: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        # gRPC on a free port too unless asked otherwise: 4317 may be taken (or shared by
        # tests running in parallel)
        taken = any(a.startswith(("--grpc-port", "--no-grpc")) for a in extra)
        grpc = [] if taken else ["--grpc-port", "0"]
        cmd = [sys.executable, "-m", "hoptrace", "collect", "--port", "0", *grpc]
        self.proc = subprocess.Popen(
            [*cmd, "--db", str(db), *extra],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                raise RuntimeError(f"hoptrace collect exited early: {''.join(self.lines)}")
            self.lines.append(line)
            match = _LISTENING.search(line)
            if match:
                self.endpoint = match.group(1)  # None with --no-http
                self.grpc_endpoint = match.group(2)  # host:port, None with --no-grpc
                return
        raise RuntimeError("hoptrace collect did not start")

    def stop(self, sig: int, timeout: float = 120) -> tuple[int, str]:
        self.proc.send_signal(sig)
        _, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, "".join(self.lines) + err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()
