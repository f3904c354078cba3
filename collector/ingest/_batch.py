"""A columnar batch of spans: the one shape every ingest path hands to the store.

The embedded exporter fills it from SDK `ReadableSpan`s, the OTLP receiver from
decoded protobuf; the store turns it into one Arrow insert. Columns are plain
lists so that filling a batch costs one append per field, not an object per span.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

# OTLP SpanKind / Status.code enums as the store spells them.
SPAN_KINDS: tuple[str, ...] = (
    "UNSPECIFIED",
    "INTERNAL",
    "SERVER",
    "CLIENT",
    "PRODUCER",
    "CONSUMER",
)
STATUS_CODES: tuple[str, ...] = ("UNSET", "OK", "ERROR")


@dataclass
class SpanBatch:
    """Spans as parallel columns.

    Ids are lowercase hex (32 chars for trace ids, 16 for span ids); times are
    Unix nanoseconds; `end_ns` is None for a pending span (`hoptrace.pending`).
    `events` items are `{"name", "time_ns", "attributes"}`; `links` items are
    `{"trace_id", "span_id", "attributes"}`. Attribute values are JSON-able.
    """

    trace_id: list[str] = field(default_factory=list)
    span_id: list[str] = field(default_factory=list)
    parent_span_id: list[str | None] = field(default_factory=list)
    name: list[str] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)
    start_ns: list[int] = field(default_factory=list)
    end_ns: list[int | None] = field(default_factory=list)
    status_code: list[str] = field(default_factory=list)
    status_message: list[str | None] = field(default_factory=list)
    attributes: list[dict[str, Any]] = field(default_factory=list)
    events: list[list[dict[str, Any]]] = field(default_factory=list)
    links: list[list[dict[str, Any]]] = field(default_factory=list)
    resource: list[dict[str, Any]] = field(default_factory=list)
    scope_name: list[str | None] = field(default_factory=list)
    scope_version: list[str | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.span_id)

    def add(
        self,
        *,
        trace_id: str,
        span_id: str,
        parent_span_id: str | None,
        name: str,
        kind: str,
        start_ns: int,
        end_ns: int | None,
        status_code: str,
        status_message: str | None,
        attributes: dict[str, Any],
        events: list[dict[str, Any]],
        links: list[dict[str, Any]],
        resource: dict[str, Any],
        scope_name: str | None,
        scope_version: str | None,
    ) -> None:
        """Append one span."""
        self.trace_id.append(trace_id)
        self.span_id.append(span_id)
        self.parent_span_id.append(parent_span_id)
        self.name.append(name)
        self.kind.append(kind)
        self.start_ns.append(start_ns)
        self.end_ns.append(end_ns)
        self.status_code.append(status_code)
        self.status_message.append(status_message)
        self.attributes.append(attributes)
        self.events.append(events)
        self.links.append(links)
        self.resource.append(resource)
        self.scope_name.append(scope_name)
        self.scope_version.append(scope_version)

    def extend(self, other: SpanBatch) -> None:
        """Append every span of `other` (the receiver coalesces requests this way)."""
        for name in self.__dataclass_fields__:
            getattr(self, name).extend(getattr(other, name))


def drop_superseded_pending(batch: SpanBatch) -> tuple[SpanBatch, int]:
    """Leave out pending copies (`end_ns` None) of spans whose finished version is in `batch`.

    hoptrace's tracer exports every span twice, a pending copy at its start and the
    finished span at its end; for short spans both often reach the writer in one batch.
    The store would keep only the finished one anyway (a pending copy never replaces a
    finished span), so leaving the copy out saves the store that work.
    Returns the batch to write and how many copies were left out.
    """
    ends = batch.end_ns
    if None not in ends:
        return batch, 0
    finished = {
        (t, s) for t, s, e in zip(batch.trace_id, batch.span_id, ends, strict=True) if e is not None
    }
    keep = [
        i
        for i, (t, s, e) in enumerate(zip(batch.trace_id, batch.span_id, ends, strict=True))
        if e is not None or (t, s) not in finished
    ]
    if len(keep) == len(ends):
        return batch, 0
    out = SpanBatch()
    for name in out.__dataclass_fields__:
        column = getattr(batch, name)
        getattr(out, name).extend([column[i] for i in keep])
    return out, len(ends) - len(keep)


def coalesce(batches: list[SpanBatch]) -> SpanBatch:
    """One batch of `batches`, in order, without the pending copies it supersedes."""
    if len(batches) == 1:
        merged = batches[0]
    else:
        merged = SpanBatch()
        for batch in batches:
            merged.extend(batch)
    return drop_superseded_pending(merged)[0]


def _decoded(value: Any, default: Any) -> Any:
    if value is None:
        return default
    return json.loads(value) if isinstance(value, str) else value


def batch_from_raw(rows: Iterable[Sequence[Any]]) -> SpanBatch:
    """A batch of stored raw rows (`collector.schema.RAW_COLUMN_NAMES`, JSON as text or
    decoded): how a migration re-ingests an older file and how other stores are fed."""
    from collector.schema import RAW_COLUMN_NAMES

    batch = SpanBatch()
    for row in rows:
        rec = dict(zip(RAW_COLUMN_NAMES, row, strict=True))
        batch.add(
            trace_id=rec["trace_id"],
            span_id=rec["span_id"],
            parent_span_id=rec["parent_span_id"],
            name=rec["name"],
            kind=rec["kind"],
            start_ns=rec["start_ns"],
            end_ns=rec["end_ns"],
            status_code=rec["status"],
            status_message=rec["status_message"],
            attributes=_decoded(rec["attributes"], {}),
            events=_decoded(rec["events"], []),
            links=_decoded(rec["links"], []),
            resource=_decoded(rec["resource"], {}),
            scope_name=rec["scope_name"],
            scope_version=rec["scope_version"],
        )
    return batch
