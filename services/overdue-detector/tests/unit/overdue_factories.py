"""Terse builders for overdue-detector domain tests (dates as ISO strings, money in minor units)."""

from __future__ import annotations

from datetime import date

from overdue_detector.domain import (
    DEFAULT_POLICY,
    AccountLedger,
    CycleDue,
    DayAged,
    DelinquencyPolicy,
    Payment,
    PaymentDueSoon,
    Statement,
    assess,
    decide,
)

CURRENCY = "CNY"
ACCOUNT = "acc-1"


def day(iso: str) -> date:
    return date.fromisoformat(iso)


def stmt(
    statement_id: str,
    cycle: str,
    due: str,
    minimum: int,
    balance: int | None = None,
    currency: str = CURRENCY,
) -> Statement:
    return Statement(
        statement_id=statement_id,
        cycle_date=day(cycle),
        due_date=day(due),
        minimum_due=minimum,
        statement_balance=minimum * 10 if balance is None else balance,
        currency=currency,
    )


def pay(payment_id: str, amount: int, value: str, posted: str | None = None, currency: str = CURRENCY) -> Payment:
    return Payment(
        payment_id=payment_id,
        amount=amount,
        currency=currency,
        posted_date=day(posted or value),
        value_date=day(value),
    )


def ledger(*facts: Statement | Payment) -> AccountLedger:
    book = AccountLedger(account_id=ACCOUNT, currency=CURRENCY)
    for fact in facts:
        book = book.record_statement(fact) if isinstance(fact, Statement) else book.record_payment(fact)
    return book


# Three monthly cycles of 100.00 minimum each; grace (3 days) ends Jan 28, Feb 28, Mar 28.
S1 = stmt("S1", "2025-01-05", "2025-01-25", 10_000)
S2 = stmt("S2", "2025-02-05", "2025-02-25", 10_000)
S3 = stmt("S3", "2025-03-05", "2025-03-25", 10_000)


def reminded(book: AccountLedger, as_of: date, policy: DelinquencyPolicy = DEFAULT_POLICY,
             reminded_until: date | None = None) -> tuple[CycleDue, ...]:
    """The minimums decide() sends a PaymentDueSoon for when `as_of` is aged (facts from assess)."""
    snapshot = assess(book, as_of, policy, reminded_until)
    decisions = decide(DayAged(snapshot, status=snapshot.status, reminders=snapshot.reminders))
    return tuple(d.cycle for d in decisions.events if isinstance(d, PaymentDueSoon))
