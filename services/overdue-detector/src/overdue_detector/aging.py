"""Set-based aging: the delinquency state of every account as of one business
date, in one SQL statement that SQLite (>= 3.25) and PostgreSQL both run.

It is domain.assess() written over sets (the rules live in delinquency.py; a
test keeps the two equal on a generated portfolio). Per account, with D the
business date, or the charge-off date when the account is charged off by D:

    counted      = non-reversed payments valued on or before D
    issued       = statements with cycle date on or before D
    remaining_i  = what is left of minimum i (unpaid_minimums.py, by the policy's payment rule)
    past due     : remaining_i > 0 and D > due_i + grace
    DPD          = D - earliest due date among the past-due cycles

Dates are day numbers (tables.py), so all of this is integer arithmetic. The
statement reads only the candidate accounts (the scope CTE), found through the
per-account positions (positions.py), so a day's aging costs in proportion to
the accounts in trouble, not to the portfolio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from overdue_detector.domain import Bucket, DelinquencyPolicy
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
           COALESCE(co.charged_off_day, :d) AS day
    FROM ledger_accounts a
    JOIN scope ON scope.account_id = a.account_id
    LEFT JOIN current_status cs ON cs.account_id = a.account_id
    LEFT JOIN charge_off co ON co.account_id = a.account_id
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

_PER_ACCOUNT = _LEDGER + """,
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
),
aged AS (
    SELECT acct.account_id, acct.customer_id, acct.currency, acct.status, acct.charged_off_day,
           CASE WHEN pa.oldest_due_day IS NULL THEN 0 ELSE acct.day - pa.oldest_due_day END AS dpd,
           COALESCE(pa.past_due, 0) AS past_due,
           COALESCE(pa.cycles_past_due, 0) AS cycles_past_due,
           pa.oldest_due_day,
           CASE WHEN pa.latest_cycle_day IS NULL THEN 0
                ELSE pa.latest_balance - COALESCE(ps.amount, 0) END AS balance,
           COALESCE(pd.paid, 0) - COALESCE(pa.applied, 0) AS credit_available
    FROM acct
    LEFT JOIN per_account pa ON pa.account_id = acct.account_id
    LEFT JOIN paid_since ps ON ps.account_id = acct.account_id
    LEFT JOIN paid pd ON pd.account_id = acct.account_id
)
SELECT aged.*, {bucket} AS bucket,
       COALESCE(s.episode_open, :no) AS episode_open, s.cured_on_day
FROM aged LEFT JOIN delinquency_state s ON s.account_id = aged.account_id
{where}
"""

# Reminders only for accounts that can still be used (see delinquency.py).
_DUE_SOON = _LEDGER + """
SELECT cd.account_id, acct.customer_id, acct.currency, cd.statement_id, cd.due_day, cd.remaining
FROM cycle_due cd JOIN acct ON acct.account_id = cd.account_id
WHERE cd.remaining > 0 AND cd.due_day - :soon > :since AND cd.due_day - :soon <= cd.day AND cd.day <= cd.due_day
  AND acct.status IN ('open', 'blocked')
ORDER BY cd.account_id, cd.issue_rank
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
# A reminder is due for a cycle whose reminder window opened after the last aged day and by D.
_DUE_IN_REMINDER_WINDOW = """SELECT DISTINCT account_id FROM ledger_statement_cycles
    WHERE due_day > CAST(:since AS integer) + CAST(:soon AS integer)
      AND due_day <= CAST(:d AS integer) + CAST(:soon AS integer)"""


@dataclass(frozen=True, slots=True)
class AgedAccount:
    account_id: str
    customer_id: str
    currency: str
    as_of: date
    dpd: int
    bucket: Bucket
    past_due: int
    cycles_past_due: int
    oldest_due_date: date | None
    balance: int
    credit_available: int
    charged_off_on: date | None
    episode_open: bool
    cured_on: date | None

    @property
    def delinquent(self) -> bool:
        return self.past_due > 0

    @property
    def past_due_amount(self) -> int:
        return self.past_due

    @property
    def charged_off(self) -> bool:
        return self.charged_off_on is not None


@dataclass(frozen=True, slots=True)
class DueSoon:
    account_id: str
    customer_id: str
    currency: str
    statement_id: str
    due_date: date
    amount: int


def _bucket_case(policy: DelinquencyPolicy) -> str:
    # Bounds are validated ints from the policy, so inlining them is safe.
    whens = " ".join(f"WHEN dpd <= {upper} THEN '{bucket.value}'"
                     for bucket, upper in zip(Bucket, policy.bucket_upper_bounds))
    return f"CASE {whens} ELSE '{Bucket.M7_PLUS.value}' END"


def _parameters(business_date: date, policy: DelinquencyPolicy) -> dict:
    return {"d": day_number(business_date), "grace": policy.grace_days, "soon": policy.due_soon_days,
            "not_reversed": False, "no": False, "yes": True}


def _aged_query(policy: DelinquencyPolicy, everyone: bool) -> str:
    return _PER_ACCOUNT.format(
        scope=_EVERYONE if everyone else _CANDIDATES, unpaid_minimums=unpaid_minimums(policy.payment_rule),
        bucket=_bucket_case(policy).replace("dpd", "aged.dpd"),
        where="" if everyone else "WHERE aged.past_due > 0 OR s.account_id IS NOT NULL")


def _aged(rows, business_date: date) -> list[AgedAccount]:
    return [
        AgedAccount(
            account_id=r.account_id, customer_id=r.customer_id, currency=r.currency, as_of=business_date,
            dpd=int(r.dpd), bucket=Bucket(r.bucket), past_due=int(r.past_due),
            cycles_past_due=int(r.cycles_past_due),
            oldest_due_date=from_day_number(r.oldest_due_day) if r.oldest_due_day is not None else None,
            balance=int(r.balance), credit_available=int(r.credit_available),
            charged_off_on=from_day_number(r.charged_off_day) if r.charged_off_day is not None else None,
            episode_open=bool(r.episode_open),
            cured_on=from_day_number(r.cured_on_day) if r.cured_on_day is not None else None,
        )
        for r in rows
    ]


async def age_accounts(connection: AsyncConnection, business_date: date, policy: DelinquencyPolicy,
                       everyone: bool = False) -> list[AgedAccount]:
    """Every account that is delinquent on `business_date`, is charged off by then, or
    was last reported delinquent or in an open episode (so its cure is seen); with
    everyone=True, every account (reads the whole portfolio: for tests and checks).
    Reads only; age_and_record() is the daily aging."""
    sql = _aged_query(policy, everyone) + " ORDER BY aged.account_id"
    return _aged((await connection.execute(text(sql), _parameters(business_date, policy))).all(), business_date)


# The episode after the day, as domain.close_business_day() decides it (a test keeps the
# two equal): a charged-off account's is left as it was; a day before a pending cure's
# value date leaves it closed; otherwise it is open exactly when the account is delinquent.
_RECORD_STATES = """
INSERT INTO delinquency_state (account_id, as_of_day, dpd, bucket, past_due_minor, cycles_past_due,
                               oldest_due_day, balance_minor, charged_off, episode_open, cured_on_day)
SELECT account_id, :d, dpd, bucket, past_due, cycles_past_due, oldest_due_day, balance,
       charged_off_day IS NOT NULL,
       CASE WHEN charged_off_day IS NOT NULL THEN episode_open
            WHEN cured_on_day > :d THEN :no
            ELSE past_due > 0 END,
       CASE WHEN charged_off_day IS NOT NULL OR cured_on_day > :d THEN cured_on_day END
FROM aging_result WHERE 1 = 1
ON CONFLICT (account_id) DO UPDATE SET
    as_of_day = excluded.as_of_day, dpd = excluded.dpd, bucket = excluded.bucket,
    past_due_minor = excluded.past_due_minor, cycles_past_due = excluded.cycles_past_due,
    oldest_due_day = excluded.oldest_due_day, balance_minor = excluded.balance_minor,
    charged_off = excluded.charged_off, episode_open = excluded.episode_open,
    cured_on_day = excluded.cured_on_day
"""


async def age_and_record(connection: AsyncConnection, business_date: date, policy: DelinquencyPolicy,
                         chunk: int = 5_000) -> AsyncIterator[list[AgedAccount]]:
    """The daily aging: ages what age_accounts() would, records every result as the
    account's delinquency_state in the same statement set, and yields the results, in
    chunks streamed from the database, with each episode as it was before (the caller
    decides the events from it)."""
    parameters = _parameters(business_date, policy)
    postgres = connection.dialect.name == "postgresql"
    # Gone with the transaction: PostgreSQL drops it at the commit (a streaming cursor may
    # still hold it before), SQLite below; a failure rolls its creation back on both.
    await connection.execute(text("CREATE TEMPORARY TABLE aging_result " + ("ON COMMIT DROP " if postgres else "")
                                  + "AS " + _aged_query(policy, everyone=False)), parameters)
    await connection.execute(text(_RECORD_STATES), parameters)
    result = await connection.stream(text("SELECT * FROM aging_result ORDER BY account_id"))
    async for rows in result.partitions(chunk):
        yield _aged(rows, business_date)
    await result.close()
    if not postgres:
        await connection.execute(text("DROP TABLE aging_result"))


async def due_soon(connection: AsyncConnection, business_date: date, policy: DelinquencyPolicy,
                   reminded_until: date | None = None) -> list[DueSoon]:
    """Unpaid minimums whose reminder window opened after `reminded_until` (the last
    aged day; default the day before) and by `business_date` (delinquency.py)."""
    if reminded_until is not None:
        since = reminded_until
    else:  # the day before, where the calendar has one
        since = business_date - timedelta(days=1) if business_date > date.min else business_date
    sql = _DUE_SOON.format(scope=_DUE_IN_REMINDER_WINDOW, unpaid_minimums=unpaid_minimums(policy.payment_rule))
    rows = (await connection.execute(text(sql), {**_parameters(business_date, policy),
                                                 "since": day_number(since)})).all()
    return [DueSoon(r.account_id, r.customer_id, r.currency, r.statement_id, from_day_number(r.due_day),
                    int(r.remaining)) for r in rows]
