"""Signed webhooks from the SMS provider: ``X-Timestamp`` (Unix seconds) and
``X-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">``. A receipt
older than the tolerance is refused, so a captured request cannot be replayed later."""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float,
           tolerance: float) -> bool:
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    if abs(now - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)
