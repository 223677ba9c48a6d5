"""A circuit breaker: after ``failures`` consecutive failures the channel is left
alone for ``reset_after`` seconds, then one trial call decides whether it closes."""

from __future__ import annotations

import time

from notifier.metrics import CIRCUIT_OPEN


class CircuitBreaker:
    def __init__(self, channel: str, failures: int, reset_after: float, monotonic=time.monotonic) -> None:
        self.channel, self.threshold, self.reset_after, self._monotonic = channel, failures, reset_after, monotonic
        self.consecutive_failures = 0
        self.opened_at: float | None = None

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if self._monotonic() - self.opened_at >= self.reset_after else "open"

    def allows(self) -> bool:
        return self.state != "open"

    def succeeded(self) -> None:
        self.consecutive_failures, self.opened_at = 0, None
        CIRCUIT_OPEN.labels(self.channel).set(0)

    def failed(self) -> None:
        self.consecutive_failures += 1
        if self.state == "half-open" or self.consecutive_failures >= self.threshold:
            self.opened_at = self._monotonic()
            CIRCUIT_OPEN.labels(self.channel).set(1)
