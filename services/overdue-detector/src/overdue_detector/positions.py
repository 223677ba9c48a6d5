"""Per-account positions: where each account's unpaid minimums begin, so the daily
aging reads only the accounts that can be delinquent instead of the whole portfolio.

For an account, over all its cycles and its non-reversed payments whatever their
value date:

    unpaid_from_due_day = the earliest due date of a cycle whose minimum those payments
                          do not fully pay under either payment rule (NULL when none)
    latest_value_day    = the latest value date among those payments

An account can only be delinquent on day D if unpaid_from_due_day + grace < D, or if
some of its payments are valued after D (then the payments counted on D are fewer
than all of them; with none valued after D, the statements issued after D could
not have been paid by them, so the cycles issued by D are paid on D as they are
here): aging's _CANDIDATES takes exactly those, plus the accounts whose reported
state or charge-off still needs a decision. Both rules count, so the positions
hold whichever rule the portfolio runs. A run of postings refreshes the
positions of its accounts in the transaction that changes their cycles or payments.
"""

from __future__ import annotations

import json

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from overdue_detector.domain import PaymentRule
from overdue_detector.unpaid_minimums import unpaid_minimums

_REFRESH = """
WITH counted AS (
    SELECT account_id, payment_id, amount_minor AS amount, value_day
    FROM ledger_payments WHERE reversed = :no {payments_filter}
),
issued AS (
    SELECT account_id, statement_id, cycle_day, due_day, minimum_due_minor AS minimum,
           statement_balance_minor AS statement_balance, NULL AS day
    FROM ledger_statement_cycles {cycles_filter}
),{card_rule},{paid_ahead},
unpaid AS (
    SELECT account_id, MIN(due_day) AS unpaid_from_due_day
    FROM (SELECT account_id, due_day FROM cycle_due WHERE remaining > 0
          UNION ALL SELECT account_id, due_day FROM ahead_cycle_due WHERE remaining > 0) either_rule
    GROUP BY account_id
),
latest AS (
    SELECT account_id, MAX(value_day) AS latest_value_day FROM counted GROUP BY account_id
)
INSERT INTO ledger_positions (account_id, unpaid_from_due_day, latest_value_day)
SELECT a.account_id, u.unpaid_from_due_day, l.latest_value_day
FROM ledger_accounts a
LEFT JOIN unpaid u ON u.account_id = a.account_id
LEFT JOIN latest l ON l.account_id = a.account_id
WHERE {accounts_filter}
ON CONFLICT (account_id) DO UPDATE
SET unpaid_from_due_day = excluded.unpaid_from_due_day, latest_value_day = excluded.latest_value_day
"""

# SQLite needs the WHERE before ON CONFLICT (else it parses ON as a join constraint).
_RULES = dict(card_rule=unpaid_minimums(PaymentRule.ISSUED_STATEMENTS),
              paid_ahead=unpaid_minimums(PaymentRule.PAID_AHEAD, prefix="ahead_"))
REFRESH_ALL = _REFRESH.format(payments_filter="", cycles_filter="", accounts_filter="1 = 1", **_RULES)


def _refresh_some(scope: str) -> str:
    return _REFRESH.format(payments_filter=f"AND account_id IN ({scope})",
                           cycles_filter=f"WHERE account_id IN ({scope})",
                           accounts_filter=f"a.account_id IN ({scope})", **_RULES)


# The accounts as one parameter: an array on PostgreSQL, a JSON array on SQLite.
_REFRESH_POSTGRESQL = _refresh_some("SELECT unnest(CAST(:accounts AS varchar[]))")
_REFRESH_SQLITE = _refresh_some("SELECT value FROM json_each(:accounts)")


async def refresh_positions(connection: AsyncConnection, account_ids: list[str]) -> None:
    """Recompute the positions of `account_ids` (a run of postings changed their cycles or payments)."""
    if not account_ids:
        return
    if connection.dialect.name == "postgresql":
        await connection.execute(text(_REFRESH_POSTGRESQL), {"accounts": list(account_ids), "no": False})
    else:
        await connection.execute(text(_REFRESH_SQLITE), {"accounts": json.dumps(list(account_ids)), "no": False})


async def refresh_all_positions(connection: AsyncConnection) -> None:
    """Recompute every account's position (a backfill; the handlers keep them current)."""
    await connection.execute(text(REFRESH_ALL), {"no": False})
