"""Signed webhooks: how a delivery is signed and verified, and when it is retried.

The signature is HMAC-SHA256, keyed by the partner's webhook secret, over the
ASCII decimal Unix timestamp, a full stop and the raw request body:
``v1=hex(HMAC(secret, f"{timestamp}." + body))``. Binding the timestamp into the
MAC lets a receiver reject a captured request replayed later: it accepts only
timestamps within its tolerance of its own clock (and dedupes on the delivery id
inside that window).

A failed delivery (no answer, or any status but 2xx) is retried with exponential
backoff — 5 s, 10 s, 20 s … capped at an hour — from a durable queue, so a
receiver that is down for a day still gets every delivery, each once it answers 2xx.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SIGNATURE_VERSION}={mac.hexdigest()}"


def verify(secret: str, timestamp_header: str, signature_header: str, body: bytes, now: int,
           tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS) -> bool:
    """What a partner's receiver does: a fresh timestamp and a matching MAC, compared in constant time."""
    try:
        timestamp = int(timestamp_header)
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate.strip()) for candidate in signature_header.split(","))


def retry_delay_seconds(attempts: int, base: float = 5.0, cap: float = 3600.0) -> float:
    """Delay before the next try after ``attempts`` failed tries (1, 2, …)."""
    if attempts < 1:
        raise ValueError("a retry follows at least one failed attempt")
    return min(cap, base * 2 ** min(attempts - 1, 32))


def delivered(status_code: int) -> bool:
    return 200 <= status_code < 300
