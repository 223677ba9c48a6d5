"""The portfolio as of the last aged business day: accounts and past-due amounts per bucket.

Delinquent accounts are read from their state rows (every account delinquent on
the last aged day has one, as of that day); every other account that is not
charged off is current (M0). Charged-off accounts left collections for
recoveries and are counted apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from overdue_detector.domain import Bucket
from overdue_detector.tables import accounts, delinquency_state


@dataclass(slots=True)
class Portfolio:
    accounts_per_bucket: dict[str, int] = field(default_factory=lambda: {b.value: 0 for b in Bucket})
    past_due_per_bucket: dict[tuple[str, str], int] = field(default_factory=dict)  # (bucket, currency) -> minor
    charged_off: int = 0


async def portfolio(connection: AsyncConnection) -> Portfolio:
    result = Portfolio()
    total = (await connection.execute(select(func.count()).select_from(accounts))).scalar_one()
    rows = (await connection.execute(
        select(delinquency_state.c.bucket, delinquency_state.c.charged_off, accounts.c.currency,
               func.count().label("accounts"), func.sum(delinquency_state.c.past_due_minor).label("past_due"))
        .join(accounts, accounts.c.account_id == delinquency_state.c.account_id)
        .where((delinquency_state.c.past_due_minor > 0) | delinquency_state.c.charged_off)
        .group_by(delinquency_state.c.bucket, delinquency_state.c.charged_off, accounts.c.currency))).all()
    not_current = 0
    for row in rows:
        not_current += row.accounts
        if row.charged_off:
            result.charged_off += row.accounts
            continue
        result.accounts_per_bucket[row.bucket] += row.accounts
        key = (row.bucket, row.currency)
        result.past_due_per_bucket[key] = result.past_due_per_bucket.get(key, 0) + int(row.past_due)
    result.accounts_per_bucket[Bucket.M0.value] = total - not_current
    return result
