"""Per-partner rate limits: a token bucket per partner, refilled at the partner's
rate, holding up to one second's worth as burst.

Buckets are per process (monotonic clock, not the business clock: it protects
real capacity). With N gateway instances behind a balancer a partner gets up to
N × its rate; the limit protects each instance, not a contract (decision 0070).
"""

from __future__ import annotations

import math
import time


class RateLimiter:
    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # partner -> (tokens, at)

    def take(self, partner_id: str, per_second: int) -> float | None:
        """None when the request may go ahead, else the seconds to wait before the next one."""
        now = self._clock()
        tokens, at = self._buckets.get(partner_id, (float(per_second), now))
        tokens = min(float(per_second), tokens + (now - at) * per_second)
        if tokens >= 1:
            self._buckets[partner_id] = (tokens - 1, now)
            return None
        self._buckets[partner_id] = (tokens, now)
        return (1 - tokens) / per_second

    @staticmethod
    def retry_after_header(wait: float) -> str:
        return str(max(1, math.ceil(wait)))
