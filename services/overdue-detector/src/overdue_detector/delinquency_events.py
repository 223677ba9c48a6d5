"""Decisions (domain.decide()) turned into collections.delinquency.v1 events.

A decision carries the account's state for a business date: a DelinquencySnapshot
from a handler, or an aging.AgedAccount from the day's set-based aging; both
offer the same fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from collections_core.codec import Event, type_of
from collections_core.contracts.collections.v1 import delinquency_pb2
from collections_core.money import Money
from collections_core.unit_of_work import UnitOfWork
from collections_core.wire import date_to_proto, instant_to_proto
from overdue_detector.domain import BecameDelinquent, Bucket, Cured, Decision, DelinquencyUpdated, PaymentDueSoon

DELINQUENCY = "collections.delinquency.v1"


_BUCKETS = {bucket: delinquency_pb2.Bucket.Value(f"BUCKET_{bucket.name}") for bucket in Bucket}


def bucket_to_proto(bucket: Bucket) -> int:
    return _BUCKETS[bucket]


# A day's aging dates a hundred thousand events with a handful of dates: each date's
# message is built once (a message passed to a constructor is copied, never shared).
_date_message = lru_cache(maxsize=256)(date_to_proto)


def state_to_proto(state) -> delinquency_pb2.DelinquencyState:
    message = delinquency_pb2.DelinquencyState(
        dpd=state.dpd, bucket=bucket_to_proto(state.bucket),
        past_due_amount=Money(state.past_due_amount, state.currency).to_proto(),
        balance=Money(state.balance, state.currency).to_proto(), cycles_past_due=state.cycles_past_due)
    if state.oldest_due_date is not None:
        message.oldest_due_date.CopyFrom(_date_message(state.oldest_due_date))
    return message


def emit(work: UnitOfWork, decisions: Sequence[Decision], customer_id: str, payment_id: str = "",
         cause: Event | None = None) -> list[str]:
    """Queue the events for an account's `decisions` in the unit of work and return
    their types; `payment_id` names what cured an episode, `cause` the event of a run
    they follow from (None: the unit of work's own)."""
    types = []
    state_message, of = None, None
    for decision in decisions:
        state = decision.snapshot
        common = dict(account_id=state.account_id, customer_id=customer_id, business_date=_date_message(state.as_of))
        if isinstance(decision, (BecameDelinquent, DelinquencyUpdated)) and of is not state:
            # A newly delinquent account's two events carry one state: build it once.
            state_message, of = state_to_proto(state), state
        if isinstance(decision, BecameDelinquent):
            message = delinquency_pb2.AccountBecameDelinquent(**common, state=state_message)
        elif isinstance(decision, DelinquencyUpdated):
            message = delinquency_pb2.DelinquencyUpdated(**common, state=state_message, correction=decision.correction)
        elif isinstance(decision, Cured):
            message = delinquency_pb2.AccountCured(**common, cured_at=instant_to_proto(work.now), payment_id=payment_id)
        elif isinstance(decision, PaymentDueSoon):
            cycle = decision.cycle
            message = delinquency_pb2.PaymentDueSoon(
                **common, due_date=_date_message(cycle.due_date),
                amount_due=Money(cycle.amount, state.currency).to_proto(), statement_id=cycle.statement_id)
        else:
            raise TypeError(f"no delinquency event for {decision!r}")
        work.emit(DELINQUENCY, message, key=state.account_id, cause=cause)
        types.append(type_of(message))
    return types
