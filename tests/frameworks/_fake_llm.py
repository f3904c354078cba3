"""A fake OpenAI-compatible chat-completions server on 127.0.0.1, answering from a script.

Every framework under test talks to it through its own real OpenAI client (or litellm), so
the frameworks' real model code, retries and error paths run; only the model is scripted.
`respond(body)` gets the request JSON and returns the assistant message (a dict), or an int
HTTP status to fail with. Streaming requests are answered as one-chunk SSE streams.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Respond = Callable[[dict[str, Any]], "dict[str, Any] | int"]
USAGE = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}


def tool_call(name: str, arguments: dict[str, Any] | None = None, call_id: str = "") -> dict:
    """An assistant message calling one tool."""
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call_id or f"call_{name}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments or {})},
            }
        ],
    }


def text(content: str) -> dict:
    return {"role": "assistant", "content": content}


def tool_names(body: dict[str, Any]) -> list[str]:
    return [t.get("function", {}).get("name", "") for t in body.get("tools") or []]


def tool_results(body: dict[str, Any]) -> list[str]:
    """The content of the tool-result messages so far, oldest first."""
    out = []
    for m in body.get("messages", []):
        if m.get("role") == "tool":
            c = m.get("content")
            out.append(c if isinstance(c, str) else json.dumps(c))
    return out


def system_text(body: dict[str, Any]) -> str:
    parts = []
    for m in body.get("messages", []):
        if m.get("role") in ("system", "developer"):
            c = m.get("content")
            parts.append(c if isinstance(c, str) else json.dumps(c))
    return "\n".join(parts)


class FakeOpenAI:
    def __init__(self, respond: Respond) -> None:
        self.respond = respond
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with fake.lock:
                    fake.requests.append(body)
                answer = fake.respond(body)
                if isinstance(answer, int):
                    self._send(answer, {"error": {"message": "model backend failed",
                                                  "type": "server_error", "code": None}})  # fmt: skip
                    return
                finish = "tool_calls" if answer.get("tool_calls") else "stop"
                base = {"id": "chatcmpl-fake", "created": 1, "model": body.get("model", "m")}
                if body.get("stream"):
                    self._stream(base, answer, finish)
                    return
                self._send(200, base | {"object": "chat.completion", "usage": USAGE,
                           "choices": [{"index": 0, "message": answer, "finish_reason": finish}]})  # fmt: skip

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, base: dict[str, Any], answer: dict[str, Any], finish: str) -> None:
                delta = {"role": "assistant", "content": answer.get("content")}
                if answer.get("tool_calls"):
                    delta["tool_calls"] = [
                        tc | {"index": i} for i, tc in enumerate(answer["tool_calls"])
                    ]
                chunks = [
                    base | {"object": "chat.completion.chunk",
                            "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
                    base | {"object": "chat.completion.chunk",
                            "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]},
                    base | {"object": "chat.completion.chunk", "choices": [], "usage": USAGE},
                ]  # fmt: skip
                data = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
                data += b"data: [DONE]\n\n"
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"


@contextmanager
def fake_openai(respond: Respond) -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI(respond)
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()
        thread.join(5)
