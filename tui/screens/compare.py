"""Compare two runs: where they diverge, both sides of that hop, the aligned hops, the deltas.

The alignment and deltas are `collector.queries.compare_runs` (the same as `hoptrace
diff`); this screen reads them in a worker and lays the text out with the pure
functions below (tested without Textual).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import get_current_worker

from collector import queries
from collector.queries import Hop, RunDiff
from tui.widgets.key_bar import KeyBar
from tui.workers import ReportsWorkerErrors

if TYPE_CHECKING:
    from tui.app import HoptraceApp

__all__ = ["CompareLoaded", "CompareScreen", "body_text", "hop_side_text", "summary_text"]

# diff_lines' alignment marks -> a style for the hop rows
_OP_STYLES = {"~": "yellow", "-": "red", "+": "green"}
PREVIEW_LINES = 6
"""Lines of each input / output shown side by side (the previews are bounded already)."""


@dataclass
class CompareLoaded(Message):
    """Two runs were read and aligned (`diff` None: `error` says why not)."""

    trace_a: str
    trace_b: str | None
    diff: RunDiff | None
    error: str | None = None


def summary_text(diff: RunDiff) -> str:
    """The two runs and the first divergence (the top of `hoptrace diff`)."""
    lines = queries.diff_lines(diff)
    head = lines[: lines.index("")]
    div = diff.divergence
    if div is None:
        head.append("no divergence: both runs made the same hops with the same outcomes")
    else:
        head.append(f"first divergence at hop {div.index + 1} [{div.kind}]: {div.text}")
    return "\n".join(head)


def _clip(text: str | None, width: int) -> str:
    """At most PREVIEW_LINES lines of `width` (longer ones end in …), escaped newlines real."""
    if text is None:
        return "(not recorded)"
    lines = [
        line if len(line) <= width else line[: width - 1] + "…"
        for line in text.replace("\\n", "\n").splitlines() or [""]
    ]
    if len(lines) > PREVIEW_LINES:
        lines = [*lines[: PREVIEW_LINES - 1], "…"]
    return "\n".join(lines)


def hop_side_text(tag: str, hop: Hop | None, width: int) -> str:
    """One side of the divergence hop: what it was, its input, output and model messages."""
    if hop is None:
        return f"{tag}: no such hop in this run"
    parts = [
        f"{tag}: {queries.hop_label(hop)}",
        f"span {hop.span_id}",
        "input:",
        _clip(hop.input_preview, width),
        "output:",
        _clip(hop.output_preview, width),
    ]
    for model, given, answer in hop.messages[:1]:  # the first model call: what it was asked
        parts += [f"{model} in:", _clip(given, width), f"{model} out:", _clip(answer, width)]
    return "\n".join(parts)


def body_text(diff: RunDiff) -> Text:
    """The aligned hops (coloured by op), the per-agent deltas and the critical paths."""
    lines = queries.diff_lines(diff)
    start = next(i for i, line in enumerate(lines) if line.startswith("hops ("))
    text = Text()
    for line in lines[start:]:
        mark = line[6:7] if len(line) > 6 and line[:5].strip().isdigit() else ""
        text.append(line + "\n", style=_OP_STYLES.get(mark, ""))
    return text


class CompareScreen(ReportsWorkerErrors, Screen[None]):
    """Run A against run B; with B None, against A's conversation's previous turn."""

    CSS_PATH = "../styles/compare.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("x", "swap", "Swap A and B"),
    ]

    def __init__(self, trace_a: str, trace_b: str | None = None) -> None:
        super().__init__()
        self.trace_a = trace_a
        self.trace_b = trace_b
        self.diff: RunDiff | None = None

    @property
    def hoptrace(self) -> HoptraceApp:
        """The app, typed."""
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        self._load(self.trace_a, self.trace_b)
        with VerticalScroll(id="compare"):
            yield Static("comparing… (reading both runs)", id="compare-summary", markup=False)
            with Horizontal(id="compare-io"):
                yield Static("", id="compare-a", markup=False)
                yield Static("", id="compare-b", markup=False)
            yield Static("", id="compare-body", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#compare").focus()

    @work(
        thread=True,
        exclusive=True,
        group="compare",
        exit_on_error=False,
        description="Comparing runs",
    )
    def _load(self, trace_a: str, trace_b: str | None) -> None:
        with queries.reader(self.hoptrace.db) as db:
            if trace_b is None:
                # the previous turn is the baseline: A is the earlier run
                earlier = queries.previous_turn(db, trace_a)
                if earlier is None:
                    message = CompareLoaded(
                        trace_a, None, None, "this run has no earlier turn in its conversation"
                    )
                    self.post_message(message)
                    return
                trace_a, trace_b = earlier, trace_a
            diff = queries.compare_runs(db, trace_a, trace_b)
        if not get_current_worker().is_cancelled:
            self.post_message(CompareLoaded(trace_a, trace_b, diff))

    @on(CompareLoaded)
    def _loaded(self, message: CompareLoaded) -> None:
        summary = self.query_one("#compare-summary", Static)
        if message.diff is None:
            summary.update(f"run {message.trace_a}: {message.error}")
            return
        self.trace_a, self.trace_b = message.trace_a, message.trace_b
        diff = self.diff = message.diff
        summary.update(summary_text(diff))
        # a pane's text width: half the screen less the scroll padding, border and padding
        width = max(20, (self.size.width - 3) // 2 - 5)
        div = diff.divergence
        self.query_one("#compare-io").display = div is not None
        if div is not None:
            self.query_one("#compare-a", Static).update(hop_side_text("A", div.a, width))
            self.query_one("#compare-b", Static).update(hop_side_text("B", div.b, width))
        self.query_one("#compare-body", Static).update(body_text(diff))

    def action_swap(self) -> None:
        """Compare the other way round (B becomes the baseline)."""
        if self.trace_b is None:
            return
        self.query_one("#compare-summary", Static).update("comparing…")
        self._load(self.trace_b, self.trace_a)
