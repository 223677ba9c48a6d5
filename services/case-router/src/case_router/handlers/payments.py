"""corebanking.payments.v1: payments judge promises and plan instalments.

The detector decides delinquency and cure from the same payments; the router only
counts them toward the case's promise to pay (oldest first) or its repayment plan.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update

from case_router import casebook, judgement
from case_router.domain.strategy import Strategy
from case_router.rows import store_of
from case_router.tables import cases, payments, plans, promises, timeline
from collections_core.codec import Event, Rejected, type_of
from collections_core.contracts.corebanking.v1 import payments_pb2
from collections_core.queries import among
from collections_core.unit_of_work import UnitOfWork
from collections_core.wire import date_from_proto


def batch_handlers(strategy: Strategy):
    async def posted(events: Sequence[Event], work: UnitOfWork) -> None:
        """A run of payments: the accounts' open cases, the payments already counted and
        the cases with an active promise or plan read in one query each. A payment to a
        case with neither is only recorded (most of them); one that may keep a promise or
        complete a plan goes through ``judgement.apply_payment`` as it comes."""
        for event in events:
            _check(event.message)
        connection = work.connection
        accounts = list({event.message.account_id: None for event in events})
        open_cases = {case.account_id: case for case in (await connection.execute(select(cases).where(
            among(connection, cases.c.account_id, accounts), cases.c.status == "open"))).all()}
        if not open_cases:
            return
        known = set((await connection.execute(select(payments.c.payment_id).where(
            among(connection, payments.c.payment_id, [event.message.payment_id for event in events])))).scalars())
        ids = [case.case_id for case in open_cases.values()]
        engaged = set()
        for table in (promises, plans):
            engaged.update((await connection.execute(select(table.c.case_id).where(
                among(connection, table.c.case_id, ids), table.c.status == "active"))).scalars())
        recorded, notes = [], []
        for event in events:
            message: payments_pb2.PaymentPosted = event.message
            case = open_cases.get(message.account_id)
            if case is None or message.payment_id in known:
                continue
            known.add(message.payment_id)
            amount = message.amount.amount_minor
            counted, detail = None, f"{amount} {message.amount.currency}"
            if case.case_id in engaged:
                counted = await judgement.apply_payment(work, strategy, case, amount, date_from_proto(message.posted_on))
                await casebook.note(work, case.case_id, "payment", detail)  # after what it judged, as it happened
                if (await casebook.open_case_of(work, message.account_id)) is None:
                    del open_cases[message.account_id]  # a completed plan closed it
            else:
                notes.append(casebook.timeline_row(case.case_id, work.now, "payment", detail))
            recorded.append({"payment_id": message.payment_id, "account_id": message.account_id,
                             "amount_minor": amount, "counted_toward": counted, "reversed": False})
        store = store_of(connection)
        await store.insert(payments, recorded)
        await store.insert(timeline, notes)

    return {type_of(payments_pb2.PaymentPosted): posted}


def _check(message: payments_pb2.PaymentPosted) -> None:
    if message.amount.amount_minor <= 0:
        raise Rejected("a payment is a positive amount")
    try:
        date_from_proto(message.posted_on)
    except ValueError:
        raise Rejected("posted_on is missing or impossible") from None


def handlers(strategy: Strategy):
    async def reversed_(event: Event, work: UnitOfWork) -> None:
        message: payments_pb2.PaymentReversed = event.message
        payment = (await work.connection.execute(select(payments).where(
            payments.c.payment_id == message.payment_id, payments.c.reversed.is_(False)))).first()
        if payment is None:
            return
        await work.connection.execute(update(payments).where(payments.c.payment_id == message.payment_id)
                                      .values(reversed=True))
        if payment.counted_toward:
            await judgement.take_back_payment(work, payment.counted_toward, payment.amount_minor)

    return {type_of(payments_pb2.PaymentReversed): reversed_}
