"""corebanking.payments.v1: payments judge promises and plan instalments.

The detector decides delinquency and cure from the same payments; the router only
counts them toward the case's promise to pay (oldest first) or its repayment plan.
"""

from __future__ import annotations

from sqlalchemy import insert, select, update

from case_router import casebook, judgement
from case_router.domain.strategy import Strategy
from case_router.tables import payments
from collections_core.codec import Event, Rejected, type_of
from collections_core.contracts.corebanking.v1 import payments_pb2
from collections_core.unit_of_work import UnitOfWork
from collections_core.wire import date_from_proto


def handlers(strategy: Strategy):
    async def posted(event: Event, work: UnitOfWork) -> None:
        message: payments_pb2.PaymentPosted = event.message
        if message.amount.amount_minor <= 0:
            raise Rejected("a payment is a positive amount")
        case = await casebook.open_case_of(work, message.account_id)
        if case is None:
            return
        try:
            day = date_from_proto(message.posted_on)
        except ValueError:
            raise Rejected("posted_on is missing or impossible") from None
        known = (await work.connection.execute(select(payments.c.payment_id).where(
            payments.c.payment_id == message.payment_id))).first()
        if known:
            return
        counted = await judgement.apply_payment(work, strategy, case, message.amount.amount_minor, day)
        await work.connection.execute(insert(payments).values(
            payment_id=message.payment_id, account_id=message.account_id, amount_minor=message.amount.amount_minor,
            counted_toward=counted))
        await casebook.note(work, case.case_id, "payment", f"{message.amount.amount_minor} {message.amount.currency}")

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

    return {type_of(payments_pb2.PaymentPosted): posted, type_of(payments_pb2.PaymentReversed): reversed_}
