"""CloudEvents 1.0 in Kafka binary mode with a protobuf value.

Headers carry the envelope (``ce_id``, ``ce_type`` = the protobuf message's full
name, ...); the record value is the serialized message. Anything that cannot be
decoded raises ``PoisonRecord``: retrying it would never help.
"""

from __future__ import annotations

import importlib
import itertools
import os
import pkgutil
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from google.protobuf.message import DecodeError, Message

from collections_core import contracts
from collections_core.tracing import TraceContext

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/protobuf"
# The inbox remembers ids in a column of this many characters (storage.inbox.event_id).
MAX_EVENT_ID_LENGTH = 200
# The envelope of DESIGN.md §4; traceparent is optional (without it a new trace starts).
_REQUIRED = ("ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject", "content-type")
_REQUIRED_SET = frozenset(_REQUIRED)
_ENVELOPE = frozenset((*_REQUIRED, "traceparent"))


class PoisonRecord(Exception):
    """A record that can never be processed; it goes to the dead-letter topic."""

    def __init__(self, reason: str, code: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    type: str
    source: str
    subject: str
    time: datetime
    message: Message
    trace: TraceContext


@dataclass(slots=True)
class TypeRegistry:
    """Message classes keyed by ``ce_type`` (the protobuf full name)."""

    by_type: dict[str, type[Message]] = field(default_factory=dict)

    def register(self, message_class: type[Message]) -> None:
        self.by_type[message_class.DESCRIPTOR.full_name] = message_class

    def resolve(self, ce_type: str) -> type[Message]:
        try:
            return self.by_type[ce_type]
        except KeyError:
            raise PoisonRecord(f"unknown ce_type {ce_type!r}", "unknown-type") from None

    @classmethod
    def of_contracts(cls) -> TypeRegistry:
        """Every event type in proto/, from the committed generated code."""
        registry = cls()
        for info in pkgutil.walk_packages(contracts.__path__, contracts.__name__ + "."):
            if not info.name.endswith("_pb2"):
                continue
            module = importlib.import_module(info.name)
            for descriptor in module.DESCRIPTOR.message_types_by_name.values():
                registry.register(getattr(module, descriptor.name))
        return registry


def type_of(message: Message | type[Message]) -> str:
    return message.DESCRIPTOR.full_name


_SPEC_VERSION_HEADER = ("ce_specversion", SPEC_VERSION.encode())


class EventIds:
    """Unique event ids: a random per-process prefix and a counter. Cheaper than a
    uuid4 per event and just as unique (the prefix is 122 random bits)."""

    def __init__(self) -> None:
        self.renew()
        # A forked child must not repeat its parent's ids.
        os.register_at_fork(after_in_child=self.renew)

    def renew(self) -> None:
        self._prefix = str(uuid.uuid4())
        self._counter = itertools.count()

    def next(self) -> str:
        return f"{self._prefix}-{next(self._counter):x}"


_ids = EventIds()
_CONTENT_TYPE_HEADER = ("content-type", CONTENT_TYPE.encode())


class EventCodec:
    def __init__(self, registry: TypeRegistry, source: str) -> None:
        self.registry = registry
        self.source = source
        self._source_header = ("ce_source", source.encode())
        self._last_time: tuple[datetime, bytes] | None = None

    def _time_header(self, time: datetime) -> bytes:
        # Events of one transaction usually share an instant: format it once.
        if self._last_time is None or self._last_time[0] != time:
            text = time.astimezone(UTC).isoformat().replace("+00:00", "Z")
            self._last_time = (time, text.encode())
        return self._last_time[1]

    def encode(
        self,
        message: Message,
        subject: str,
        time: datetime,
        trace: TraceContext,
        event_id: str | None = None,
    ) -> tuple[list[tuple[str, bytes]], bytes]:
        if time.tzinfo is None:
            raise ValueError("ce_time must be timezone-aware")
        headers = [
            _SPEC_VERSION_HEADER,
            ("ce_id", (event_id or _ids.next()).encode()),
            self._source_header,
            ("ce_type", message.DESCRIPTOR.full_name.encode()),
            ("ce_time", self._time_header(time)),
            ("ce_subject", subject.encode()),
            _CONTENT_TYPE_HEADER,
            ("traceparent", trace.traceparent().encode()),
        ]
        return headers, message.SerializeToString()

    def decode(self, headers: list[tuple[str, bytes | None]] | tuple, value: bytes | None) -> Event:
        try:
            # Other systems' headers (a DLQ's, a tracer's baggage) are not ours to judge.
            found = {key: raw.decode() for key, raw in headers or () if key in _ENVELOPE}
        except (AttributeError, UnicodeDecodeError):
            found = self._envelope_failure(headers)
        if not _REQUIRED_SET.issubset(found) or "" in found.values():
            for required in _REQUIRED:
                if not found.get(required):
                    raise PoisonRecord(f"missing CloudEvents header {required}", "bad-envelope")
        if found["ce_specversion"] != SPEC_VERSION:
            raise PoisonRecord(f"unsupported ce_specversion {found['ce_specversion']!r}", "bad-envelope")
        if found["content-type"] != CONTENT_TYPE:
            raise PoisonRecord(f"unsupported content-type {found['content-type']!r}", "bad-envelope")
        event_id = found["ce_id"]
        if len(event_id) > MAX_EVENT_ID_LENGTH or not event_id.isprintable():
            raise PoisonRecord(f"ce_id is not a printable id of at most {MAX_EVENT_ID_LENGTH} characters: "
                               f"{event_id[:60]!r}", "bad-envelope")
        try:
            time = datetime.fromisoformat(found["ce_time"])
        except ValueError:
            raise PoisonRecord(f"ce_time is not RFC 3339: {found['ce_time'][:60]!r}", "bad-envelope") from None
        if time.tzinfo is None:
            raise PoisonRecord(f"ce_time has no UTC offset: {found['ce_time'][:60]!r}", "bad-envelope")
        message_class = self.registry.resolve(found["ce_type"])
        message = message_class()
        try:
            message.ParseFromString(value or b"")
        except DecodeError as error:
            raise PoisonRecord(f"value is not a valid {found['ce_type']}: {error}", "bad-payload") from None
        return Event(
            id=event_id,
            type=found["ce_type"],
            source=found["ce_source"],
            subject=found["ce_subject"],
            time=time,
            message=message,
            trace=TraceContext.parse(found.get("traceparent")),
        )


    @staticmethod
    def _envelope_failure(headers) -> dict[str, str]:
        """Names the envelope header that cannot be read; the fast path only knows one cannot."""
        for key, raw in headers:
            if key not in _ENVELOPE:
                continue
            if raw is None:
                raise PoisonRecord(f"header {key!r} is null", "bad-header")
            try:
                raw.decode()
            except UnicodeDecodeError:
                raise PoisonRecord(f"header {key!r} is not UTF-8", "bad-header") from None
        raise AssertionError("an envelope header failed to decode and then decoded")


class Rejected(PoisonRecord):
    """Raised by a handler for an event whose content is invalid for this service
    (e.g. a payment for an unknown account); it is dead-lettered, never retried."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, "rejected")
