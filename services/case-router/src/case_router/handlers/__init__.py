"""The case-router's event handlers, one module per input topic. Each loads what it
needs, decides with the pure domain and saves rows and emitted events in the one
transaction the consumer runner gives it."""

from __future__ import annotations

from case_router.domain.strategy import Strategy
from case_router.handlers import accounts, agency, contacts, delinquency, payments
from collections_core.consumer import BatchHandler, Handler

TOPICS = ["collections.delinquency.v1", "collections.contact-events.v1", "collections.agency-events.v1",
          "corebanking.accounts.v1", "corebanking.payments.v1"]


def handlers(strategy: Strategy) -> dict[str, Handler]:
    found: dict[str, Handler] = {}
    for module in (delinquency, contacts, agency, accounts, payments):
        found.update(module.handlers(strategy))
    return found


def batch_handlers(strategy: Strategy) -> dict[str, BatchHandler]:
    """The day's delinquency events (evaluation.py), cures, payments, the notifier's
    contact outcomes and the gateway's recalls, a run at a time."""
    return {**delinquency.batch_handlers(strategy), **contacts.batch_handlers(strategy),
            **payments.batch_handlers(strategy), **agency.batch_handlers(strategy)}
