"""The gateway's own Prometheus metrics, labelled by service like the runtime's."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PLACEMENTS = Gauge("gateway_placements", "Placements per partner and state", ["service", "partner", "state"])
PLACEMENT_DECISIONS = Counter("gateway_placement_decisions_total", "Placement decisions per partner and arm",
                              ["service", "partner", "arm"])
RECALLS = Counter("gateway_recalls_total", "Placements recalled, per reason", ["service", "reason"])
WEBHOOK_ATTEMPTS = Counter("gateway_webhook_attempts_total", "Webhook delivery attempts per partner and result",
                           ["service", "partner", "result"])
WEBHOOK_LATENCY = Histogram("gateway_webhook_latency_seconds", "Time from enqueueing a webhook to its delivery",
                            ["service"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600))
WEBHOOK_PENDING = Gauge("gateway_webhook_pending", "Webhook deliveries waiting for a (re)try", ["service"])
RATE_LIMITED = Counter("gateway_rate_limited_total", "Partner requests refused by the rate limit",
                       ["service", "partner"])
PII_READS = Counter("gateway_pii_reads_total", "Partner reads of customer PII (each one audited)",
                    ["service", "partner"])
TOKENS_ISSUED = Counter("gateway_tokens_issued_total", "Partner access tokens issued", ["service", "partner"])
RECOVERED = Counter("gateway_recovered_minor", "Payments attributed to partners' placements, in minor units",
                    ["service", "partner", "currency"])
RECOVERY_REVERSED = Counter("gateway_recovery_reversed_minor",
                            "Reversals of payments attributed to partners' placements, in minor units",
                            ["service", "partner", "currency"])
