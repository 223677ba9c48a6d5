"""What is left of each statement's minimum after the payments, in set-based SQL
that SQLite (>= 3.25) and PostgreSQL both run: domain/delinquency.py's rule
(policy.payment_rule) written over sets, kept equal to it by a test.

Input CTEs: `issued` (account_id, statement_id, cycle_day, due_day, minimum,
statement_balance, day) and `counted` (account_id, amount, value_day). Output CTE
`<prefix>cycle_due`: every issued row with issue_rank (1 = issued first),
latest_rank (1 = issued last), cumulative (minimums up to it), applied (money on
it and every earlier minimum) and remaining (what is left of its minimum).

The card rule without a loop: paying in value-date order the statements each
payment can reach (a prefix in issue order) fills every prefix as far as any
allocation can. By max-flow/min-cut, the money on the first r minimums is then

    applied_r = min(C_r, min over k < r of (C_k + paid - unreachable_{k+1}))

with C_k the first k minimums and unreachable_k the money paid before statement
k was issued, which cannot reach it. Paid ahead, nothing is unreachable and this
is min(C_r, paid).
"""

from __future__ import annotations

from overdue_detector.domain import PaymentRule

_TEMPLATE = """
{p}paid AS (
    SELECT account_id, SUM(amount) AS paid FROM counted GROUP BY account_id
),
-- Statements and payments of an account in one stream by day, a day's statements first
-- (a payment valued on a cycle date reaches that statement): no join, so SQLite's
-- materialised CTEs stay linear.
{p}stream AS (
    SELECT account_id, statement_id, cycle_day, due_day, minimum, statement_balance, day,
           0 AS amount, cycle_day AS at_day, 0 AS kind
    FROM issued
    UNION ALL
    SELECT account_id, NULL, NULL, NULL, 0, NULL, NULL, amount, value_day, 1
    FROM counted
),
{p}running AS (
    SELECT s.*,
           SUM(s.amount) OVER (PARTITION BY s.account_id ORDER BY s.at_day, s.kind
                               ROWS UNBOUNDED PRECEDING) AS paid_before,
           SUM(s.amount) OVER (PARTITION BY s.account_id) AS paid_total
    FROM {p}stream s
),
{p}ranked AS (
    SELECT r.account_id, r.statement_id, r.cycle_day, r.due_day, r.minimum, r.statement_balance, r.day,
           r.paid_total, r.paid_before * {card_rule} AS unreachable,
           ROW_NUMBER() OVER (PARTITION BY r.account_id ORDER BY r.cycle_day, r.due_day, r.statement_id)
               AS issue_rank,
           ROW_NUMBER() OVER (
               PARTITION BY r.account_id ORDER BY r.cycle_day DESC, r.due_day DESC, r.statement_id DESC
           ) AS latest_rank,
           SUM(r.minimum) OVER (
               PARTITION BY r.account_id ORDER BY r.cycle_day, r.due_day, r.statement_id ROWS UNBOUNDED PRECEDING
           ) AS cumulative
    FROM {p}running r WHERE r.kind = 0
),
{p}bounded AS (
    SELECT r.*,
           MIN(r.cumulative - r.minimum + r.paid_total - r.unreachable) OVER (
               PARTITION BY r.account_id ORDER BY r.issue_rank ROWS UNBOUNDED PRECEDING
           ) AS bound
    FROM {p}ranked r
),
{p}covered AS (
    SELECT b.*, CASE WHEN b.bound < b.cumulative THEN b.bound ELSE b.cumulative END AS applied
    FROM {p}bounded b
),
{p}cycle_due AS (
    SELECT c.*,
           c.minimum - c.applied
           + COALESCE(LAG(c.applied) OVER (PARTITION BY c.account_id ORDER BY c.issue_rank), 0) AS remaining
    FROM {p}covered c
)
"""


def unpaid_minimums(rule: PaymentRule, prefix: str = "") -> str:
    """The CTEs (comma-led by the caller) computing `<prefix>cycle_due` under `rule`."""
    # Paid ahead, every payment reaches every statement: nothing is unreachable.
    return _TEMPLATE.format(p=prefix, card_rule=1 if rule is PaymentRule.ISSUED_STATEMENTS else 0)
