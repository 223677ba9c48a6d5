"""collections.delinquency.v1: the daily re-evaluation of every delinquent account.

AccountBecameDelinquent and DelinquencyUpdated both run the day, a run of them at
once (evaluation.py): open the case if there is none, judge promises and plans as of
that day, end lapsed holds, then ``decide_day`` and carry out its decision. A day
older than the last one evaluated is stale unless it is a correction, which re-decides
it (actions already done stay done, so only what the corrected facts newly call for is
added). AccountCured closes the case, a run of cures at once. PaymentDueSoon is a
friendly contact, never a case.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select

from case_router import casebook, evaluation, judgement
from case_router.casebook import Delinquency
from case_router.domain.holds import reminder_allowed
from case_router.domain.strategy import Strategy
from case_router.evaluation import DayReport
from case_router.tables import cases
from collections_core.codec import Event, Rejected, type_of
from collections_core.contracts.collections.v1 import contacts_pb2, delinquency_pb2
from collections_core.money import Money
from collections_core.queries import among
from collections_core.unit_of_work import UnitOfWork
from collections_core.wire import date_from_proto, instant_to_proto

_BUCKETS = {delinquency_pb2.Bucket.Value(f"BUCKET_{b}"): b.replace("_PLUS", "+")
            for b in ("M0", "M1", "M2", "M3", "M4", "M5", "M6", "M7_PLUS")}
_DUE_SOON = uuid.UUID("2f7c1a4e-5b9d-4f61-8e2a-7d3c9b0e6f15")


def _delinquency(message) -> Delinquency:
    state = message.state
    try:
        day = date_from_proto(message.business_date)
    except ValueError:
        raise Rejected("business_date is missing or impossible") from None
    if not message.account_id or not message.customer_id:
        raise Rejected("account_id and customer_id are required")
    if state.dpd < 0 or state.bucket not in _BUCKETS or not state.past_due_amount.currency:
        raise Rejected("delinquency state needs dpd >= 0, a bucket and a currency")
    currency = state.past_due_amount.currency
    balance = state.balance if state.balance.currency else state.past_due_amount
    return Delinquency(day, state.dpd, _BUCKETS[state.bucket], Money(state.past_due_amount.amount_minor, currency),
                       Money(balance.amount_minor, balance.currency or currency))


def batch_handlers(strategy: Strategy):
    async def evaluate_days(events: Sequence[Event], work: UnitOfWork) -> None:
        reports = [DayReport(event, event.message.account_id, event.message.customer_id,
                             _delinquency(event.message), getattr(event.message, "correction", False))
                   for event in events]
        await evaluation.evaluate_days(work, strategy, reports)

    async def accounts_cured(events: Sequence[Event], work: UnitOfWork) -> None:
        """A run of cures (the detector cures a day's payers at once): the accounts' open
        cases read in one query and closed together (``casebook.close_cases``)."""
        cured = []
        for event in events:
            try:
                cured.append((event, event.message.account_id, date_from_proto(event.message.business_date)))
            except ValueError:
                raise Rejected("business_date is missing or impossible") from None
        connection = work.connection
        open_cases = {case.account_id: case for case in (await connection.execute(select(cases).where(
            among(connection, cases.c.account_id, [account for _, account, _ in cured]),
            cases.c.status == "open"))).all()}
        closing = []
        for event, account_id, day in cured:
            case = open_cases.pop(account_id, None)  # a second cure in the run finds it closed
            if case is not None:
                closing.append(casebook.Closing(case, "cured", day, cause=event))
        await judgement.settle_on_cure(work, [(c.case, c.cause.message.payment_id, c.cause) for c in closing])
        await casebook.close_cases(work, strategy, closing)

    return {
        type_of(delinquency_pb2.AccountCured): accounts_cured,
        type_of(delinquency_pb2.AccountBecameDelinquent): evaluate_days,
        type_of(delinquency_pb2.DelinquencyUpdated): evaluate_days,
    }


def handlers(strategy: Strategy):
    async def payment_due_soon(event: Event, work: UnitOfWork) -> None:
        message: delinquency_pb2.PaymentDueSoon = event.message
        if not message.account_id or not message.customer_id:
            raise Rejected("account_id and customer_id are required")
        try:
            day = date_from_proto(message.business_date)
        except ValueError:
            raise Rejected("business_date is missing or impossible") from None
        held, flags = await casebook.holds_and_flags_of(work, message.account_id)
        if not reminder_allowed(held, flags, day):
            return
        made = str(uuid.uuid5(_DUE_SOON, f"{message.account_id}/{message.statement_id}"))
        work.emit(casebook.CONTACT_REQUESTS, contacts_pb2.ContactRequested(
            request_id=made, account_id=message.account_id, customer_id=message.customer_id,
            channel=contacts_pb2.CHANNEL_SMS, template="reminder.sms",
            parameters={"amount_minor": str(message.amount_due.amount_minor),
                        "currency": message.amount_due.currency,
                        "card_last4": casebook.account_reference(message.account_id),
                        "due_date": date_from_proto(message.due_date).isoformat(), "purpose": "pre-due-reminder"},
            requested_at=instant_to_proto(work.now)), key=message.customer_id, subject=message.account_id)

    return {
        type_of(delinquency_pb2.PaymentDueSoon): payment_due_soon,
    }

