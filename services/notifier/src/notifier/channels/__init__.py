"""Channel adapters: each hands one message to the outside world under an
idempotency key derived from the contact request, and answers accepted,
refused (permanent, with the reason) or raises ``ChannelUnavailable`` (transient:
the dispatcher tries again later with the same key)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outgoing:
    idempotency_key: str
    channel: str
    to: str  # E.164 phone, e-mail address, or the postal address as lines
    body: str
    template: str = ""  # the catalogue key, e.g. "overdue.sms" (SMS providers file templates by code)
    subject: str | None = None
    language: str = "en"
    opt_out_url: str | None = None
    marking: str | None = None  # a letter's envelope marking, e.g. "Private and confidential"


@dataclass(frozen=True)
class Accepted:
    provider_message_id: str


@dataclass(frozen=True)
class Refused:
    reason: str


class ChannelUnavailable(Exception):
    """The channel cannot take messages now (5xx, timeout, connection refused, circuit open)."""
