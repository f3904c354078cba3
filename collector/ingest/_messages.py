"""One normalised form of what a model call saw and said, whatever dialect it came in.

Read at staging (Python, per span, only for spans carrying a message attribute or
event) into a flat list of rows stored once per span as JSON text in `span_t.messages`
(the `messages` view unnests it), plus three summary columns for `llm_calls`.

Dialects (../shared/reference/dialects.md):
- hoptrace, OTel GenAI current, pydantic-ai, litellm's OTel callback:
  `gen_ai.system_instructions`, `gen_ai.input.messages`, `gen_ai.output.messages`,
  `gen_ai.tool.definitions` (JSON text or structured), `{"role", "parts"}` messages;
  a `tool_call_response` part's `response` or (pydantic-ai) `result`.
- OTel GenAI older forms: `gen_ai.prompt` / `gen_ai.completion` (JSON message list or
  plain text), OpenLLMetry's indexed `gen_ai.prompt.N.role|content` /
  `gen_ai.completion.N.*`, and the per-message events `gen_ai.{system,user,assistant,
  tool}.message` and `gen_ai.choice`.
- OpenInference (incl. the OpenAI Agents SDK through it): `llm.input_messages.N.message.*`
  / `llm.output_messages.N.message.*` (role, content, contents.J.message_content.text,
  tool_calls.K.tool_call.{id,function.name,function.arguments}, tool_call_id, name),
  `llm.tools.N.tool.json_schema`; on LLM spans without those, `input.value` /
  `output.value` (a message list, `{"messages": [...]}`, Responses-API items, or text).
Chat-completions messages (`content`, `tool_calls`, role `tool`) are understood in all of them.

A row: direction (system | input | output | tools), index (row order within the
direction), message_index, role, part_type (text | tool_call | tool_call_response |
reasoning | tool_definition | …), content (text; JSON text for structured values),
tool_name, tool_call_id, finish_reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

import orjson

from tracer import semconv as sc

MAX_CONTENT = 16_384
"""A row's content is cut to this many characters (the tracer's own cap per part)."""
MAX_ROWS = 500
PREVIEW = 200
"""Characters of `llm_calls.first_user_message`."""

_OI_IN, _OI_OUT = "llm.input_messages.", "llm.output_messages."
TRIGGER_KEYS = frozenset(
    {
        sc.GEN_AI_INPUT_MESSAGES,
        sc.GEN_AI_OUTPUT_MESSAGES,
        sc.GEN_AI_SYSTEM_INSTRUCTIONS,
        sc.GEN_AI_PROMPT,
        sc.GEN_AI_COMPLETION,
        "gen_ai.prompt.0.content",
        "gen_ai.prompt.0.role",
        "gen_ai.completion.0.content",
        _OI_IN + "0.message.role",
        _OI_OUT + "0.message.role",
        "input.value",
    }
)
"""A span is normalised only if one of these attributes is present (a set test)."""
EVENT_ROLES = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
EVENT_CHOICE = "gen_ai.choice"
_OI_KIND = "openinference.span.kind"


class Normalised(NamedTuple):
    messages: str
    """JSON text of the rows."""
    input_count: int
    output_count: int
    first_user: str | None


def wants(attrs: Mapping[str, Any], events: list[dict[str, Any]] | None) -> bool:
    """Cheap test: could this span carry messages?"""
    if not TRIGGER_KEYS.isdisjoint(attrs):
        return True
    return any(e.get("name") in EVENT_ROLES or e.get("name") == EVENT_CHOICE for e in events or ())


def normalise(attrs: Mapping[str, Any], events: list[dict[str, Any]] | None) -> Normalised | None:
    """The rows of one span, or None when it carries no messages (never raises on bad input)."""
    try:
        rows = _Rows()
        _collect(rows, attrs, events or [])
    except (ValueError, TypeError, AttributeError, KeyError, RecursionError):
        return None
    if not rows.rows:
        return None
    first = next(
        (r["content"] for r in rows.rows
         if r["direction"] == "input" and r["role"] == "user" and r["part_type"] == "text"),
        None,
    )  # fmt: skip
    if first is not None and len(first) > PREVIEW:
        first = first[:PREVIEW] + "…"
    return Normalised(
        _dumps(rows.rows),
        rows.messages.get("input", 0),
        rows.messages.get("output", 0),
        first,
    )


def _collect(rows: _Rows, attrs: Mapping[str, Any], events: list[dict[str, Any]]) -> None:
    system = _loads(attrs.get(sc.GEN_AI_SYSTEM_INSTRUCTIONS))
    if system is not None:
        rows.message(
            "system", {"role": "system", "parts": system} if isinstance(system, list) else system
        )
    for direction, key, legacy in (
        ("input", sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_PROMPT),
        ("output", sc.GEN_AI_OUTPUT_MESSAGES, sc.GEN_AI_COMPLETION),
    ):
        value = _loads(attrs.get(key))
        if value is None:
            value = _loads(attrs.get(legacy))
        if value is None:
            value = _indexed(attrs, legacy + ".")
        if value is None:
            value = _openinference(attrs, _OI_IN if direction == "input" else _OI_OUT)
        if value is None and str(attrs.get(_OI_KIND, "")).upper() == "LLM":
            value = _oi_value(attrs.get(direction + ".value"), direction)
        if value is not None:
            rows.messages_of(direction, value)
    tools = _loads(attrs.get(sc.GEN_AI_TOOL_DEFINITIONS))
    if tools is None:
        tools = _oi_tools(attrs)
    if isinstance(tools, list):
        for tool in tools[:MAX_ROWS]:
            rows.tool_definition(tool)
    for event in events:
        name = event.get("name")
        ea = event.get("attributes") or {}
        if name in EVENT_ROLES:
            role = EVENT_ROLES[name]
            body = _loads(ea.get("content", ea.get("gen_ai.event.content")))
            message: dict[str, Any] = dict(body) if isinstance(body, Mapping) else {"content": body}
            message.setdefault("role", role)
            if role == "tool" and "tool_call_id" not in message and ea.get("id"):
                message["tool_call_id"] = ea.get("id")
            rows.message("system" if role == "system" else "input", message)
        elif name == EVENT_CHOICE:
            body = _loads(ea.get("message")) or {"content": ea.get("content")}
            message = dict(body) if isinstance(body, Mapping) else {"content": body}
            message.setdefault("role", "assistant")
            message.setdefault("finish_reason", ea.get("finish_reason"))
            rows.message("output", message)


class _Rows:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.messages: dict[str, int] = {}
        self._index: dict[str, int] = {}

    def add(self, direction: str, message_index: int, role: str | None, part_type: str,
            content: Any = None, tool_name: Any = None, tool_call_id: Any = None,
            finish_reason: Any = None) -> None:  # fmt: skip
        if len(self.rows) >= MAX_ROWS:
            return
        index = self._index.get(direction, 0)
        self._index[direction] = index + 1
        self.rows.append(
            {
                "direction": direction,
                "index": index,
                "message_index": message_index,
                "role": role,
                "part_type": part_type,
                "content": _text(content),
                "tool_name": None if tool_name is None else str(tool_name),
                "tool_call_id": None if tool_call_id is None else str(tool_call_id),
                "finish_reason": None if finish_reason is None else str(finish_reason),
            }
        )

    def messages_of(self, direction: str, value: Any) -> None:
        if isinstance(value, Mapping) and "messages" in value:
            value = value["messages"]
        if not isinstance(value, list):
            value = [{"role": "user" if direction == "input" else "assistant", "content": value}]
        for message in value[:MAX_ROWS]:
            role = message.get("role") if isinstance(message, Mapping) else None
            self.message("system" if role in ("system", "developer") and direction == "input"
                         else direction, message)  # fmt: skip

    def message(self, direction: str, message: Any) -> None:
        n = self.messages.get(direction, 0)
        self.messages[direction] = n + 1
        if not isinstance(message, Mapping):
            implied = {"system": "system", "input": "user"}.get(direction, "assistant")
            self.add(direction, n, implied, "text", message)
            return
        role: Any = message.get("role")
        finish = message.get("finish_reason")
        kind = message.get("type")
        if kind == "function_call":  # OpenAI Responses API item
            self.add(direction, n, role or "assistant", "tool_call", message.get("arguments"),
                     message.get("name"), message.get("call_id") or message.get("id"), finish)  # fmt: skip
            return
        if kind == "function_call_output":
            self.add(direction, n, role or "tool", "tool_call_response", message.get("output"),
                     None, message.get("call_id"), finish)  # fmt: skip
            return
        before = len(self.rows)
        parts = message.get("parts")
        if isinstance(parts, list):
            for part in parts[:MAX_ROWS]:
                self.part(direction, n, role, part, finish)
        elif role in ("tool", "function"):
            self.add(direction, n, "tool", "tool_call_response", message.get("content"),
                     message.get("name"), message.get("tool_call_id"), finish)  # fmt: skip
        else:
            content = message.get("content")
            if isinstance(content, list):
                for part in content[:MAX_ROWS]:
                    self.part(direction, n, role, part, finish)
            elif content not in (None, ""):
                self.add(direction, n, role, "text", content, None, None, finish)
            for tc in message.get("tool_calls") or ():
                if isinstance(tc, Mapping):
                    fn = tc.get("function") or {}
                    self.add(direction, n, role, "tool_call", fn.get("arguments"), fn.get("name"),
                             tc.get("id"), finish)  # fmt: skip
        if len(self.rows) == before:  # an empty message still counts, and is shown
            self.add(direction, n, role, "text", "", None, None, finish)

    def part(self, direction: str, n: int, role: Any, part: Any, finish: Any) -> None:
        if not isinstance(part, Mapping):
            self.add(direction, n, role, "text", part, None, None, finish)
            return
        kind = str(part.get("type") or "text")
        if kind in ("text", "input_text", "output_text"):
            self.add(
                direction,
                n,
                role,
                "text",
                part.get("content", part.get("text")),
                None,
                None,
                finish,
            )
        elif kind in ("tool_call", "tool_use", "server_tool_call"):
            self.add(direction, n, role, "tool_call", part.get("arguments", part.get("input")),
                     part.get("name"), part.get("id"), finish)  # fmt: skip
        elif kind in ("tool_call_response", "tool_result", "server_tool_call_response"):
            body = part.get("response", part.get("result", part.get("content")))
            self.add(direction, n, role, "tool_call_response", body, part.get("name"),
                     part.get("id", part.get("tool_use_id")), finish)  # fmt: skip
        elif kind in ("reasoning", "thinking"):
            self.add(direction, n, role, "reasoning", part.get("content", part.get("thinking")),
                     None, None, finish)  # fmt: skip
        elif kind == "uri":
            self.add(direction, n, role, "uri", part.get("uri"), None, None, finish)
        else:
            body = part.get("content", {k: v for k, v in part.items() if k != "type"})
            self.add(direction, n, role, kind, body, None, None, finish)

    def tool_definition(self, tool: Any) -> None:
        if not isinstance(tool, Mapping):
            return
        nested = tool.get("function")
        fn: Mapping[str, Any] = nested if isinstance(nested, Mapping) else tool
        n = self.messages.get("tools", 0)
        self.messages["tools"] = n + 1
        schema = fn.get("parameters", fn.get("input_schema"))
        body = str(fn.get("description") or "")
        if schema is not None:
            body = (body + "\n" if body else "") + (_text(schema) or "")
        self.add("tools", n, None, "tool_definition", body, fn.get("name"))


def _dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # odd objects or huge ints from a foreign emitter
        return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        value = _dumps(value)
    if len(value) > MAX_CONTENT:
        value = value[:MAX_CONTENT] + f"…(+{len(value) - MAX_CONTENT} chars)"
    return value


def _loads(value: Any) -> Any:
    """A JSON-text attribute parsed; a structured one as is; plain text as text."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        head = value.lstrip()[:1]
        if head in ("[", "{", '"'):
            try:
                return orjson.loads(value)
            except orjson.JSONDecodeError:
                return value
        return value
    if isinstance(value, tuple):
        return [_loads(v) if isinstance(v, str) and v[:1] in "[{" else v for v in value]
    return value


_INDEXED = re.compile(r"^(\d+)\.(.+)$")


def _indexed(attrs: Mapping[str, Any], prefix: str) -> list[dict[str, Any]] | None:
    """`prefix` + `N.rest` attributes as a list of nested dicts (OpenLLMetry, OpenInference)."""
    if (
        prefix + "0." + "role" not in attrs
        and prefix + "0.content" not in attrs
        and not any(k.startswith(prefix + "0.") for k in attrs)
    ):
        return None
    found: dict[int, dict[str, Any]] = {}
    cut = len(prefix)
    for key, value in attrs.items():
        if not key.startswith(prefix):
            continue
        m = _INDEXED.match(key[cut:])
        if m is None:
            continue
        node = found.setdefault(int(m.group(1)), {})
        parts = m.group(2).split(".")
        for p in parts[:-1]:
            nxt = node.get(p)
            if not isinstance(nxt, dict):
                nxt = node[p] = {}
            node = nxt
        node[parts[-1]] = value
    return [_lists(found[i]) for i in sorted(found)][:MAX_ROWS] or None


def _lists(node: Any) -> Any:
    # {"0": {...}, "1": {...}} -> [...]
    if not isinstance(node, dict):
        return node
    if node and all(k.isdigit() for k in node):
        return [_lists(node[k]) for k in sorted(node, key=int)]
    return {k: _lists(v) for k, v in node.items()}


def _openinference(attrs: Mapping[str, Any], prefix: str) -> list[dict[str, Any]] | None:
    if prefix + "0.message.role" not in attrs and prefix + "0.message.content" not in attrs:
        return None
    items = _indexed(attrs, prefix) or []
    out: list[dict[str, Any]] = []
    for item in items:
        m = item.get("message") or {}
        message: dict[str, Any] = {"role": m.get("role"), "name": m.get("name")}
        contents = m.get("contents")
        if isinstance(contents, list):
            message["content"] = [
                {"type": "text", "text": (c.get("message_content") or {}).get("text")}
                for c in contents if isinstance(c, dict)
            ]  # fmt: skip
        else:
            message["content"] = m.get("content")
        calls = m.get("tool_calls")
        if isinstance(calls, list):
            message["tool_calls"] = [
                {"id": (c.get("tool_call") or {}).get("id"),
                 "function": (c.get("tool_call") or {}).get("function") or {}}
                for c in calls if isinstance(c, dict)
            ]  # fmt: skip
        if m.get("tool_call_id"):
            message["tool_call_id"] = m.get("tool_call_id")
        out.append(message)
    return out


def _oi_value(value: Any, direction: str) -> Any:
    parsed = _loads(value)
    if parsed is None:
        return None
    if isinstance(parsed, Mapping):
        if "messages" in parsed:
            return parsed["messages"]
        if "input" in parsed and direction == "input":
            return parsed["input"]
        if "output" in parsed and isinstance(parsed["output"], list):
            return [o for o in parsed["output"] if isinstance(o, Mapping)]
        if "choices" in parsed:
            return [c.get("message") for c in parsed["choices"] if isinstance(c, Mapping)]
    return parsed


def _oi_tools(attrs: Mapping[str, Any]) -> list[Any] | None:
    if "llm.tools.0.tool.json_schema" not in attrs:
        return None
    items = _indexed(attrs, "llm.tools.") or []
    return [_loads((t.get("tool") or {}).get("json_schema")) for t in items]
