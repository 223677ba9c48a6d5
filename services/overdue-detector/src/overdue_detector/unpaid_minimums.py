"""What is left of each statement's minimum after the payments, in set-based SQL
that SQLite (>= 3.25) and PostgreSQL both run: domain/delinquency.py's rule
(policy.payment_rule) written over sets, kept equal to it by a test.

Input CTEs: `issued` (account_id, statement_id, cycle_day, due_day, minimum, ...)
and `counted` (account_id, payment_id, amount, value_day). Output CTE
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
{p}ranked AS (
    SELECT i.*,
           ROW_NUMBER() OVER (PARTITION BY i.account_id ORDER BY i.cycle_day, i.due_day, i.statement_id)
               AS issue_rank,
           ROW_NUMBER() OVER (
               PARTITION BY i.account_id ORDER BY i.cycle_day DESC, i.due_day DESC, i.statement_id DESC
           ) AS latest_rank,
           SUM(i.minimum) OVER (
               PARTITION BY i.account_id ORDER BY i.cycle_day, i.due_day, i.statement_id ROWS UNBOUNDED PRECEDING
           ) AS cumulative
    FROM issued i
),
-- How many statements, in issue order, each payment can pay.
{p}reach AS (
    SELECT c.account_id, c.payment_id, c.amount, COUNT(r.statement_id) AS statements
    FROM counted c LEFT JOIN {p}ranked r ON r.account_id = c.account_id AND r.cycle_day <= c.value_day
    GROUP BY c.account_id, c.payment_id, c.amount
),
{p}unreachable AS (
    SELECT r.account_id, r.statement_id, COALESCE(SUM(h.amount), 0) AS amount
    FROM {p}ranked r
    LEFT JOIN {p}reach h ON h.account_id = r.account_id AND h.statements < r.issue_rank AND {reach_limits}
    GROUP BY r.account_id, r.statement_id
),
{p}bounded AS (
    SELECT r.*,
           MIN(r.cumulative - r.minimum + COALESCE(pd.paid, 0) - u.amount) OVER (
               PARTITION BY r.account_id ORDER BY r.issue_rank ROWS UNBOUNDED PRECEDING
           ) AS bound
    FROM {p}ranked r
    JOIN {p}unreachable u ON u.account_id = r.account_id AND u.statement_id = r.statement_id
    LEFT JOIN {p}paid pd ON pd.account_id = r.account_id
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
    limits = "1 = 1" if rule is PaymentRule.ISSUED_STATEMENTS else "1 = 0"
    return _TEMPLATE.format(p=prefix, reach_limits=limits)
