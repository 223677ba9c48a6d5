"""Set-based aging facts: the state of every account as of one business date, in
one SQL statement that SQLite (>= 3.25) and PostgreSQL both run. SQL says what is
true; domain.decide() says what to do about it (business_days.py calls it per
account), so no decision is taken here.

The state is domain.assess() written over sets (the rules live in delinquency.py; a
test keeps the two equal on a generated portfolio). Per account, with D the
business date, or the charge-off date when the account is charged off by D:

    counted      = non-reversed payments valued on or before D
    issued       = statements with cycle date on or before D
    remaining_i  = what is left of minimum i (unpaid_minimums.py, by the policy's payment rule)
    past due     : remaining_i > 0 and D > due_i + grace
    DPD          = D - earliest due date among the past-due cycles
    reminders    : remaining_i > 0 and the reminder window (due_i - due_soon_days)
                   opened after the last aged day and by D

plus the episode as stored (delinquency_state). Dates are day numbers (tables.py),
so all of this is integer arithmetic. The daily aging reads only the candidate
accounts (the scope CTE), found through the per-account positions (positions.py)
and the reminder windows, so a day's aging costs in proportion to the accounts in
trouble, not to the portfolio.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from functools import lru_cache
from typing import NamedTuple

from sqlalchemy import text
from sqlalchemy.engine import Compiled
from sqlalchemy.ext.asyncio import AsyncConnection

from collections_core.inbox import driver_connection
from overdue_detector.domain import AccountStatus, Bucket, CycleDue, DayAged, DelinquencyPolicy, Episode
from overdue_detector.tables import day_number, from_day_number
from overdue_detector.unpaid_minimums import unpaid_minimums

_LEDGER = """
WITH scope AS ({scope}),
ranked_changes AS (
    SELECT sc.account_id, sc.status, sc.effective_day,
           ROW_NUMBER() OVER (PARTITION BY sc.account_id ORDER BY sc.effective_day, sc.id) AS rn
    FROM ledger_status_changes sc JOIN scope ON scope.account_id = sc.account_id
    WHERE sc.effective_day <= :d
),
change_marks AS (
    SELECT account_id, MAX(rn) AS last_rn,
           MAX(CASE WHEN status <> 'charged_off' THEN rn ELSE 0 END) AS last_live_rn
    FROM ranked_changes GROUP BY account_id
),
current_status AS (
    SELECT rc.account_id, rc.status
    FROM ranked_changes rc JOIN change_marks m ON m.account_id = rc.account_id AND rc.rn = m.last_rn
),
-- A charge-off in force on D took effect at the first charge-off after the last other status.
charge_off AS (
    SELECT rc.account_id, MIN(rc.effective_day) AS charged_off_day
    FROM ranked_changes rc JOIN change_marks m ON m.account_id = rc.account_id
    WHERE rc.status = 'charged_off' AND rc.rn > m.last_live_rn
    GROUP BY rc.account_id
),
acct AS (
    SELECT a.account_id, a.customer_id, a.currency,
           COALESCE(cs.status, 'open') AS status,
           co.charged_off_day,
           COALESCE(co.charged_off_day, :d) AS day,
           COALESCE(s.past_due_minor, 0) > 0 AS reported_past_due, COALESCE(s.episode_open, :no) AS episode_open,
           s.cured_on_day
    FROM ledger_accounts a
    JOIN scope ON scope.account_id = a.account_id
    LEFT JOIN current_status cs ON cs.account_id = a.account_id
    LEFT JOIN charge_off co ON co.account_id = a.account_id
    -- Here, beside the account's own row, so a page of accounts finds its states by key.
    LEFT JOIN delinquency_state s ON s.account_id = a.account_id
),
counted AS (
    SELECT p.account_id, p.payment_id, p.amount_minor AS amount, p.value_day
    FROM ledger_payments p JOIN acct ON acct.account_id = p.account_id
    WHERE p.reversed = :not_reversed AND p.value_day <= acct.day
),
issued AS (
    SELECT c.account_id, c.statement_id, c.cycle_day, c.due_day, c.minimum_due_minor AS minimum,
           c.statement_balance_minor AS statement_balance, acct.day
    FROM ledger_statement_cycles c JOIN acct ON acct.account_id = c.account_id
    WHERE c.cycle_day <= acct.day
),{unpaid_minimums}"""

_FACTS = _LEDGER + """,
per_account AS (
    SELECT account_id,
           SUM(CASE WHEN remaining > 0 AND day > due_day + :grace THEN remaining ELSE 0 END) AS past_due,
           SUM(CASE WHEN remaining > 0 AND day > due_day + :grace THEN 1 ELSE 0 END) AS cycles_past_due,
           MIN(CASE WHEN remaining > 0 AND day > due_day + :grace THEN due_day END) AS oldest_due_day,
           MAX(applied) AS applied,
           MAX(CASE WHEN latest_rank = 1 THEN cycle_day END) AS latest_cycle_day,
           MAX(CASE WHEN latest_rank = 1 THEN statement_balance END) AS latest_balance
    FROM cycle_due GROUP BY account_id
),
paid_since AS (
    SELECT p.account_id, SUM(p.amount_minor) AS amount
    FROM ledger_payments p
    JOIN per_account pa ON pa.account_id = p.account_id
    JOIN acct ON acct.account_id = p.account_id
    WHERE p.reversed = :not_reversed AND p.value_day > pa.latest_cycle_day AND p.value_day <= acct.day
    GROUP BY p.account_id
)
SELECT 0 AS kind, acct.account_id, acct.customer_id, acct.currency, acct.status, acct.charged_off_day,
       CASE WHEN pa.oldest_due_day IS NULL THEN 0 ELSE acct.day - pa.oldest_due_day END AS dpd,
       COALESCE(pa.past_due, 0) AS amount,
       COALESCE(pa.cycles_past_due, 0) AS cycles_past_due,
       pa.oldest_due_day AS due_day,
       CASE WHEN pa.latest_cycle_day IS NULL THEN 0
            ELSE pa.latest_balance - COALESCE(ps.amount, 0) END AS balance,
       COALESCE(pd.paid, 0) - COALESCE(pa.applied, 0) AS credit_available,
       acct.reported_past_due, acct.episode_open, acct.cured_on_day,
       NULL AS statement_id, 0 AS issue_rank
FROM acct
LEFT JOIN per_account pa ON pa.account_id = acct.account_id
LEFT JOIN paid_since ps ON ps.account_id = acct.account_id
LEFT JOIN paid pd ON pd.account_id = acct.account_id
UNION ALL
-- The unpaid minimums whose reminder window opened after the last aged day and by D.
SELECT 1, account_id, NULL, NULL, NULL, NULL, 0, remaining, 0, due_day, 0, 0, 1 = 0, 1 = 0, NULL,
       statement_id, issue_rank
FROM cycle_due
WHERE remaining > 0 AND due_day - :soon > :since AND due_day - :soon <= day
"""

# The accounts an aging reads (positions.py says why no other can be delinquent):
# possibly past due, valued after D, still reported as delinquent or in an open
# episode, or charged off by D. Each branch is an index range or a small table.
_CANDIDATES = """
    SELECT account_id FROM ledger_positions WHERE unpaid_from_due_day < CAST(:d AS integer) - CAST(:grace AS integer)
    UNION SELECT account_id FROM ledger_positions WHERE latest_value_day > :d
    UNION SELECT account_id FROM delinquency_state WHERE past_due_minor > 0 OR episode_open = :yes
    UNION SELECT account_id FROM ledger_status_changes WHERE status = 'charged_off' AND effective_day <= :d
"""
_EVERYONE = "SELECT account_id FROM ledger_accounts"
# The accounts with a minimum whose reminder window opened after the last aged day and by D.
_IN_REMINDER_WINDOW = """
    UNION SELECT account_id FROM ledger_statement_cycles
    WHERE due_day > CAST(:since AS integer) + CAST(:soon AS integer)
      AND due_day <= CAST(:d AS integer) + CAST(:soon AS integer)"""


class AgedAccount(NamedTuple):
    """An account's state on an aged day, as the aging SQL computes it (the facts
    domain.assess() gives for one account; a test keeps the two equal). A tuple: a
    day builds hundreds of thousands of them."""

    account_id: str
    customer_id: str
    currency: str
    as_of: date
    dpd: int
    bucket: Bucket
    past_due_amount: int
    cycles_past_due: int
    oldest_due_date: date | None
    balance: int
    credit_available: int
    charged_off_on: date | None

    @property
    def delinquent(self) -> bool:
        return self.past_due_amount > 0

    @property
    def charged_off(self) -> bool:
        return self.charged_off_on is not None


def _parameters(business_date: date, policy: DelinquencyPolicy, reminded_until: date | None) -> dict:
    if reminded_until is None:  # the day before, where the calendar has one
        reminded_until = business_date - timedelta(days=1) if business_date > date.min else business_date
    return {"d": day_number(business_date), "grace": policy.grace_days, "soon": policy.due_soon_days,
            "since": day_number(reminded_until), "not_reversed": False, "no": False, "yes": True}


def _facts_query(policy: DelinquencyPolicy, scope: str) -> str:
    return _FACTS.format(scope=scope, unpaid_minimums=unpaid_minimums(policy.payment_rule))


_NO_EPISODE = Episode()


def _facts(accounts: list, reminders: list, business_date: date, policy: DelinquencyPolicy) -> list[DayAged]:
    """DayAged facts from an account page (kind 0 rows) and its reminder rows (kind 1), both by account.
    Rows are unpacked by position (the facts statement's column order): a page of
    PostgreSQL's comes straight from the driver."""
    by_account: dict[str, list[CycleDue]] = {}
    for r in reminders:
        by_account.setdefault(r[1], []).append(CycleDue(r[15], from_day_number(r[9]), int(r[7])))
    facts = []
    for (_, account_id, customer_id, currency, status, charged_off_day, dpd, amount, cycles_past_due, due_day,
         balance, credit_available, reported_past_due, episode_open, cured_on_day, _, _) in accounts:
        dpd = int(dpd)
        state = AgedAccount(
            account_id=account_id, customer_id=customer_id, currency=currency, as_of=business_date,
            dpd=dpd, bucket=Bucket.for_dpd(dpd, policy), past_due_amount=int(amount),
            cycles_past_due=int(cycles_past_due),
            oldest_due_date=from_day_number(due_day) if due_day is not None else None,
            balance=int(balance), credit_available=int(credit_available),
            charged_off_on=from_day_number(charged_off_day) if charged_off_day is not None else None)
        episode = (Episode(bool(episode_open), from_day_number(cured_on_day) if cured_on_day else None)
                   if episode_open or cured_on_day else _NO_EPISODE)
        facts.append(DayAged(state, episode, reported_past_due=bool(reported_past_due), status=AccountStatus(status),
                             reminders=tuple(by_account.get(account_id, ()))))
    return facts


async def account_facts(connection: AsyncConnection, business_date: date, policy: DelinquencyPolicy,
                        reminded_until: date | None = None) -> list[DayAged]:
    """The facts of every account of the portfolio on `business_date` (reads the whole
    portfolio: for tests and checks; facts_of_day() reads only the day's candidates)."""
    rows = (await connection.execute(text(_facts_query(policy, _EVERYONE) + " ORDER BY 2, 1, 17"),
                                     _parameters(business_date, policy, reminded_until))).all()
    return _facts([r for r in rows if r[0] == 0], [r for r in rows if r[0] == 1], business_date, policy)


async def candidates(connection: AsyncConnection, business_date: date, policy: DelinquencyPolicy,
                     reminded_until: date | None, after: str = "") -> list[str]:
    """The accounts the daily aging reads on `business_date`, by account id, from the
    first after `after`: every account that can be delinquent then, is charged off by
    then, was reported delinquent or in an open episode (so its cure is seen), or has a
    minimum whose reminder window opened after `reminded_until` (the last aged day;
    default the day before). Each branch is an index range or a small table."""
    scope = _CANDIDATES + _IN_REMINDER_WINDOW
    rows = await connection.execute(text(
        f"SELECT account_id FROM ({scope}) candidates WHERE account_id > :after ORDER BY account_id"),
        {**_parameters(business_date, policy, reminded_until), "after": after})
    return [account_id for (account_id,) in rows]


def page_query(policy: DelinquencyPolicy, postgres: bool) -> str:
    """The facts statement over a page of accounts given as :accounts (a list on
    PostgreSQL, a JSON array on SQLite)."""
    scope = ("SELECT unnest(CAST(:accounts AS varchar[])) AS account_id" if postgres
             else "SELECT value AS account_id FROM json_each(:accounts)")
    return _facts_query(policy, scope) + " ORDER BY 2, 1, 17"


async def facts_of_accounts(connection: AsyncConnection, accounts: list[str], business_date: date,
                            policy: DelinquencyPolicy, reminded_until: date | None) -> list[DayAged]:
    """The aging facts of `accounts` (a page of candidates) on `business_date`, by account id."""
    postgres = connection.dialect.name == "postgresql"
    parameters = {**_parameters(business_date, policy, reminded_until),
                  "accounts": list(accounts) if postgres else json.dumps(accounts)}
    if postgres:
        # Straight to the driver: SQLAlchemy's result rows cost more than the page's decisions.
        statement = _driver_statement(page_query(policy, True), connection.dialect)
        rows = await (await driver_connection(connection)).fetch(
            statement.string, *[parameters[name] for name in statement.positiontup])
    else:
        rows = (await connection.execute(text(page_query(policy, False)), parameters)).all()
    return _facts([r for r in rows if r[0] == 0], [r for r in rows if r[0] == 1], business_date, policy)


@lru_cache(maxsize=8)
def _driver_statement(sql: str, dialect) -> Compiled:
    """`sql` with the driver's positional parameters ($1 …) and their names in order."""
    return text(sql).compile(dialect=dialect)
