"""Per-account positions: where each account's unpaid minimums begin, so the daily
ageing reads only the accounts that can be delinquent instead of the whole portfolio.

For an account, over all its cycles and its non-reversed payments whatever their
value date:

    unpaid_from_due_day = due date of the first cycle, in waterfall order, that the
                          payments do not fully cover (NULL when all are covered)
    latest_value_day    = the latest value date among those payments

An account can only be delinquent on day D if unpaid_from_due_day + grace < D, or if
some of its payments are valued after D (then the payments counted on D are fewer
than all of them): aging's _CANDIDATES takes exactly those, plus the accounts whose
reported state or charge-off still needs a decision. The handlers refresh an
account's position in the transaction that changes its cycles or payments.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_REFRESH = """
WITH paid AS (
    SELECT account_id, SUM(amount_minor) AS paid, MAX(value_day) AS latest_value_day
    FROM ledger_payments WHERE reversed = :no {payments_filter}
    GROUP BY account_id
),
running AS (
    SELECT account_id, due_day,
           SUM(minimum_due_minor) OVER (
               PARTITION BY account_id ORDER BY due_day, statement_id ROWS UNBOUNDED PRECEDING
           ) AS cumulative
    FROM ledger_statement_cycles {cycles_filter}
),
unpaid AS (
    SELECT r.account_id, MIN(r.due_day) AS unpaid_from_due_day
    FROM running r LEFT JOIN paid p ON p.account_id = r.account_id
    WHERE r.cumulative > COALESCE(p.paid, 0)
    GROUP BY r.account_id
)
INSERT INTO ledger_positions (account_id, unpaid_from_due_day, latest_value_day)
SELECT a.account_id, u.unpaid_from_due_day, p.latest_value_day
FROM ledger_accounts a
LEFT JOIN unpaid u ON u.account_id = a.account_id
LEFT JOIN paid p ON p.account_id = a.account_id
WHERE {accounts_filter}
ON CONFLICT (account_id) DO UPDATE
SET unpaid_from_due_day = excluded.unpaid_from_due_day, latest_value_day = excluded.latest_value_day
"""

# SQLite needs the WHERE before ON CONFLICT (else it parses ON as a join constraint).
REFRESH_ALL = _REFRESH.format(payments_filter="", cycles_filter="", accounts_filter="1 = 1")
_REFRESH_ONE = _REFRESH.format(payments_filter="AND account_id = :account_id",
                               cycles_filter="WHERE account_id = :account_id",
                               accounts_filter="a.account_id = :account_id")


async def refresh_position(connection: AsyncConnection, account_id: str) -> None:
    await connection.execute(text(_REFRESH_ONE), {"account_id": account_id, "no": False})


async def refresh_all_positions(connection: AsyncConnection) -> None:
    """Recompute every account's position (a backfill; the handlers keep them current)."""
    await connection.execute(text(REFRESH_ALL), {"no": False})
