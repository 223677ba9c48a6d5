"""AccountLedger: validation of incoming facts and idempotent recording."""

from __future__ import annotations

import pytest
from overdue_factories import ACCOUNT, CURRENCY, S1, S2, day, ledger, pay, stmt

from overdue_detector.domain import (
    AccountLedger,
    AccountStatus,
    ConflictingDuplicate,
    CurrencyMismatch,
    InvalidAccount,
    InvalidPayment,
    InvalidStatement,
    Payment,
    Statement,
    UnknownPayment,
    assess,
)


def test_payment_in_another_currency_rejected():
    with pytest.raises(CurrencyMismatch, match="account acc-1 is in CNY; payment P1 is in USD"):
        ledger(S1).record_payment(pay("P1", 10_000, "2025-01-20", currency="USD"))


def test_statement_in_another_currency_rejected():
    with pytest.raises(CurrencyMismatch, match="statement S9 is in EUR"):
        ledger().record_statement(stmt("S9", "2025-01-05", "2025-01-25", 1_000, currency="EUR"))


def test_rejected_fact_leaves_the_ledger_unchanged():
    book = ledger(S1)

    with pytest.raises(CurrencyMismatch):
        book.record_payment(pay("P1", 10_000, "2025-01-20", currency="USD"))

    assert book.payments == ()


@pytest.mark.parametrize(("amount", "message"), [(0, "not positive"), (-500, "not positive"),
                                                  (12.5, "int of minor units"), (True, "int of minor units")])
def test_invalid_payment_amount_rejected(amount, message):
    with pytest.raises(InvalidPayment, match=message):
        Payment("P1", amount, CURRENCY, day("2025-01-20"), day("2025-01-20"))


INVALID_STATEMENTS = [
    ({"minimum_due": -1}, "minimum_due -1 is negative"),
    ({"due_date": day("2025-01-04")}, "due date 2025-01-04 is before cycle date 2025-01-05"),
    ({"minimum_due": 10.0}, "int of minor units"),
    ({"statement_balance": 1e5}, "int of minor units"),
    ({"statement_id": ""}, "statement_id is empty"),
]


@pytest.mark.parametrize(("override", "message"), INVALID_STATEMENTS)
def test_invalid_statement_rejected(override, message):
    fields = {"statement_id": "S1", "cycle_date": day("2025-01-05"), "due_date": day("2025-01-25"),
              "minimum_due": 1_000, "statement_balance": 5_000, "currency": CURRENCY} | override

    with pytest.raises(InvalidStatement, match=message):
        Statement(**fields)


def test_due_on_the_cycle_date_and_credit_balance_are_valid():
    statement = stmt("S1", "2025-01-05", "2025-01-05", 0, balance=-2_000)

    assert ledger(statement).statements == (statement,)


@pytest.mark.parametrize(("account_id", "currency"), [("", "CNY"), ("acc-1", "cny"), ("acc-1", "YUAN"), ("acc-1", "")])
def test_invalid_account_rejected(account_id, currency):
    with pytest.raises(InvalidAccount):
        AccountLedger(account_id=account_id, currency=currency)


DUPLICATES = [
    ("statement", lambda book: book.record_statement(S1)),
    ("payment", lambda book: book.record_payment(pay("P1", 4_000, "2025-01-20"))),
    ("reversal", lambda book: book.reverse_payment("P1")),
    ("status change", lambda book: book.change_status(AccountStatus.CLOSED, day("2025-02-01"))),
]


@pytest.mark.parametrize(("case", "apply"), DUPLICATES, ids=[row[0] for row in DUPLICATES])
def test_duplicates_are_idempotent(case, apply):
    once = apply(ledger(S1, S2, pay("P1", 4_000, "2025-01-20")))
    twice = apply(once)

    assert twice == once
    assert assess(twice, day("2025-03-01")) == assess(once, day("2025-03-01"))


def test_redelivered_payment_does_not_undo_its_reversal():
    payment = pay("P1", 10_000, "2025-01-20")
    book = ledger(S1, payment).reverse_payment("P1").record_payment(payment)

    assert book.payments == (Payment("P1", 10_000, CURRENCY, day("2025-01-20"), day("2025-01-20"), reversed=True),)
    assert assess(book, day("2025-01-29")).past_due_amount == 10_000


CONFLICTS = [
    ("payment with another amount", lambda book: book.record_payment(pay("P1", 5_000, "2025-01-20"))),
    ("payment with another value date", lambda book: book.record_payment(pay("P1", 4_000, "2025-01-19"))),
    ("statement with another minimum", lambda book: book.record_statement(stmt("S1", "2025-01-05", "2025-01-25", 1))),
]


@pytest.mark.parametrize(("case", "apply"), CONFLICTS, ids=[row[0] for row in CONFLICTS])
def test_same_id_with_different_facts_rejected(case, apply):
    with pytest.raises(ConflictingDuplicate, match="already recorded"):
        apply(ledger(S1, pay("P1", 4_000, "2025-01-20")))


def test_reversing_an_unknown_payment_rejected():
    with pytest.raises(UnknownPayment, match="unknown payment 'P404'"):
        ledger(S1).reverse_payment("P404")


def test_arrival_order_does_not_change_the_ledger():
    p1, p2 = pay("P1", 1_000, "2025-01-20"), pay("P2", 2_000, "2025-01-10")

    assert ledger(S2, p2, S1, p1) == ledger(p1, S1, p2, S2)
    assert [s.statement_id for s in ledger(S2, S1).statements] == ["S1", "S2"]


def test_status_history():
    book = (
        AccountLedger(ACCOUNT, CURRENCY)
        .change_status(AccountStatus.CHARGED_OFF, day("2025-05-01"))
        .change_status(AccountStatus.BLOCKED, day("2025-02-01"))
    )

    assert book.status_on(day("2025-01-31")) is AccountStatus.OPEN
    assert book.status_on(day("2025-02-01")) is AccountStatus.BLOCKED
    assert book.status_on(day("2025-05-01")) is AccountStatus.CHARGED_OFF
    assert book.charged_off_on(day("2025-04-30")) is None
    assert book.charged_off_on(day("2025-09-30")) == day("2025-05-01")
