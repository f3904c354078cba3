"""The one path from a failed worker to the user: an error notification.

`Worker.StateChanged` does not bubble, so every widget or screen that starts
workers mixes this in; they all end in `report_worker_error`.
"""

from __future__ import annotations

from textual.worker import Worker, WorkerState

__all__ = ["ReportsWorkerErrors", "report_worker_error"]


def report_worker_error(node: object, worker: Worker[object]) -> None:
    """Tell the user what failed, in one line (never a traceback on screen)."""
    error = worker.error
    what = worker.description or worker.name or "background task"
    app = node.app  # type: ignore[attr-defined]
    app.notify(
        f"{what}: {type(error).__name__}: {error}", title="hoptrace", severity="error", timeout=8
    )


class ReportsWorkerErrors:
    """Mixin for DOM nodes that start workers."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Report a failed worker."""
        if event.state is WorkerState.ERROR:
            report_worker_error(self, event.worker)
