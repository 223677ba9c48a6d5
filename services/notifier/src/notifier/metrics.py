"""The notifier's Prometheus metrics (beside the runtime's own)."""

from prometheus_client import Counter, Gauge, Histogram

CONTACTS = Counter("notifier_contacts_total", "Contacts by channel and outcome", ["channel", "outcome"])
POLICY_DECISIONS = Counter("notifier_policy_decisions_total",
                           "Policy decisions on contact requests: allow, or defer and block by rule",
                           ["decision", "rule"])
PROVIDER_LATENCY = Histogram("notifier_provider_request_seconds", "Provider call latency", ["channel"],
                             buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
PROVIDER_ERRORS = Counter("notifier_provider_errors_total", "Provider errors by kind", ["channel", "kind"])
CIRCUIT_OPEN = Gauge("notifier_circuit_open", "1 while a channel's circuit breaker is open", ["channel"])
PENDING = Gauge("notifier_pending_contacts", "Contacts waiting to go out (pending or in flight)")
OLDEST_PENDING_AGE = Gauge("notifier_oldest_pending_contact_age_seconds",
                           "Age of the oldest contact waiting to go out, since it was requested")
DISPATCHER_BUSY = Gauge("notifier_dispatcher_busy",
                        "1 from when contacts are handed to the dispatcher or requested due now, and after a failed "
                        "round, until a round finds nothing due (a simulated clock waits for 0 before it moves)")
