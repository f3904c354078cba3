"""Fuzzing the decoder (and, at a smaller scale, the HTTP path) with mutated OTLP bodies.

Invariant: every body ends as exactly one of (a) `DecodeError` -> 400, nothing stored;
(b) a `Decoded` whose batch is internally consistent and storable (ids well-formed,
every value JSON-able without NaN, valid UTF-8) plus a rejected count. Anything else
(another exception, a malformed batch) is a crash.
"""

from __future__ import annotations

import copy
import gzip
import json
import random
import re
import zlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.ingest._batch import SPAN_KINDS, STATUS_CODES, SpanBatch
from collector.otlp._decode import (
    BodyTooLarge,
    Decoded,
    DecodeError,
    decode_json,
    decode_protobuf,
    decompress,
)
from collector.otlp._receiver import Receiver

from ._helpers import SPEC_EXAMPLE, json_body, post, proto_body, sdk_spans

_HEX32 = re.compile(r"[0-9a-f]{32}\Z")
_HEX16 = re.compile(r"[0-9a-f]{16}\Z")

SEED_PROTO = proto_body(sdk_spans(n_traces=2, children=2))
SEED_JSON_DOC: dict[str, Any] = copy.deepcopy(SPEC_EXAMPLE)
_span = SEED_JSON_DOC["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
_span["events"] = [
    {
        "timeUnixNano": "1544712660500000000",
        "name": "e",
        "attributes": [{"key": "n", "value": {"intValue": "3"}}],
    }
]
_span["links"] = [
    {"traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B170", "attributes": []}
]
_span["status"] = {"code": 2, "message": "err"}
_span["attributes"].append(
    {
        "key": "kv",
        "value": {
            "kvlistValue": {
                "values": [
                    {"key": "a", "value": {"arrayValue": {"values": [{"doubleValue": 1.5}]}}}
                ]
            }
        },
    }
)
SEED_JSON = json_body(SEED_JSON_DOC)


def check_outcome(body: bytes, decoder) -> Decoded | None:
    """Decode `body`; assert the invariant; return the Decoded or None for a clean 400."""
    try:
        decoded = decoder(body)
    except DecodeError as exc:
        message = str(exc)
        assert message  # a 400 always says why
        return None
    check_batch(decoded.batch)
    assert decoded.rejected >= 0
    assert bool(decoded.rejected) == bool(decoded.error_message)
    return decoded


def check_batch(batch: SpanBatch) -> None:
    n = len(batch)
    for name in batch.__dataclass_fields__:
        assert len(getattr(batch, name)) == n, name
    for i in range(n):
        assert _HEX32.match(batch.trace_id[i])
        assert _HEX16.match(batch.span_id[i])
        assert batch.parent_span_id[i] is None or _HEX16.match(batch.parent_span_id[i])
        assert batch.kind[i] in SPAN_KINDS
        assert batch.status_code[i] in STATUS_CODES
        assert isinstance(batch.start_ns[i], int)
        assert batch.end_ns[i] is None or isinstance(batch.end_ns[i], int)
        for link in batch.links[i]:
            assert _HEX32.match(link["trace_id"])
            assert _HEX16.match(link["span_id"])
        doc = [
            batch.name[i],
            batch.status_message[i],
            batch.attributes[i],
            batch.events[i],
            batch.links[i],
        ]
        doc += [batch.resource[i], batch.scope_name[i], batch.scope_version[i]]
        json.dumps(doc, allow_nan=False).encode("utf-8")


# --- byte-level mutations ----------------------------------------------------------------
# Hypothesis drives a seeded `random.Random` (cheap to draw, reproducible, and the failing
# seed is reported and replayed) rather than drawing every mutation through a strategy.

_OPS = ("flip", "truncate", "insert", "delete", "dup")


def random_mutations(rng: random.Random, max_ops: int = 6) -> list[tuple]:
    muts: list[tuple] = []
    for _ in range(rng.randint(1, max_ops)):
        op = rng.choice(_OPS)
        pos = rng.randrange(10**6)
        if op == "flip":
            muts.append((op, pos, rng.randint(1, 255)))
        elif op == "insert":
            muts.append((op, pos, rng.randbytes(rng.randint(1, 8))))
        elif op == "delete":
            muts.append((op, pos, rng.randint(1, 16)))
        else:
            muts.append((op, pos, rng.randint(1, 64)))
    return muts


def mutate(seed: bytes, mutations: list[tuple]) -> bytes:
    data = bytearray(seed)
    for op, pos, arg in mutations:
        if not data:
            break
        pos %= len(data)
        if op == "flip":
            data[pos] ^= arg
        elif op == "truncate":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = arg
        elif op == "delete":
            del data[pos : pos + arg]
        else:
            data[pos:pos] = data[pos : pos + arg]
    return bytes(data)


def _fuzz(n: int) -> settings:
    return settings(
        max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )


@_fuzz(6_000)
@given(st.randoms(use_true_random=False))
def test_fuzz_mutated_protobuf(rng: random.Random) -> None:
    check_outcome(mutate(SEED_PROTO, random_mutations(rng)), decode_protobuf)


@_fuzz(2_500)
@given(st.randoms(use_true_random=False))
def test_fuzz_mutated_json_bytes(rng: random.Random) -> None:
    check_outcome(mutate(SEED_JSON, random_mutations(rng)), decode_json)


# --- structural JSON mutations: wrong types, missing keys, odd values ----------------------

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(
        [
            "",
            "0" * 32,
            "ZZ",
            "5B8EFFF798038103D269B633813FC60C",
            "EEE19B7EC3C1B174",
            "\ud800",
            "NaN",
            "-1",
        ]
    ),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=3)
    ),
    max_leaves=5,
)


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


_SEED_PATHS = _paths(SEED_JSON_DOC)


def _replace(doc: Any, path: tuple, value: Any, delete: bool) -> Any:
    if not path:
        return value
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


@_fuzz(1_500)
@given(
    st.lists(
        st.tuples(st.integers(0, len(_SEED_PATHS) - 1), _json_values, st.booleans()),
        min_size=1,
        max_size=3,
    )
)
def test_fuzz_structurally_mutated_json(edits: list[tuple]) -> None:
    doc = copy.deepcopy(SEED_JSON_DOC)
    for index, value, delete in edits:
        try:
            doc = _replace(doc, _SEED_PATHS[index], value, delete and bool(_SEED_PATHS[index]))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed this path
    try:
        body = json.dumps(doc).encode("utf-8", "surrogatepass")
    except (ValueError, TypeError):
        return
    check_outcome(body, decode_json)


@_fuzz(300)
@given(st.randoms(use_true_random=False), st.sampled_from(["gzip", "deflate"]))
def test_fuzz_mutated_compressed_streams(rng: random.Random, encoding: str) -> None:
    packed = gzip.compress(SEED_PROTO) if encoding == "gzip" else zlib.compress(SEED_PROTO)
    try:
        raw = decompress(mutate(packed, random_mutations(rng)), encoding, limit=1 << 20)
    except (DecodeError, BodyTooLarge):
        return
    check_outcome(raw, decode_protobuf)


# --- HTTP level: a smaller run through the real server -------------------------------------


def test_fuzz_http_outcomes_match_decoder_and_nothing_partial(tmp_path) -> None:
    """Mutated bodies over HTTP into a real store: 400 stores nothing, 200 stores exactly the valid spans."""
    from collector import SpanStore, query

    rng = random.Random(1234)
    db = tmp_path / "fuzz.duckdb"
    store = SpanStore(db)
    receiver = Receiver(store.write, port=0).start()
    expected: set[tuple[str, str]] = set()
    statuses: dict[int, int] = {}
    try:
        for i in range(1000):
            use_json = i % 2 == 1
            body = mutate(SEED_JSON if use_json else SEED_PROTO, random_mutations(rng, max_ops=1))
            decoded = check_outcome(body, decode_json if use_json else decode_protobuf)
            status, _, _ = post(
                receiver.endpoint,
                body,
                "application/json" if use_json else "application/x-protobuf",
            )
            statuses[status] = statuses.get(status, 0) + 1
            if decoded is None:
                assert status == 400
            else:
                assert status == 200
                expected.update(zip(decoded.batch.trace_id, decoded.batch.span_id, strict=True))
        assert receiver.wait_idle(60)
    finally:
        assert receiver.stop(60)
    assert receiver.queue.dropped_spans == 0
    stored = set(map(tuple, query("SELECT trace_id, span_id FROM spans", db=db).rows()))
    assert stored == expected
    assert statuses[400] > 100  # the mutations really do break bodies...
    assert statuses[200] > 50  # ...and really do leave some decodable
