"""W3C trace context, carried from event to event so one trace follows a case."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


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
        match = _TRACEPARENT.match(header or "")
        if not match or set(match.group(1)) == {"0"} or set(match.group(2)) == {"0"}:
            return cls.new()
        return cls(match.group(1), match.group(2), match.group(3))

    def child(self) -> TraceContext:
        return TraceContext(self.trace_id, secrets.token_hex(8), self.flags)

    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"
