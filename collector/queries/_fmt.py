"""Text formatting of durations, costs, tokens and times (deterministic given a clock), the one
spelling every surface uses: the TUI (`tui.layout.fmt`) and the collector's text outputs."""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["fmt_ago", "fmt_cost", "fmt_duration", "fmt_time", "fmt_tokens", "truncate"]


def fmt_duration(ms: float | None) -> str:
    """`ms` as 850ms / 1.25s / 2m05s; blank when unknown."""
    if ms is None:
        return ""
    if ms < 1:
        return f"{ms * 1000:.0f}µs"
    if ms < 1000:
        return f"{ms:.0f}ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f}s"
    minutes, seconds = divmod(int(ms // 1000), 60)
    return f"{minutes}m{seconds:02d}s"


def fmt_cost(usd: float | None) -> str:
    """Dollars; "n/a" for unknown (never a 0 that looks known)."""
    if usd is None:
        return "n/a"
    if usd == 0:
        return "$0"
    if usd < 0.01:
        return f"${usd:.5f}"
    return f"${usd:.4f}" if usd < 1 else f"${usd:,.2f}"


def fmt_tokens(n: int | None) -> str:
    """Compact token counts: 950, 12.3k, 4.1M."""
    if n is None:
        return ""
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1e6:.1f}M"


def fmt_time(ns: int) -> str:
    """UTC wall time of a Unix-ns timestamp."""
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def fmt_ago(ns: int, now_ns: int) -> str:
    """How long ago, relative to an injected `now_ns` (so snapshots stay stable)."""
    sec = max(0, (now_ns - ns) // 1_000_000_000)
    if sec < 60:
        return f"{sec}s ago"
    if sec < 3600:
        return f"{sec // 60}m ago"
    if sec < 86400:
        return f"{sec // 3600}h ago"
    return f"{sec // 86400}d ago"


def truncate(text: str | None, width: int) -> str:
    """Cut to `width` cells with an ellipsis, flattening newlines."""
    if not text:
        return ""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"
