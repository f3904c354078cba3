"""Model prices from litellm's bundled price map, read as JSON (never `import litellm`).

Importing litellm costs seconds and may touch the network; the price map is a JSON
file shipped inside the package, so we locate the package directory with
`importlib.util.find_spec` and read the file. No network, ever.

Model strings in spans come in many spellings (`gpt-4o-mini`, `openai/gpt-4o-mini`,
`claude-sonnet-4-5-20250929`, `gemini/gemini-2.5-flash`, bedrock's
`us.anthropic.claude-…-v1:0`); `resolve()` maps them to one price-map key.
An unknown model resolves to None and its cost stays NULL, never 0.
"""

from __future__ import annotations

import importlib.util
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PRICE_FILE = "model_prices_and_context_window_backup.json"

# Providers whose own spelling of a model wins when several keys share a bare name.
_NATIVE = ("openai", "anthropic", "gemini", "mistral", "groq", "deepseek", "xai", "cohere")
_DATE_SUFFIX = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2}|latest)$")
_BEDROCK = re.compile(
    r"^(?:[a-z]{2,6}\.)?(?:anthropic|meta|amazon|mistral|cohere|ai21)\.(.+?)(?:-v\d+(?::\d+)?)?$"
)


@dataclass(frozen=True)
class Price:
    """Per-token USD prices of one model."""

    model: str
    provider: str | None
    mode: str | None
    input: float | None
    output: float | None
    cache_read: float | None
    max_input_tokens: int | None
    max_output_tokens: int | None


class PriceMap:
    """litellm's price map with an alias index for the spellings seen in spans."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.prices: dict[str, Price] = {}
        for key, entry in raw.items():
            if not isinstance(entry, dict) or key == "sample_spec":
                continue
            inp, out = entry.get("input_cost_per_token"), entry.get("output_cost_per_token")
            if inp is None and out is None:
                continue
            self.prices[key] = Price(
                model=key,
                provider=entry.get("litellm_provider"),
                mode=entry.get("mode"),
                input=_num(inp),
                output=_num(out),
                cache_read=_num(entry.get("cache_read_input_token_cost")),
                max_input_tokens=_int(entry.get("max_input_tokens")),
                max_output_tokens=_int(entry.get("max_output_tokens")),
            )
        self.aliases: dict[str, str] = {}
        ranked = sorted(self.prices.values(), key=_alias_rank)
        for price in ranked:
            for alias in _aliases(price.model):
                if alias not in self.prices:
                    self.aliases.setdefault(alias, price.model)
        self._cache: dict[tuple[str, str | None], Price | None] = {}

    def resolve(self, model: str | None, provider: str | None = None) -> Price | None:
        """The price entry for a model string as found in a span, or None if unknown."""
        if not model:
            return None
        key = (model, provider)
        if key in self._cache:
            return self._cache[key]
        found = self._lookup(model.strip(), provider)
        if len(self._cache) < 100_000:
            self._cache[key] = found
        return found

    def _lookup(self, model: str, provider: str | None) -> Price | None:
        candidates = [model, model.lower()]
        if provider:
            candidates.insert(0, f"{_provider_prefix(provider)}/{model}")
        for cand in list(candidates):
            if "/" in cand:
                candidates.append(cand.split("/", 1)[1])
        for cand in list(candidates):
            stripped = _DATE_SUFFIX.sub("", cand)
            if stripped != cand:
                candidates.append(stripped)
        for cand in candidates:
            if cand in self.prices:
                return self.prices[cand]
            if cand in self.aliases:
                return self.prices[self.aliases[cand]]
        return None


def cost_sql(price: str, tokens: str = "") -> str:
    """SQL for the USD cost of one call from token columns and `{price}_model`, `_input`, ….

    NULL when every token count is NULL or a needed price is unknown, never a 0
    that looks known. GenAI semconv: input_tokens include the cached ones, which
    are billed at the cache-read rate when the model has one.
    """
    it, ot, cr = (f"{tokens}{c}" for c in ("input_tokens", "output_tokens", "cache_read_tokens"))
    inp, out, cache = (f"{price}_{c}" for c in ("input", "output", "cache_read"))
    cached = f"least({cr}, coalesce({it}, 0))"
    output = f"(CASE WHEN coalesce({ot}, 0) <> 0 THEN {ot} * {out} ELSE 0 END)"
    return f"""(CASE
    WHEN ({it} IS NULL AND {ot} IS NULL) OR {price}_model IS NULL THEN NULL
    WHEN coalesce({cr}, 0) <> 0 AND {cache} IS NOT NULL AND {inp} IS NOT NULL
        THEN {cached} * {cache} + (coalesce({it}, 0) - {cached}) * {inp} + {output}
    ELSE (CASE WHEN coalesce({it}, 0) <> 0 THEN {it} * {inp} ELSE 0 END) + {output}
END)"""


def _num(v: Any) -> float | None:
    try:
        return None if v is None else float(v)
    except (TypeError, ValueError):
        return None


def _int(v: Any) -> int | None:
    try:
        return None if v is None else int(v)
    except (TypeError, ValueError):
        return None


def _alias_rank(price: Price) -> tuple[int, int, str]:
    native = 0 if price.provider in _NATIVE else 1
    return (native, len(price.model), price.model)


def _aliases(key: str) -> list[str]:
    out: list[str] = []
    bare = key.rsplit("/", 1)[-1]
    if bare != key:
        out.append(bare)
    m = _BEDROCK.match(bare)
    if m:
        out.append(m.group(1))
    for a in list(out) or [key]:
        stripped = _DATE_SUFFIX.sub("", a)
        if stripped != a:
            out.append(stripped)
    return out


def _provider_prefix(provider: str) -> str:
    # GenAI provider names -> litellm's route prefixes
    return {
        "gcp.gemini": "gemini",
        "gcp.gen_ai": "gemini",
        "gcp.vertex_ai": "vertex_ai",
        "aws.bedrock": "bedrock",
        "azure.ai.openai": "azure",
        "az.ai.openai": "azure",
        "mistral_ai": "mistral",
        "x_ai": "xai",
    }.get(provider, provider)


def price_file() -> Path | None:
    """Path of litellm's bundled price JSON, or None if litellm is not installed."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / PRICE_FILE
        if path.is_file():
            return path
    return None


_LOCK = threading.Lock()
_MAP: PriceMap | None = None


def price_map() -> PriceMap:
    """The process-wide price map (loaded once; empty if litellm is missing)."""
    global _MAP
    with _LOCK:
        if _MAP is None:
            path = price_file()
            raw: dict[str, Any] = {}
            if path is not None:
                raw = json.loads(path.read_text(encoding="utf-8"))
            _MAP = PriceMap(raw)
        return _MAP
