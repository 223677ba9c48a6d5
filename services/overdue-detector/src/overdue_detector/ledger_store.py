"""Loads accounts and their ledgers from the tables into the pure domain's
AccountLedger: one account's for the API, a run of postings' accounts at once
(postings.py), with one query per table either way."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from collections_core.queries import among
from overdue_detector.domain import AccountLedger, AccountStatus, Payment, Statement, StatusChange
from overdue_detector.tables import accounts, cycles, from_day_number, payments, status_changes


async def load_account(connection: AsyncConnection, account_id: str):
    return (await connection.execute(select(accounts).where(accounts.c.account_id == account_id))).first()


async def load_accounts(connection: AsyncConnection, account_ids: Iterable[str]) -> dict:
    """The opened accounts among `account_ids`, by id."""
    rows = await connection.execute(select(accounts).where(among(connection, accounts.c.account_id, account_ids)))
    return {row.account_id: row for row in rows}


async def load_ledger(connection: AsyncConnection, account) -> AccountLedger:
    return (await load_ledgers(connection, [account]))[account.account_id]


async def load_ledgers(connection: AsyncConnection, opened: Sequence) -> dict[str, AccountLedger]:
    """The ledgers of the `opened` accounts (their ledger_accounts rows), by account id."""
    if not opened:
        return {}
    ids = [account.account_id for account in opened]
    currency = {account.account_id: account.currency for account in opened}
    statements, paid, changes = defaultdict(list), defaultdict(list), defaultdict(list)
    for r in await connection.execute(select(cycles).where(among(connection, cycles.c.account_id, ids))):
        statements[r.account_id].append(Statement(
            statement_id=r.statement_id, cycle_date=from_day_number(r.cycle_day),
            due_date=from_day_number(r.due_day), minimum_due=int(r.minimum_due_minor),
            statement_balance=int(r.statement_balance_minor), currency=currency[r.account_id]))
    for r in await connection.execute(select(payments).where(among(connection, payments.c.account_id, ids))):
        paid[r.account_id].append(Payment(
            payment_id=r.payment_id, amount=int(r.amount_minor), currency=currency[r.account_id],
            posted_date=from_day_number(r.posted_day), value_date=from_day_number(r.value_day),
            reversed=bool(r.reversed)))
    # Same-day changes count in the order they were received (the id).
    for r in await connection.execute(select(status_changes).where(
            among(connection, status_changes.c.account_id, ids)).order_by(status_changes.c.id)):
        changes[r.account_id].append(StatusChange(AccountStatus(r.status), from_day_number(r.effective_day)))
    return {account_id: AccountLedger(
        account_id=account_id, currency=currency[account_id], statements=tuple(statements[account_id]),
        payments=tuple(paid[account_id]), status_changes=tuple(changes[account_id])) for account_id in ids}
