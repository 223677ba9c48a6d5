"""W3C trace context, carried from event to event so one trace follows a case."""

from __future__ import annotations

import os
import random
import re
import secrets
from dataclasses import dataclass

_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_NO_TRACE, _NO_SPAN = "0" * 32, "0" * 16
# Span ids need to be unique within a trace, not secret: a fast PRNG seeded from
# the OS is enough and keeps the consumer's per-event cost down.
_spans = random.Random(secrets.randbits(128))
os.register_at_fork(after_in_child=lambda: _spans.seed(secrets.randbits(128)))


@dataclass(frozen=True, slots=True)
class TraceContext:
    trace_id: str
    span_id: str
    flags: str = "01"

    @classmethod
    def new(cls) -> TraceContext:
        return cls(secrets.token_hex(16), secrets.token_hex(8))

    @classmethod
    def parse(cls, header: str | None) -> TraceContext:
        """A malformed or absent header starts a new trace rather than failing the event."""
        found = _TRACEPARENT.fullmatch(header) if header else None
        if found is None or found[1] == _NO_TRACE or found[2] == _NO_SPAN:
            return cls.new()
        return cls(found[1], found[2], found[3])

    def child(self) -> TraceContext:
        return TraceContext(self.trace_id, f"{_spans.getrandbits(64) or 1:016x}", self.flags)

    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"
