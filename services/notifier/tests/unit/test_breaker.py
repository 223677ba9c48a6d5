"""The SMS circuit breaker: opens after a run of failures, lets one trial through
after its reset time, and closes again on success."""

from notifier.channels.breaker import CircuitBreaker


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_consecutive_failures_and_half_opens_after_the_reset_time():
    ticks = Ticks()
    breaker = CircuitBreaker("sms", failures=3, reset_after=10, monotonic=ticks)
    breaker.failed()
    breaker.succeeded()
    breaker.failed()
    breaker.failed()
    assert breaker.state == "closed", "a success in between resets the run"
    breaker.failed()
    assert breaker.state == "open" and not breaker.allows()
    ticks.now = 9.9
    assert not breaker.allows()
    ticks.now = 10.0
    assert breaker.state == "half-open" and breaker.allows()
    breaker.failed()
    assert breaker.state == "open", "a failed trial opens it again at once"
    ticks.now = 20.0
    breaker.succeeded()
    assert breaker.state == "closed" and breaker.allows()
