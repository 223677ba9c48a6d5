"""Walking skeleton of the detector: keep statements and payments, and on each
business-day close report accounts whose minimum due is unpaid past the due date
plus grace. The full engine (set-based aging, reversals, backdating, cure,
buckets, PaymentDueSoon) is the overdue-detector issue."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, insert, select, update

from collections_core.codec import Event, Rejected, type_of
from collections_core.contracts.collections.v1 import delinquency_pb2
from collections_core.contracts.corebanking.v1 import (
    accounts_pb2,
    business_days_pb2,
    payments_pb2,
    statements_pb2,
)
from collections_core.money import Money
from collections_core.unit_of_work import UnitOfWork
from collections_core.wire import date_from_proto, date_to_proto
from overdue_detector.tables import accounts, business_days, cycles, payments

DELINQUENCY = "collections.delinquency.v1"


async def _account(work: UnitOfWork, account_id: str):
    row = (await work.connection.execute(select(accounts).where(accounts.c.account_id == account_id))).first()
    if row is None:
        raise Rejected(f"unknown account {account_id}")
    return row


async def account_opened(event: Event, work: UnitOfWork) -> None:
    message: accounts_pb2.AccountOpened = event.message
    if (await work.connection.execute(select(accounts.c.account_id).where(
            accounts.c.account_id == message.account_id))).first():
        return
    await work.connection.execute(insert(accounts).values(
        account_id=message.account_id, customer_id=message.customer_id, currency=message.currency, status="open"))


async def statement_issued(event: Event, work: UnitOfWork) -> None:
    message: statements_pb2.StatementIssued = event.message
    account = await _account(work, message.account_id)
    if message.minimum_due.currency != account.currency:
        raise Rejected(f"statement in {message.minimum_due.currency}, account in {account.currency}")
    if (await work.connection.execute(select(cycles.c.statement_id).where(
            cycles.c.statement_id == message.statement_id))).first():
        return
    await work.connection.execute(insert(cycles).values(
        statement_id=message.statement_id, account_id=message.account_id,
        due_date=date_from_proto(message.due_date), minimum_due_minor=message.minimum_due.amount_minor))


async def payment_posted(event: Event, work: UnitOfWork) -> None:
    message: payments_pb2.PaymentPosted = event.message
    account = await _account(work, message.account_id)
    if message.amount.currency != account.currency:
        raise Rejected(f"payment in {message.amount.currency}, account in {account.currency}")
    if (await work.connection.execute(select(payments.c.payment_id).where(
            payments.c.payment_id == message.payment_id))).first():
        return
    await work.connection.execute(insert(payments).values(
        payment_id=message.payment_id, account_id=message.account_id, amount_minor=message.amount.amount_minor,
        value_date=date_from_proto(message.value_date), reversed=False))


def handlers(grace_days: int):
    async def business_day_closed(event: Event, work: UnitOfWork) -> None:
        today: date = date_from_proto(event.message.business_date)
        if (await work.connection.execute(select(business_days).where(
                business_days.c.business_date == today))).first():
            return
        delinquent = 0
        for account in (await work.connection.execute(select(accounts))).all():
            state = await _past_due(work, account.account_id, today, grace_days)
            if state is None:
                continue
            delinquent += 1
            oldest_due, past_due = state
            dpd = (today - oldest_due).days
            snapshot = delinquency_pb2.DelinquencyState(
                dpd=dpd, bucket=delinquency_pb2.BUCKET_M1 if dpd <= 30 else delinquency_pb2.BUCKET_M2,
                past_due_amount=Money(past_due, account.currency).to_proto(),
                oldest_due_date=date_to_proto(oldest_due), cycles_past_due=1)
            if account.delinquent_since is None:
                await work.connection.execute(update(accounts).where(
                    accounts.c.account_id == account.account_id).values(delinquent_since=today))
                work.emit(DELINQUENCY, delinquency_pb2.AccountBecameDelinquent(
                    account_id=account.account_id, customer_id=account.customer_id,
                    business_date=date_to_proto(today), state=snapshot), key=account.account_id)
            work.emit(DELINQUENCY, delinquency_pb2.DelinquencyUpdated(
                account_id=account.account_id, customer_id=account.customer_id,
                business_date=date_to_proto(today), state=snapshot), key=account.account_id)
        await work.connection.execute(insert(business_days).values(
            business_date=today, delinquent_accounts=delinquent))

    return {
        type_of(accounts_pb2.AccountOpened): account_opened,
        type_of(statements_pb2.StatementIssued): statement_issued,
        type_of(payments_pb2.PaymentPosted): payment_posted,
        type_of(business_days_pb2.BusinessDayClosed): business_day_closed,
    }


async def _past_due(work: UnitOfWork, account_id: str, today: date, grace_days: int) -> tuple[date, int] | None:
    """Oldest unpaid cycle past due + grace, and the amount unpaid on it; payments
    fill the oldest minimums first."""
    paid = (await work.connection.execute(select(func.coalesce(func.sum(payments.c.amount_minor), 0)).where(
        payments.c.account_id == account_id, payments.c.value_date <= today, payments.c.reversed.is_(False)))).scalar()
    owed = 0
    for cycle in (await work.connection.execute(select(cycles).where(cycles.c.account_id == account_id)
                                                .order_by(cycles.c.due_date))).all():
        owed += cycle.minimum_due_minor
        if owed > paid:
            if cycle.due_date + timedelta(days=grace_days) < today:
                return cycle.due_date, min(owed - paid, cycle.minimum_due_minor)
            return None
    return None


TOPICS = ["corebanking.accounts.v1", "corebanking.statements.v1", "corebanking.payments.v1",
          "corebanking.business-days.v1"]
