"""Bounded JSON previews of arguments and return values, with secrets redacted.

A preview is for a human looking at a trace, not a serialisation: containers are
truncated *while walking* (never after building a giant string), depth and item
counts are capped, unknown objects are shown through their public attributes or
a length-limited `repr`, and the final JSON text is cut at `max_bytes`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

MAX_DEPTH = 6
"""Containers nested deeper than this are shown as a short type marker."""
MAX_ITEMS = 50
"""Items shown per list/dict/set; the rest are summarised as a count."""
REDACTED = "[REDACTED]"

SENSITIVE_KEY_PARTS: tuple[str, ...] = (
    "password",
    "passwd",
    "token",
    "api_key",
    "apikey",
    "api-key",
    "authorization",
    "secret",
    "cookie",
    "private_key",
)
"""A mapping key containing one of these (case-insensitive) has its value redacted.

Strings, bytes, containers and numbers under such keys are replaced by `[REDACTED]`
(a PIN or numeric password is a secret too); booleans, and numbers under count-like
keys (`max_tokens`, `input_tokens`, `token_count`), are kept. A `("password", v)`
pair (a list of header or form tuples) is treated like a mapping entry.
"""
COUNT_KEY_PARTS: tuple[str, ...] = ("tokens", "_count", "count_", "_len", "length")

# API-key-like strings. Reasonable rather than exhaustive: the well-known key
# prefixes, bearer tokens, JWTs, and long unbroken hex/base64 runs that look
# like generated secrets. One big alternation regex costs ~0.6 ms per KB in
# CPython's engine, so each prefixed pattern only runs when a cheap substring
# test finds its prefix, and the generic long-run check only when the text has
# a whitespace-free word long enough to hold one.
_PREFIXED: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = (
    # (characters one of which every match contains, literal prefixes, pattern).
    # Testing single characters first is a memchr; most text has none of them.
    # OpenAI / Anthropic style, also as providers echo them back masked ("sk-proj-ab***yz")
    (
        "-",
        ("sk-",),
        re.compile(r"\bsk-(?:[A-Za-z0-9_\-]{16,}|(?=[A-Za-z0-9_\-*]*[0-9*])[A-Za-z0-9_\-*]{8,})"),
    ),
    ("A", ("AKIA", "ASIA"), re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),  # AWS key id
    ("_", ("gh",), re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}")),  # GitHub tokens
    ("-", ("xox",), re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),  # Slack tokens
    ("A", ("AIza",), re.compile(r"\bAIza[0-9A-Za-z_\-]{35}")),  # Google API keys
    ("rR", ("earer", "EARER"), re.compile(r"(?i:bearer)\s+[A-Za-z0-9._~+/=\-]{12,}")),
    ("J", ("eyJ",), re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}")),
)
# Credentials inside URLs (postgres://user:PASS@host) and "password=..." in free
# text, e.g. an exception message. Each runs only if its cheap trigger is present.
_DSN = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]*:)([^\s@/]+)(@)")
_ASSIGN_TRIGGERS = ("pass", "pwd", "secret", "api_key", "apikey", "api-key", "token")
_ASSIGN = re.compile(
    r"(?i)(\b(?:password|passwd|passphrase|pwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token)"
    r"\b[\"']?\s*[=:]\s*)([\"']?)([^\s\"',;&)}\]]+)"
)
MIN_GENERIC_SECRET = 32
"""A hex or mixed-case alphanumeric run this long (with digits) is treated as a secret."""
_LONG_RUN = re.compile(rf"[A-Za-z0-9+/_\-]{{{MIN_GENERIC_SECRET},}}={{0,2}}")
_HEX = re.compile(r"[0-9a-fA-F]+")
_RUN_TABLE = bytes(0x20 if b in b" \t\n\r\x0b\x0c" else 0x61 for b in range(256))
_LONG_RUN_MARK = b"a" * MIN_GENERIC_SECRET
_DIGIT = re.compile(r"[0-9]")
_UPPER = re.compile(r"[A-Z]")
_LOWER = re.compile(r"[a-z]")


def _generic_secret(match: re.Match[str]) -> str:
    run = match.group()
    core = run.rstrip("=")
    if not _DIGIT.search(core):
        return run  # words, identifiers, "xxxxxxxx…": no digits, not a key
    if _HEX.fullmatch(core) and _LOWER.search(core.lower()):
        return REDACTED  # long hex with letters: tokens, hashes used as secrets
    if _UPPER.search(core) and _LOWER.search(core):
        return REDACTED  # mixed-case base64/base62: generated keys
    return run


def _assigned(match: re.Match[str]) -> str:
    if match.group(3) == REDACTED:
        return match.group()
    return match.group(1) + match.group(2) + REDACTED


def _long_word_with_digit(text: str) -> bool:
    """Whether some whitespace-delimited word of 32+ characters holds a digit.

    A necessary condition for a generic secret. Regex scans cost ~20 ns per
    character in CPython's engine; `split`, `map(len)` and `max` run in C, so
    prose (no long words) is ruled out for a few µs per KB.
    """
    if _DIGIT.search(text) is None:
        return False
    # Is there any run of 32+ non-whitespace characters at all? Mapping the
    # UTF-8 bytes through a 256-byte table and one substring search run in C at
    # about a byte per nanosecond; multi-byte characters only make runs look
    # longer, which errs on the side of scanning.
    if _LONG_RUN_MARK not in text.encode("utf-8", "replace").translate(_RUN_TABLE):
        return False
    words = text.split()
    if max(map(len, words), default=0) < MIN_GENERIC_SECRET:
        return False
    return any(_DIGIT.search(w) is not None for w in words if len(w) >= MIN_GENERIC_SECRET)


_CACHE_LIMIT = 256
_CACHE_MIN_LEN = 64
_cache: dict[str, str] = {}


def redact_text(text: str) -> str:
    """Replace API-key-like substrings of `text` with `[REDACTED]`."""
    n = len(text)
    if n < 16:
        return text
    # The same prompt or document often flows through several spans (an
    # agent's output is the next one's input and the handoff payload): str
    # hashes are cached by CPython, so a hit costs one memcmp.
    if n >= _CACHE_MIN_LEN:
        hit = _cache.get(text)
        if hit is not None:
            return hit
    original = text
    for chars, triggers, pattern in _PREFIXED:
        for char in chars:
            if char in text:
                break
        else:
            continue
        for trigger in triggers:
            if trigger in text:
                text = pattern.sub(REDACTED, text)
                break
    if "://" in text and "@" in text:
        text = _DSN.sub(lambda m: m.group(1) + REDACTED + m.group(3), text)
    if ("=" in text or ":" in text) and any(t in text.lower() for t in _ASSIGN_TRIGGERS):
        text = _ASSIGN.sub(_assigned, text)
    # Generic secrets are long whitespace-free runs containing digits: cheap
    # C-level checks rule out most prose (and "xxxx" filler) before the regex.
    if n >= MIN_GENERIC_SECRET and _long_word_with_digit(text):
        text = _LONG_RUN.sub(_generic_secret, text)
    if n >= _CACHE_MIN_LEN:
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()  # crude but bounded; a hit rate that matters survives it
        _cache[original] = text
    return text


class Previewer:
    """Turns Python values into bounded, redacted JSON text.

    Args:
        max_bytes: Cap on the length of one preview (characters of JSON text).
        redact: Redact API-key-like strings and values under sensitive keys.
        extra_redact_keys: More key substrings to treat as sensitive.
    """

    __slots__ = ("_key_cache", "_keys", "max_bytes", "redact")

    def __init__(
        self, max_bytes: int = 4096, redact: bool = True, extra_redact_keys: Iterable[str] = ()
    ) -> None:
        if max_bytes < 16:
            raise ValueError(f"max_preview_bytes must be at least 16, got {max_bytes}")
        self.max_bytes = max_bytes
        self.redact = redact
        self._keys = tuple(k.lower() for k in (*SENSITIVE_KEY_PARTS, *extra_redact_keys))
        self._key_cache: dict[str, bool] = {}

    def preview(self, value: Any) -> str:
        """Bounded JSON text for `value` (may raise; callers guard)."""
        text = _encode(self._walk(value, 0))
        if len(text) > self.max_bytes:
            text = text[: self.max_bytes - 1] + "…"
        return text

    def text(self, value: str) -> str:
        """A plain (non-JSON) string, truncated and redacted."""
        return self._str(value)

    def attribute(self, key: str, value: Any) -> Any:
        """A user-given attribute value: kept if OTel accepts it, secrets redacted either way."""
        if self._sensitive(key) and not self._keeps(key, value):
            return REDACTED
        if isinstance(value, str):
            return self._str(value)
        if isinstance(value, (bool, int, float)):
            return value
        if isinstance(value, (list, tuple)) and value:
            first = type(value[0])
            if first in (bool, int, float) and all(type(v) is first for v in value):
                return value
            if first is str and all(type(v) is str for v in value):
                return [self._str(v) for v in value]
        return self.preview(value)

    def _str(self, value: str) -> str:
        if len(value) > self.max_bytes:
            value = value[: self.max_bytes] + f"…(+{len(value) - self.max_bytes} chars)"
        if self.redact:
            value = redact_text(value)
        return value

    def _sensitive(self, key: object) -> bool:
        if not self.redact or not isinstance(key, str):
            return False
        known = self._key_cache.get(key)
        if known is None:
            low = key.lower()
            known = any(part in low for part in self._keys)
            if len(self._key_cache) < 4096:  # parameter and field names repeat
                self._key_cache[key] = known
        return known

    @staticmethod
    def _keeps(key: str, value: Any) -> bool:
        """Whether a value under a sensitive key is shown anyway: flags and counts."""
        if isinstance(value, bool):
            return True
        if isinstance(value, (int, float)):
            low = key.lower()
            return any(part in low for part in COUNT_KEY_PARTS)
        return False

    def _walk(self, value: Any, depth: int) -> Any:
        # Fast path for the common scalar types; exact type checks so that a
        # str/int subclass with a surprising __str__ goes the careful way.
        t = type(value)
        if t is str:
            return self._str(value)
        if value is None or t is bool or t is int or t is float:
            return value
        if depth >= MAX_DEPTH:
            return f"<{t.__qualname__}>"
        if isinstance(value, Mapping):
            return self._mapping(value.items(), len(value), depth)
        if isinstance(value, (list, tuple, set, frozenset)):
            if (
                len(value) == 2
                and isinstance(value, (list, tuple))
                and type(value[0]) is str
                and value[1] is not None
                and self._sensitive(value[0])
                and not self._keeps(value[0], value[1])
            ):
                return [value[0], REDACTED]  # ("password", v): a key/value pair
            out: list[Any] = []
            for i, item in enumerate(value):
                if i >= MAX_ITEMS:
                    out.append(f"…(+{len(value) - MAX_ITEMS} items)")
                    break
                out.append(self._walk(item, depth + 1))
            return out
        if isinstance(value, str):
            return self._str(str.__str__(value))
        if isinstance(value, (bytes, bytearray, memoryview)):
            raw = bytes(value[: self.max_bytes])
            return self._str(f"<{len(value)} bytes> " + raw.decode("utf-8", "replace"))
        if isinstance(value, (int, float)):
            return float(value) if isinstance(value, float) else int(value)
        return self._object(value, depth)

    def _mapping(self, items: Iterable[tuple[Any, Any]], size: int, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i, (k, v) in enumerate(items):
            if i >= MAX_ITEMS:
                out["…"] = f"+{size - MAX_ITEMS} keys"
                break
            key = k if isinstance(k, str) else _short_repr(k)
            if v is not None and self._sensitive(key) and not self._keeps(key, v):
                out[key] = REDACTED
            else:
                out[key] = self._walk(v, depth + 1)
        return out

    def _object(self, value: Any, depth: int) -> Any:
        t = type(value)
        # pydantic v2 models: their fields, without calling model_dump (which
        # would serialise the whole object before we get to truncate it).
        fields = getattr(t, "model_fields", None)
        if isinstance(fields, dict):
            items = [(name, getattr(value, name, None)) for name in list(fields)[: MAX_ITEMS + 1]]
            return {"__type__": t.__qualname__, **self._mapping(items, len(fields), depth)}
        if dataclasses.is_dataclass(value):
            names = [f.name for f in dataclasses.fields(value)]
            items = [(n, getattr(value, n, None)) for n in names[: MAX_ITEMS + 1]]
            return {"__type__": t.__qualname__, **self._mapping(items, len(names), depth)}
        attrs = getattr(value, "__dict__", None)
        if isinstance(attrs, dict) and attrs and not callable(value):
            public = [(k, v) for k, v in list(attrs.items())[: MAX_ITEMS * 2] if k[:1] != "_"]
            return {"__type__": t.__qualname__, **self._mapping(public, len(public), depth)}
        return self._str(_short_repr(value))


def _short_repr(value: object, limit: int = 200) -> str:
    # A repr is computed only for objects we could not walk; it is cut short,
    # and a failing __repr__ becomes a type marker.
    try:
        text = repr(value)
    except Exception:
        return f"<{type(value).__qualname__} (repr failed)>"
    if len(text) > limit:
        text = text[:limit] + "…"
    return text


def _fallback(value: object) -> str:
    return _short_repr(value)


# Built once: json.dumps() with non-default options builds a new encoder per call.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_fallback).encode
