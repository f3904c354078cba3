"""Behaviour 7: bounded JSON previews, capture switches, redaction."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from tracer import Hoptrace, semconv
from tracer._capture import REDACTED, Previewer, redact_text
from tracer.testing import CapturedSpans, by_name, capture_spans, find


def test_previews_are_bounded(ht: Hoptrace) -> None:
    with capture_spans(ht, max_preview_bytes=256) as captured:

        @ht.agent
        def big(text: str, items: list[int], nested: dict[str, object]) -> list[str]:
            return ["y" * 10_000] * 1000

        deep: dict[str, object] = {}
        node = deep
        for _ in range(50):
            node["child"] = {}
            node = node["child"]  # type: ignore[assignment]
        big("x" * 100_000, list(range(100_000)), deep)
    span = find(captured.spans, "big")
    for key in (semconv.INPUT, semconv.OUTPUT):
        value = span.attributes[key]
        assert isinstance(value, str)
        assert len(value) <= 256


def test_containers_are_truncated_while_walking() -> None:
    walked = []

    class Counting:
        __slots__ = ("i",)  # no __dict__: previewed through its (huge) repr

        def __init__(self, i: int) -> None:
            self.i = i

        def __repr__(self) -> str:
            walked.append(self.i)
            return "x" * 1_000_000  # an expensive repr we must cut short

    preview = Previewer(max_bytes=4096).preview([Counting(i) for i in range(10_000)])
    assert len(preview) <= 4096
    assert len(walked) <= 60  # the items past the cap were never looked at
    assert preview.endswith("…")


def test_objects_dataclasses_and_reprs() -> None:
    @dataclass
    class Doc:
        title: str
        api_key: str

    class Plain:
        def __init__(self) -> None:
            self.name = "n"
            self._private = "hidden"

    previewer = Previewer()
    doc = json.loads(previewer.preview(Doc("t", "abc")))
    assert doc["__type__"].endswith("Doc")
    assert doc["title"] == "t"
    assert doc["api_key"] == REDACTED
    plain = json.loads(previewer.preview(Plain()))
    assert plain["name"] == "n"
    assert "_private" not in plain
    assert json.loads(previewer.preview({1: b"\x00\x01", "t": (1, 2.5, None, True)})) == {
        "1": "<2 bytes> \x00\x01",
        "t": [1, 2.5, None, True],
    }


@pytest.mark.parametrize(
    "secret",
    [
        "sk-proj-abcdefghijklmnopqrstuvwxyz123456",
        "AKIAIOSFODNN7EXAMPLE",
        "Bearer eyJhbGciOiJIUzI1NiJ9.payload123.signature456",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "0123456789abcdef0123456789abcdef0123456789abcdef",
        "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3hJ5kL7nP9",
    ],
)
def test_secret_strings_are_redacted(secret: str) -> None:
    text = f"please use {secret} now"
    assert secret not in redact_text(text)
    assert REDACTED in Previewer().preview({"note": text})
    assert secret not in Previewer().preview([text])


def test_ordinary_text_is_kept() -> None:
    text = "The quick brown fox jumps over the lazy dog; task-1234 ok, sha 1a2b3c."
    assert redact_text(text) == text


def test_sensitive_keys_are_redacted_but_counts_kept() -> None:
    value = {
        "password": "hunter2",
        "X-Api-Key": "abc",
        "Authorization": "Basic Zm9vOmJhcg==",
        "db_secret": {"nested": 1},
        "access_token": "t",
        "max_tokens": 512,
        "session_cookie": "c",
    }
    out = json.loads(Previewer().preview(value))
    assert out["password"] == REDACTED
    assert out["X-Api-Key"] == REDACTED
    assert out["Authorization"] == REDACTED
    assert out["db_secret"] == REDACTED
    assert out["access_token"] == REDACTED
    assert out["session_cookie"] == REDACTED
    assert out["max_tokens"] == 512
    assert json.loads(Previewer(extra_redact_keys=["ssn"]).preview({"user_SSN": "1"})) == {
        "user_SSN": REDACTED
    }
    assert json.loads(Previewer(redact=False).preview({"password": "p"})) == {"password": "p"}


def test_capture_false_per_decorator_and_globally(ht: Hoptrace) -> None:
    @ht.agent(capture=False)
    def quiet(x: str) -> str:
        return x

    @ht.agent
    def loud(x: str) -> str:
        return x

    with capture_spans(ht) as captured:
        quiet("secret plan")
        loud("public plan")
    assert semconv.INPUT not in find(captured.spans, "quiet").attributes
    assert semconv.OUTPUT not in find(captured.spans, "quiet").attributes
    assert find(captured.spans, "loud").attributes[semconv.INPUT] == '{"x":"public plan"}'
    with capture_spans(ht, capture=False) as captured:
        loud("public plan")
    assert semconv.INPUT not in find(captured.spans, "loud").attributes
    assert semconv.OUTPUT not in find(captured.spans, "loud").attributes


def test_arguments_are_named_with_varargs_and_kwargs(ht: Hoptrace, captured: CapturedSpans) -> None:
    @ht.tool
    def call(a: int, *rest: int, token: str = "", **extra: object) -> None:
        return None

    call(1, 2, 3, token="sk-abcdefghijklmnopqrstuvwxyz", mode="fast")
    assert json.loads(find(captured.spans, "call").attributes[semconv.INPUT]) == {
        "a": 1,
        "rest": [2, 3],
        "token": REDACTED,
        "mode": "fast",
    }


def test_bad_max_preview_bytes_is_a_clear_error(ht: Hoptrace) -> None:
    with pytest.raises(ValueError, match="max_preview_bytes"):
        ht.configure(max_preview_bytes=3)


def test_span_and_run_attributes_are_redacted_too(ht: Hoptrace, captured: CapturedSpans) -> None:
    @ht.workflow
    def pipeline() -> None:
        ht.set_run_attributes(api_key="abc", note="use sk-abcdefghijklmnopqrstuvwxyz", n=3)
        with ht.span("call", authorization="Bearer abcdefghijklmnopqr", tags=["a", "b"], k=2):
            pass

    pipeline()
    root = find(captured.spans, "invoke_workflow pipeline").attributes
    assert root["hoptrace.run.api_key"] == REDACTED
    assert root["hoptrace.run.note"] == f"use {REDACTED}"
    assert root["hoptrace.run.n"] == 3
    call = find(captured.spans, "call").attributes
    assert call["authorization"] == REDACTED
    assert list(call["tags"]) == ["a", "b"]
    assert call["k"] == 2


@pytest.mark.parametrize(
    ("value", "secret"),
    [
        ("connect postgres://app:s3cr3tPass@db.internal:5432/x failed", "s3cr3tPass"),
        ({"dsn": "mysql+pymysql://root:hunter2@localhost/db"}, "hunter2"),
        ([("user", "bob"), ("password", "hunter2")], "hunter2"),
        ({"password": 123456}, "123456"),
        ({"pin_secret": 4321.5}, "4321.5"),
        ("login failed: password=hunter2; retry", "hunter2"),
        ('config {"api_key": "abc-def-1"}', "abc-def-1"),
        ("Incorrect API key provided: sk-proj-ab**********************xy12", "ab****"),
    ],
)
def test_more_secret_shapes_are_redacted(value: object, secret: str) -> None:
    out = Previewer().preview(value)
    assert secret not in out
    assert REDACTED in out


def test_counts_under_sensitive_keys_are_kept() -> None:
    out = json.loads(Previewer().preview({"max_tokens": 5, "token_count": 3, "has_password": True}))
    assert out == {"max_tokens": 5, "token_count": 3, "has_password": True}
    assert json.loads(Previewer().preview([("Authorization", "Bearer x")])) == [
        ["Authorization", REDACTED]
    ]


def test_exception_texts_are_redacted_and_start_at_user_code(
    ht: Hoptrace, captured: CapturedSpans
) -> None:
    key = "sk-live-Zyxwvutsrqponml9876543210"

    @ht.tool
    def connect() -> None:
        raise ConnectionError(f"postgres://app:pw1234@db/x refused (key {key})")

    @ht.agent
    def worker() -> None:
        connect()

    @ht.agent
    def boss() -> str:
        try:
            worker()
        except ConnectionError:
            return "recovered"
        return "no"

    with pytest.raises(ConnectionError) as info:
        worker()
    assert key in str(info.value)  # the user's exception object is untouched
    assert boss() == "recovered"
    for span in captured.spans:
        texts = [span.status.description or "", *map(str, span.attributes.values())]
        for event in span.events:
            texts += [str(v) for v in (event.attributes or {}).values()]
        joined = "\n".join(texts)
        assert key not in joined, span.name
        assert "pw1234" not in joined, span.name
    tool = by_name(captured.spans, "connect")[0]
    [event] = [e for e in tool.events if e.name == "exception"]
    stack = str(event.attributes["exception.stacktrace"])
    assert "tracer/_wrappers.py" not in stack
    assert "tracer/_hoptrace.py" not in stack
    first_frame = stack.splitlines()[1]
    assert "test_tracer_capture.py" in first_frame
    assert "in connect" in first_frame
    assert event.attributes["exception.type"] == "ConnectionError"
    assert "[REDACTED]" in stack
