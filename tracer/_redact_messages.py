"""Model-call content as bounded, redacted OTel GenAI JSON (one walk, one encode).

Input shapes understood: OpenAI chat-completions messages (what litellm takes: string
or part-list `content`, `tool_calls`, `tool` turns, `reasoning_content`), Anthropic
content blocks (`text`, `tool_use`, `tool_result`, `thinking`), messages already in the
GenAI `{"role", "parts"}` shape, pydantic models and plain objects with those fields.
Output: the GenAI shapes (see `tracer._llm`). Every text goes through one budget:
a part is cut at `max_part` characters, the call's text as a whole at `max_total`;
what is cut is marked `…(+N chars)` in place. Structured values (tool arguments and
definitions) go through the argument `Previewer` (key-based redaction, its caps).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as _field
from typing import Any

from opentelemetry.trace import Span

from . import semconv
from ._capture import MAX_ITEMS, Previewer, redact_text

MAX_PART_CHARS = 16_384
"""One text part (a prompt, a reply, a tool result) is cut to this many characters."""
MAX_CONTENT_CHARS = 65_536
"""All message text of one model call together is cut to this many characters."""


@dataclass(frozen=True, slots=True)
class MessageCaps:
    """The size caps of model-call content, with overrides per call kind.

    A call kind is its `gen_ai.operation.name` ("chat", "text_completion",
    "generate_content", "embeddings", ...); kinds not in `per_kind` use the defaults.
    """

    max_part: int = MAX_PART_CHARS
    max_total: int = MAX_CONTENT_CHARS
    per_kind: Mapping[str, tuple[int, int]] = _field(default_factory=dict)

    @classmethod
    def build(
        cls, max_part: int, max_total: int, per_kind: Mapping[str, tuple[int, int]] | None
    ) -> MessageCaps:
        """Validated caps (ValueError on a cap below 1 or a malformed override)."""
        kinds: dict[str, tuple[int, int]] = {}
        for kind, caps in (per_kind or {}).items():
            if not (isinstance(caps, tuple) and len(caps) == 2):
                raise ValueError(f"message_caps[{kind!r}] must be (max_part, max_total)")
            kinds[str(kind)] = (_cap(f"message_caps[{kind!r}][0]", caps[0]),
                                _cap(f"message_caps[{kind!r}][1]", caps[1]))  # fmt: skip
        return cls(_cap("max_message_part_chars", max_part),
                   _cap("max_message_chars", max_total), kinds)  # fmt: skip

    def for_kind(self, kind: str) -> tuple[int, int]:
        """(max_part, max_total) for one call kind."""
        return self.per_kind.get(kind) or (self.max_part, self.max_total)


def _cap(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


_OFF = frozenset({"false", "0", "no", "off", "no_content", "none"})
_PASS_THROUGH = frozenset(
    {"tool_call", "tool_call_response", "reasoning", "uri", "blob", "file", "server_tool_call"}
)
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


def content_switch_on() -> bool:
    """What the OTel GenAI content switch says (unset: on, hoptrace's default)."""
    value = os.environ.get(semconv.CAPTURE_CONTENT_ENV)
    return value is None or value.strip().lower() not in _OFF


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


class Content:
    """The content of one model call: converts, bounds, redacts and sets the attributes."""

    __slots__ = ("_left", "_original", "_previewer", "_truncated", "enabled", "max_part")

    def __init__(
        self,
        previewer: Previewer,
        enabled: bool = True,
        max_part: int = MAX_PART_CHARS,
        max_total: int = MAX_CONTENT_CHARS,
    ) -> None:
        self._previewer = previewer
        self.enabled = enabled
        self.max_part = max_part
        self._left = max_total
        self._original = 0
        self._truncated = False

    # --- recording -------------------------------------------------------------

    def record(
        self, span: Span, *, system: Any = None, input: Any = None, tools: Any = None
    ) -> None:
        """Set the request-side attributes (system instructions, input messages, tools)."""
        instructions: list[dict[str, Any]] = []
        if system is not None:
            instructions = self.system_parts(system)
        messages: list[dict[str, Any]] = []
        if input is not None:
            if isinstance(input, (str, bytes)) or not isinstance(input, Iterable):
                input = [{"role": "user", "content": input}]
            items = list(input)
            leading = 0
            while leading < len(items) and _get(items[leading], "role") in ("system", "developer"):
                leading += 1
            for m in items[:leading]:
                instructions += self.parts(_get(m, "content"))
            messages = [self.message(m) for m in items[leading:]]
        if instructions:
            span.set_attribute(semconv.GEN_AI_SYSTEM_INSTRUCTIONS, _encode(instructions))
        if messages:
            span.set_attribute(semconv.GEN_AI_INPUT_MESSAGES, _encode(messages))
        if tools:
            definitions = [self.tool_definition(t) for t in list(tools)[:MAX_ITEMS]]
            span.set_attribute(semconv.GEN_AI_TOOL_DEFINITIONS, _encode(definitions))
        self._mark(span)

    def record_output(self, span: Span, output: Any, finish_reason: str | None = None) -> None:
        """Set `gen_ai.output.messages` from a response object, message list or string."""
        messages = self.output_messages(output, finish_reason)
        if messages:
            span.set_attribute(semconv.GEN_AI_OUTPUT_MESSAGES, _encode(messages))
        self._mark(span)

    def _mark(self, span: Span) -> None:
        if self._truncated:
            span.set_attribute(semconv.MESSAGES_TRUNCATED, True)
            span.set_attribute(semconv.MESSAGES_ORIGINAL_CHARS, self._original)

    # --- conversion --------------------------------------------------------------

    def text(self, value: Any) -> str:
        s = value if isinstance(value, str) else str(value)
        n = len(s)
        self._original += n
        cap = max(0, min(self.max_part, self._left))
        if n > cap:
            self._truncated = True
            s = s[:cap] + f"…(+{n - cap} chars)"
            self._left -= cap
        else:
            self._left -= n
        return redact_text(s) if self._previewer.redact else s

    def value(self, v: Any) -> Any:
        """A structured value (tool arguments, results): parsed if JSON text, then previewed."""
        if isinstance(v, str):
            stripped = v.lstrip()[:1]
            if stripped in ("{", "[") and len(v) <= 1_000_000:
                try:
                    v = json.loads(v)
                except ValueError:
                    return self.text(v)
            else:
                return self.text(v)
        # the previewer's walk (not its JSON text): the message list is encoded once, later
        return v if _plain_scalar(v) else self._previewer._walk(v, 0)

    def _text_part(self, value: Any) -> dict[str, Any]:
        return {"type": "text", "content": self.text(value)}

    def system_parts(self, system: Any) -> list[dict[str, Any]]:
        if isinstance(system, str):
            return [self._text_part(system)]
        out: list[dict[str, Any]] = []
        for item in list(system)[:MAX_ITEMS]:
            role = _get(item, "role")
            out += self.parts(_get(item, "content") if role else [item])
        return out

    def parts(self, content: Any) -> list[dict[str, Any]]:
        if content is None:
            return []
        if isinstance(content, str):
            return [self._text_part(content)] if content else []
        if not isinstance(content, (list, tuple)):
            return [self._text_part(content)]
        out = []
        for item in content[:MAX_ITEMS]:
            part = self.part(item)
            if part is not None:
                out.append(part)
        return out

    def part(self, item: Any) -> dict[str, Any] | None:
        if isinstance(item, str):
            return self._text_part(item)
        kind = _get(item, "type")
        if kind in ("text", "input_text", "output_text"):
            return self._text_part(_get(item, "text") or _get(item, "content") or "")
        if kind == "image_url":
            url = _get(item, "image_url")
            url = _get(url, "url") if not isinstance(url, str) else url
            return self._uri(str(url or ""), "image")
        if kind == "tool_use":  # Anthropic
            return self.tool_call(_get(item, "id"), _get(item, "name"), _get(item, "input"))
        if kind == "tool_result":  # Anthropic
            return self.tool_response(_get(item, "tool_use_id"), _get(item, "content"))
        if kind in ("thinking", "reasoning"):
            body = _get(item, "thinking") or _get(item, "content") or _get(item, "text") or ""
            return {"type": "reasoning", "content": self.text(body)}
        if kind in _PASS_THROUGH and isinstance(item, Mapping):
            out = dict(item)
            for key in ("content", "response", "result", "arguments"):
                if key in out:
                    out[key] = self.value(out[key]) if key != "content" else self.text(out[key])
            return out
        return {"type": str(kind or "unknown"), "content": self.value(item)}

    def _uri(self, url: str, modality: str) -> dict[str, Any]:
        if url.startswith("data:"):
            mime = url[5:].split(";", 1)[0]
            return {"type": "blob", "modality": modality, "mime_type": mime,
                    "content": f"<{len(url)} chars of inline data, not recorded>"}  # fmt: skip
        return {"type": "uri", "modality": modality, "uri": self.text(url)}

    def tool_call(self, call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
        part: dict[str, Any] = {"type": "tool_call", "id": _str(call_id), "name": _str(name)}
        if arguments is not None:
            part["arguments"] = self.value(arguments)
        return part

    def tool_response(self, call_id: Any, response: Any) -> dict[str, Any]:
        if isinstance(response, (list, tuple)):
            texts = [_get(p, "text") for p in response]
            if all(isinstance(t, str) for t in texts):
                response = "\n".join(t for t in texts if isinstance(t, str))
        body = self.text(response) if isinstance(response, str) else self.value(response)
        return {"type": "tool_call_response", "id": _str(call_id), "response": body}

    def _openai_tool_call(self, tc: Any) -> dict[str, Any]:
        fn = _get(tc, "function")
        return self.tool_call(_get(tc, "id"), _get(fn, "name"), _get(fn, "arguments"))

    def message(self, m: Any) -> dict[str, Any]:
        if isinstance(m, str):
            return {"role": "user", "parts": [self._text_part(m)]}
        role = str(_get(m, "role") or "user")
        given = _get(m, "parts")
        if isinstance(given, list):  # already GenAI-shaped
            parts = [p for p in (self.part(x) for x in given[:MAX_ITEMS]) if p is not None]
            out: dict[str, Any] = {"role": role, "parts": parts}
        elif role in ("tool", "function"):
            response = self.tool_response(_get(m, "tool_call_id"), _get(m, "content"))
            out = {"role": "tool", "parts": [response]}
        else:
            parts = []
            reasoning = _get(m, "reasoning_content")
            if reasoning:
                parts.append({"type": "reasoning", "content": self.text(reasoning)})
            parts += self.parts(_get(m, "content"))
            for tc in (_get(m, "tool_calls") or ())[:MAX_ITEMS]:
                parts.append(self._openai_tool_call(tc))
            legacy = _get(m, "function_call")
            if legacy:
                parts.append(self.tool_call(None, _get(legacy, "name"), _get(legacy, "arguments")))
            out = {"role": role, "parts": parts}
        name = _get(m, "name")
        if name:
            out["name"] = str(name)
        return out

    def output_messages(self, output: Any, finish_reason: str | None) -> list[dict[str, Any]]:
        if isinstance(output, str):
            messages = [{"role": "assistant", "parts": [self._text_part(output)]}]
        elif _get(output, "choices") is not None:  # OpenAI / litellm response
            messages = []
            for choice in list(_get(output, "choices"))[:MAX_ITEMS]:
                msg = self.message(_get(choice, "message") or {"role": "assistant"})
                msg["role"] = msg.get("role") or "assistant"
                msg["finish_reason"] = _str(_get(choice, "finish_reason")) or "stop"
                messages.append(msg)
            return messages
        elif _get(output, "content") is not None and _get(output, "stop_reason") is not None:
            msg = self.message({"role": "assistant", "content": list(_get(output, "content"))})
            msg["finish_reason"] = _str(_get(output, "stop_reason"))
            return [msg]
        elif isinstance(output, (list, tuple)):
            messages = [self.message(m) for m in output[:MAX_ITEMS]]
        else:
            messages = [self.message(output)]
        for msg in messages:
            msg.setdefault("finish_reason", finish_reason or "stop")
        return messages

    def tool_definition(self, tool: Any) -> dict[str, Any]:
        fn = _get(tool, "function") or tool  # OpenAI nests it; Anthropic does not
        out: dict[str, Any] = {"type": _str(_get(tool, "type")) or "function",
                               "name": _str(_get(fn, "name"))}  # fmt: skip
        description = _get(fn, "description")
        if description:
            out["description"] = self.text(description)
        params = _get(fn, "parameters") or _get(fn, "input_schema")
        if params is not None:
            out["parameters"] = self.value(params)
        return out


class StreamedReply:
    """The tool-call fragments of a streamed reply, joined by their index."""

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, str]] = {}

    def __bool__(self) -> bool:
        return bool(self._calls)

    def see(self, delta_call: Any) -> None:
        index = _get(delta_call, "index")
        key = index if isinstance(index, int) else len(self._calls)
        call = self._calls.setdefault(key, {})
        if len(call.get("arguments", "")) > 1_000_000:
            return
        fn = _get(delta_call, "function")
        for field, value in (("id", _get(delta_call, "id")), ("name", _get(fn, "name"))):
            if value:
                call[field] = str(value)
        fragment = _get(fn, "arguments")
        if fragment:
            call["arguments"] = call.get("arguments", "") + str(fragment)

    def message(self, text: str) -> dict[str, Any]:
        """The assembled reply as one chat-completions message."""
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if self._calls:
            message["tool_calls"] = [
                {
                    "id": c.get("id"),
                    "function": {"name": c.get("name"), "arguments": c.get("arguments")},
                }
                for _, c in sorted(self._calls.items())
            ]
        return message


def _plain_scalar(v: Any) -> bool:
    return v is None or type(v) in (bool, int, float)


def _str(v: Any) -> str | None:
    return None if v is None else str(v)


# --- request parameters (not content: recorded whatever the switches say) ----------

_REQUEST_PARAMS: tuple[tuple[str, str, type], ...] = (
    ("temperature", semconv.GEN_AI_REQUEST_TEMPERATURE, float),
    ("max_tokens", semconv.GEN_AI_REQUEST_MAX_TOKENS, int),
    ("max_completion_tokens", semconv.GEN_AI_REQUEST_MAX_TOKENS, int),
    ("top_p", semconv.GEN_AI_REQUEST_TOP_P, float),
    ("seed", semconv.GEN_AI_REQUEST_SEED, int),
    ("frequency_penalty", semconv.GEN_AI_REQUEST_FREQUENCY_PENALTY, float),
    ("presence_penalty", semconv.GEN_AI_REQUEST_PRESENCE_PENALTY, float),
    ("n", semconv.GEN_AI_REQUEST_CHOICE_COUNT, int),
    ("stream", semconv.GEN_AI_REQUEST_STREAM, bool),
)


def record_request(span: Span, params: Mapping[str, Any]) -> None:
    """gen_ai.request.* from a call's keyword arguments (unknown names are ignored)."""
    for key, attr, kind in _REQUEST_PARAMS:
        v = params.get(key)
        if v is not None and not isinstance(v, (dict, list)):
            with contextlib.suppress(TypeError, ValueError):
                span.set_attribute(attr, kind(v))
    stop = params.get("stop") or params.get("stop_sequences")
    if stop:
        span.set_attribute(
            semconv.GEN_AI_REQUEST_STOP_SEQUENCES,
            [stop] if isinstance(stop, str) else [str(x) for x in stop],
        )
    choice = params.get("tool_choice")
    if choice:
        if not isinstance(choice, str):
            choice = _get(_get(choice, "function"), "name") or _get(choice, "type") or str(choice)
        span.set_attribute(semconv.TOOL_CHOICE, str(choice))
