"""A span's model calls as a chat transcript: plain lines, folding and search (no Textual).

Each model call is a header (name, duration, tokens, cost, status) followed by its
system instructions, tools offered, input turns and reply, one block per message
part: `[role]` then the text indented, tool calls as `[assistant → tool name]` with
their arguments, tool results as `[tool result id]`. A long part is folded to its
first lines with a marker saying how much is hidden; `expanded` shows everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from collector.queries import MessageRow, ModelCallRow, SpanConversation

from .fmt import fmt_cost, fmt_duration

__all__ = [
    "FOLD_CHARS",
    "FOLD_LINES",
    "TranscriptLine",
    "params_line",
    "search_lines",
    "transcript_lines",
]

FOLD_LINES = 12
"""A part longer than this many lines is folded (unless expanded)."""
FOLD_CHARS = 1200
SHOWN_FOLDED = 6
"""Lines of a folded part still shown."""
MAX_LINE = 400
"""Characters of one wrapped-off line kept (the rest is in the expanded view)."""


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    """One line of the transcript and what it is (for styling): header | role | body | fold | meta."""

    text: str
    kind: str
    role: str | None = None


def _role_label(row: MessageRow) -> str:
    role = row.role or ("system" if row.direction == "system" else "?")
    if row.part_type == "tool_call":
        return f"[{role} → tool call {row.tool_name or '?'}]" + (
            f"  id {row.tool_call_id}" if row.tool_call_id else ""
        )
    if row.part_type == "tool_call_response":
        name = f" {row.tool_name}" if row.tool_name else ""
        ident = f" {row.tool_call_id}" if row.tool_call_id else ""
        return f"[tool result{name}{ident}]"
    if row.part_type == "reasoning":
        return f"[{role} reasoning]"
    if row.part_type not in ("text", "tool_definition"):
        return f"[{role} {row.part_type}]"
    finish = (
        f"  (finish: {row.finish_reason})"
        if row.direction == "output" and row.finish_reason
        else ""
    )
    return f"[{role}]{finish}"


def _body(content: str | None, expanded: bool) -> list[TranscriptLine]:
    text = content or ""
    if not text:
        return [TranscriptLine("    (empty)", "meta")]
    lines = text.splitlines() or [""]
    hidden = 0
    if not expanded and (len(lines) > FOLD_LINES or len(text) > FOLD_CHARS):
        shown: list[str] = []
        budget = FOLD_CHARS // 2
        for line in lines[:SHOWN_FOLDED]:
            if budget <= 0:
                break
            shown.append(line[:budget])
            budget -= len(line)
        hidden_chars = len(text) - sum(len(s) for s in shown)
        hidden = len(lines) - len(shown)
        out = [TranscriptLine("    " + s[:MAX_LINE], "body") for s in shown]
        what = f"{hidden} more lines" if hidden > 0 else f"{hidden_chars} more characters"
        out.append(TranscriptLine(f"    … {what} folded (e: expand)", "fold"))
        return out
    return [TranscriptLine("    " + s, "body") for s in lines]


def _header(call: ModelCallRow) -> TranscriptLine:
    tokens = ""
    if call.input_tokens is not None or call.output_tokens is not None:
        tokens = f" · {call.input_tokens or 0} in / {call.output_tokens or 0} out"
    cost = f" · {fmt_cost(call.cost_usd)}"
    status = "" if call.status in ("OK", "UNSET") else f" · {call.status}"
    return TranscriptLine(
        f"── {call.name} · {fmt_duration(call.duration_ms)}{tokens}{cost}{status} ──", "header"
    )


def transcript_lines(
    conversation: SpanConversation, expanded: bool = False
) -> list[TranscriptLine]:
    """The whole transcript, call by call, as lines."""
    by_call: dict[str, list[MessageRow]] = {}
    for row in conversation.messages:
        by_call.setdefault(row.span_id, []).append(row)
    out: list[TranscriptLine] = []
    for call in conversation.calls:
        if out:
            out.append(TranscriptLine("", "meta"))
        out.append(_header(call))
        rows = by_call.get(call.span_id, [])
        if not rows:
            out.append(TranscriptLine("    (no messages recorded)", "meta"))
            continue
        tools = [r.tool_name or "?" for r in rows if r.direction == "tools"]
        if tools:
            out.append(TranscriptLine("[tools offered] " + ", ".join(tools), "role", "tools"))
        shown_output = False
        for row in rows:
            if row.direction == "tools":
                continue
            if row.direction == "output" and not shown_output:
                shown_output = True
                out.append(TranscriptLine("── reply ──", "meta"))
            out.append(TranscriptLine(_role_label(row), "role", row.role))
            out += _body(row.content, expanded)
        if call.status == "ERROR" and not shown_output:
            out.append(TranscriptLine("── no reply: the call failed ──", "meta"))
    if conversation.truncated:
        out.append(TranscriptLine("… more messages not shown (use the SQL console)", "meta"))
    return out


def search_lines(lines: Sequence[TranscriptLine], term: str) -> list[int]:
    """Indices of the lines containing `term` (case-insensitive)."""
    needle = term.casefold().strip()
    if not needle:
        return []
    return [i for i, line in enumerate(lines) if needle in line.text.casefold()]


_PARAMS = (
    ("gen_ai.request.temperature", "temperature"),
    ("gen_ai.request.max_tokens", "max_tokens"),
    ("gen_ai.request.top_p", "top_p"),
    ("gen_ai.request.seed", "seed"),
    ("gen_ai.request.stop_sequences", "stop"),
    ("gen_ai.request.choice.count", "n"),
    ("gen_ai.request.stream", "stream"),
    ("hoptrace.request.tool_choice", "tool_choice"),
)


def params_line(attributes: dict[str, Any], tools: Iterable[str] = ()) -> str | None:
    """`temperature 0.2 · max_tokens 64 · tools lookup, save`, or None when nothing is known."""
    parts = [
        f"{label} {attributes[key]}" for key, label in _PARAMS if attributes.get(key) is not None
    ]
    names = list(tools)
    if names:
        parts.append("tools " + ", ".join(names))
    return " · ".join(parts) if parts else None
