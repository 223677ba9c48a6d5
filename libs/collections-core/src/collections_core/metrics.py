"""Prometheus metrics every service exposes at /metrics, labelled by service."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "cc_http_requests_total", "HTTP requests served", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "cc_http_request_duration_seconds", "HTTP request latency", ["service", "method", "route"]
)
EVENTS_CONSUMED = Counter(
    "cc_events_consumed_total", "Events handled (effect committed)", ["service", "topic", "type"]
)
EVENTS_DUPLICATE = Counter(
    "cc_events_duplicate_total", "Redelivered events skipped by the inbox", ["service", "topic"]
)
EVENTS_FAILED = Counter(
    "cc_events_failed_total", "Handling attempts that failed and will be retried", ["service", "topic", "type", "kind"]
)
EVENTS_DEAD_LETTERED = Counter(
    "cc_events_dead_lettered_total", "Records sent to the dead-letter topic", ["service", "topic", "type", "code"]
)
HANDLER_LATENCY = Histogram(
    "cc_handler_duration_seconds", "Time to handle one event inside its transaction", ["service", "type"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
CONSUMER_LAG = Gauge(
    "cc_consumer_lag", "Records not yet handled: from the first one the consumer has not handled to the partition end",
    ["service", "topic", "partition"]
)
EVENTS_PUBLISHED = Counter(
    "cc_events_published_total", "Outbox records published to Kafka", ["service", "topic"]
)
OUTBOX_OLDEST_UNPUBLISHED = Gauge(
    "cc_outbox_oldest_unpublished_seconds", "How long the oldest unpublished outbox row has waited, as seen by /readyz",
    ["service"])
OUTBOX_BACKLOG = Gauge("cc_outbox_backlog", "Outbox records not yet published", ["service"])
DEPENDENCY_UP = Gauge("cc_dependency_up", "1 when a dependency answered its last check", ["service", "dependency"])
OUTBOX_SET_ASIDE = Counter(
    "cc_outbox_set_aside_total", "Outbox rows set aside after the broker refused them for good",
    ["service", "topic", "refusal"],
)
ROWS_PRUNED = Counter("cc_rows_pruned_total", "Published outbox rows and inbox ids pruned after retention",
                      ["service", "table"])
DATABASE_STATEMENT_SECONDS = Histogram(
    "cc_database_statement_seconds", "Time the database took to answer one statement, as the service saw it",
    ["service", "operation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)
