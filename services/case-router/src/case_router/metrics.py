"""The case-router's Prometheus metrics.

Counters move inside handlers' transactions, so a rolled-back and retried batch may
count twice; the gauges are re-read from the database by a worker (see main.py) and
are exact as of their last refresh.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CASES_OPENED = Counter("router_cases_opened_total", "Cases opened", ["variant"])
CASES_CLOSED = Counter("router_cases_closed_total", "Cases closed", ["stage", "reason", "variant"])
DECISIONS = Counter("router_decisions_total", "Day decisions made, by the rule that fired", ["rule", "variant"])
HOLDS_STARTED = Counter("router_holds_started_total", "Holds started", ["kind"])
CASES_BY_STAGE = Gauge("router_open_cases", "Open cases per stage", ["stage"])
HOLDS_ACTIVE = Gauge("router_active_holds", "Holds in force per kind", ["kind"])
TASKS_WAITING = Gauge("router_tasks_waiting", "Tasks waiting per queue", ["queue"])
