"""W3C trace context, carried from event to event so one trace follows a case."""

from __future__ import annotations

import os
import random
import secrets
from dataclasses import dataclass

_HEX = frozenset("0123456789abcdef")
# Span ids need to be unique within a trace, not secret: a fast PRNG seeded from
# the OS is enough and keeps the consumer's per-event cost down.
_spans = random.Random(secrets.randbits(128))
os.register_at_fork(after_in_child=lambda: _spans.seed(secrets.randbits(128)))


def _is_hex(text: str, length: int) -> bool:
    return len(text) == length and _HEX.issuperset(text) and text.strip("0") != ""


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
        parts = (header or "").split("-")
        if (len(parts) != 4 or parts[0] != "00" or not _is_hex(parts[1], 32) or not _is_hex(parts[2], 16)
                or len(parts[3]) != 2 or not _HEX.issuperset(parts[3])):
            return cls.new()
        return cls(parts[1], parts[2], parts[3])

    def child(self) -> TraceContext:
        return TraceContext(self.trace_id, f"{_spans.getrandbits(64) or 1:016x}", self.flags)

    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"
