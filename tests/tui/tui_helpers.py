"""Helpers for the TUI tests: the app at the demo clock, worker settling, screen text.

A module of its own (not conftest): test modules import these by name, and with
several conftest modules on sys.path a `from conftest import` picks whichever
conftest was imported first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from demo_db import NOW
from textual.message import Message
from textual.pilot import Pilot
from textual.worker import WorkerCancelled, WorkerFailed

from tui.app import HoptraceApp

M = TypeVar("M", bound=Message)


def make_app(db: Path, poll_interval: float = 3600.0) -> HoptraceApp:
    """The app at the fixed demo clock; live polling off unless asked for."""
    return HoptraceApp(db, clock=lambda: NOW / 1e9, poll_interval=poll_interval)


async def settle(pilot: Pilot[None], rounds: int = 20) -> None:
    """Wait until no worker is running and the message queues are drained (no sleeps)."""
    app = pilot.app
    for _ in range(rounds):
        # a cancelled exclusive worker or a failed one (reported via notify) is "done" too
        with contextlib.suppress(WorkerCancelled, WorkerFailed):
            await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running for w in app.workers):
            await pilot.pause()
            if not any(w.is_running for w in app.workers):
                return


async def wait_for(
    pilot: Pilot[None], condition: Callable[[], bool], timeout: float = 10.0
) -> None:
    """Poll a condition while the app runs (for live updates driven by timers)."""
    loop_time = 0.0
    while not condition():
        if loop_time > timeout:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)
        loop_time += 0.05


def of_type(messages: list[Message], kind: type[M]) -> list[M]:
    """Messages of one type, in order; a bubbled message is seen once."""
    seen: set[int] = set()
    out: list[M] = []
    for m in messages:
        if isinstance(m, kind) and id(m) not in seen:
            seen.add(id(m))
            out.append(m)
    return out


def screen_text(pilot: Pilot[None]) -> str:
    """What the terminal shows, as plain text."""
    return "\n".join(strip.text for strip in pilot.app.screen._compositor.render_strips())
