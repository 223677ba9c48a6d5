"""Loads one account's ledger from the tables into the pure domain's AccountLedger."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from overdue_detector.domain import AccountLedger, AccountStatus, Payment, Statement, StatusChange
from overdue_detector.tables import accounts, cycles, from_day_number, payments, status_changes


async def load_account(connection: AsyncConnection, account_id: str):
    return (await connection.execute(select(accounts).where(accounts.c.account_id == account_id))).first()


async def load_ledger(connection: AsyncConnection, account) -> AccountLedger:
    currency = account.currency
    statement_rows = (await connection.execute(
        select(cycles).where(cycles.c.account_id == account.account_id))).all()
    payment_rows = (await connection.execute(
        select(payments).where(payments.c.account_id == account.account_id))).all()
    change_rows = (await connection.execute(
        select(status_changes).where(status_changes.c.account_id == account.account_id)
        .order_by(status_changes.c.id))).all()
    return AccountLedger(
        account_id=account.account_id, currency=currency,
        statements=tuple(Statement(
            statement_id=r.statement_id, cycle_date=from_day_number(r.cycle_day),
            due_date=from_day_number(r.due_day), minimum_due=int(r.minimum_due_minor),
            statement_balance=int(r.statement_balance_minor), currency=currency) for r in statement_rows),
        payments=tuple(Payment(
            payment_id=r.payment_id, amount=int(r.amount_minor), currency=currency,
            posted_date=from_day_number(r.posted_day), value_date=from_day_number(r.value_day),
            reversed=bool(r.reversed)) for r in payment_rows),
        status_changes=tuple(StatusChange(AccountStatus(r.status), from_day_number(r.effective_day))
                             for r in change_rows),
    )
