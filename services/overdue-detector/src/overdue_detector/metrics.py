"""The detector's own Prometheus metrics, labelled by service like the runtime's.

They are set inside the handler's transaction: a batch that is rolled back and
retried sets the gauges again from the same data, and may count its events
twice in EVENTS_EMITTED; the outbox stays the record of what was sent.
"""

from __future__ import annotations

from collections import Counter as Tally

from prometheus_client import Counter, Gauge, Histogram

from overdue_detector.domain import Bucket

ACCOUNTS_PER_BUCKET = Gauge(
    "detector_accounts", "Accounts per delinquency bucket as of the last aged business day", ["service", "bucket"])
PAST_DUE_PER_BUCKET = Gauge(
    "detector_past_due_minor", "Past-due amount (minor units) per bucket as of the last aged business day",
    ["service", "bucket", "currency"])
AGING_DURATION = Histogram(
    "detector_aging_run_duration_seconds", "Time to age every account for one business day", ["service"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0))
_reported: dict[str, set[tuple[str, str]]] = {}
EVENTS_EMITTED = Counter("detector_events_emitted_total", "Events the detector emitted, per type", ["service", "type"])


def observe_portfolio(service: str, accounts_per_bucket: Tally, past_due: dict[tuple[str, str], int]) -> None:
    for bucket in Bucket:
        ACCOUNTS_PER_BUCKET.labels(service, bucket.value).set(accounts_per_bucket.get(bucket.value, 0))
    # A bucket emptied since the last run must read 0, not its old amount.
    for key in _reported.pop(service, set()) - set(past_due):
        PAST_DUE_PER_BUCKET.labels(service, *key).set(0)
    for (bucket, currency), amount in past_due.items():
        PAST_DUE_PER_BUCKET.labels(service, bucket, currency).set(amount)
    _reported[service] = set(past_due)


def count_emitted(service: str, types: Tally) -> None:
    for ce_type, count in types.items():
        EVENTS_EMITTED.labels(service, ce_type).inc(count)
