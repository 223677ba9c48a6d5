"""An account's ledger as the overdue detector sees it: statements, payments, status history.

The ledger records validated facts and interprets nothing (aging lives in
delinquency.py). Money is always an int of minor units in the account's currency.

Recording is idempotent: re-delivering a statement or payment already on the
ledger gives an equal ledger, so at-least-once delivery is harmless. A payment
re-delivered after its reversal stays reversed. A *different* fact under an id
already used is rejected (ConflictingDuplicate): keeping either version
silently would hide an upstream bug.

Statements are kept in the order they were issued (cycle date, then due date,
then statement id), the order payments pay them in, and payments by id, so the
same facts give an equal ledger whatever order they arrived in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from enum import Enum

from overdue_detector.domain.errors import (
    ConflictingDuplicate,
    CurrencyMismatch,
    InvalidAccount,
    InvalidPayment,
    InvalidStatement,
    UnknownPayment,
)

_ISO_4217 = re.compile(r"[A-Z]{3}")


class AccountStatus(Enum):
    OPEN = "open"
    BLOCKED = "blocked"
    CLOSED = "closed"
    CHARGED_OFF = "charged_off"


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement cycle; minimum_due covers this cycle alone, not earlier arrears."""

    statement_id: str
    cycle_date: date
    due_date: date
    minimum_due: int
    statement_balance: int
    currency: str

    def __post_init__(self) -> None:
        if not self.statement_id:
            raise InvalidStatement("statement_id is empty")
        for name in ("minimum_due", "statement_balance"):
            if type(getattr(self, name)) is not int:
                raise InvalidStatement(
                    f"statement {self.statement_id}: {name} must be an int of minor units, "
                    f"got {getattr(self, name)!r}"
                )
        if self.minimum_due < 0:
            raise InvalidStatement(f"statement {self.statement_id}: minimum_due {self.minimum_due} is negative")
        if self.due_date < self.cycle_date:
            raise InvalidStatement(
                f"statement {self.statement_id}: due date {self.due_date} is before cycle date {self.cycle_date}"
            )


@dataclass(frozen=True, slots=True)
class Payment:
    """Money received; value_date (when it counts) may precede posted_date (when it was booked)."""

    payment_id: str
    amount: int
    currency: str
    posted_date: date
    value_date: date
    reversed: bool = False

    def __post_init__(self) -> None:
        if not self.payment_id:
            raise InvalidPayment("payment_id is empty")
        if type(self.amount) is not int:
            raise InvalidPayment(
                f"payment {self.payment_id}: amount must be an int of minor units, got {self.amount!r}"
            )
        if self.amount <= 0:
            raise InvalidPayment(f"payment {self.payment_id}: amount {self.amount} is not positive")


@dataclass(frozen=True, slots=True)
class StatusChange:
    status: AccountStatus
    effective_on: date


@dataclass(frozen=True, slots=True)
class AccountLedger:
    """Everything the detector knows about one card account. Accounts are open until a status change says otherwise."""

    account_id: str
    currency: str
    statements: tuple[Statement, ...] = ()
    payments: tuple[Payment, ...] = ()
    status_changes: tuple[StatusChange, ...] = ()

    def __post_init__(self) -> None:
        if not self.account_id:
            raise InvalidAccount("account_id is empty")
        if not isinstance(self.currency, str) or not _ISO_4217.fullmatch(self.currency):
            raise InvalidAccount(f"account {self.account_id}: {self.currency!r} is not an ISO 4217 code")
        for fact in (*self.statements, *self.payments):
            if fact.currency != self.currency:
                what = f"statement {fact.statement_id}" if isinstance(fact, Statement) else f"payment {fact.payment_id}"
                raise CurrencyMismatch(
                    f"account {self.account_id} is in {self.currency}; {what} is in {fact.currency}"
                )
        # Frozen: canonicalise in place once, so equal facts give equal ledgers.
        object.__setattr__(self, "statements", _merge_statements(self.statements))
        object.__setattr__(self, "payments", _merge_payments(self.payments))
        object.__setattr__(self, "status_changes", _merge_status_changes(self.status_changes))

    def record_statement(self, statement: Statement) -> AccountLedger:
        return replace(self, statements=(*self.statements, statement))

    def record_payment(self, payment: Payment) -> AccountLedger:
        return replace(self, payments=(*self.payments, payment))

    def reverse_payment(self, payment_id: str) -> AccountLedger:
        """Un-apply a payment on every day it counted; reversing twice changes nothing."""
        for payment in self.payments:
            if payment.payment_id == payment_id:
                return replace(self, payments=(*self.payments, replace(payment, reversed=True)))
        raise UnknownPayment(f"account {self.account_id}: cannot reverse unknown payment {payment_id!r}")

    def change_status(self, status: AccountStatus, effective_on: date) -> AccountLedger:
        return replace(self, status_changes=(*self.status_changes, StatusChange(status, effective_on)))

    def status_on(self, day: date) -> AccountStatus:
        status = AccountStatus.OPEN
        for change in self.status_changes:
            if change.effective_on > day:
                break
            status = change.status
        return status

    def charged_off_on(self, day: date) -> date | None:
        """When the charge-off in force on `day` took effect, or None if the account is not charged off then."""
        since: date | None = None
        for change in self.status_changes:
            if change.effective_on > day:
                break
            if change.status is not AccountStatus.CHARGED_OFF:
                since = None
            elif since is None:
                since = change.effective_on
        return since


def _merge_statements(statements: Iterable[Statement]) -> tuple[Statement, ...]:
    by_id: dict[str, Statement] = {}
    for statement in statements:
        seen = by_id.setdefault(statement.statement_id, statement)
        if seen != statement:
            raise ConflictingDuplicate(
                f"statement {statement.statement_id} already recorded as {seen}, now received as {statement}"
            )
    return tuple(sorted(by_id.values(), key=lambda s: (s.cycle_date, s.due_date, s.statement_id)))


def _merge_payments(payments: Iterable[Payment]) -> tuple[Payment, ...]:
    by_id: dict[str, Payment] = {}
    for payment in payments:
        seen = by_id.get(payment.payment_id)
        if seen is None:
            by_id[payment.payment_id] = payment
            continue
        if replace(seen, reversed=payment.reversed) != payment:
            raise ConflictingDuplicate(
                f"payment {payment.payment_id} already recorded as {seen}, now received as {payment}"
            )
        # A reversal is sticky: a late re-delivery of the original posting must not revive it.
        by_id[payment.payment_id] = replace(seen, reversed=seen.reversed or payment.reversed)
    return tuple(by_id[payment_id] for payment_id in sorted(by_id))


def _merge_status_changes(changes: Iterable[StatusChange]) -> tuple[StatusChange, ...]:
    unique = list(dict.fromkeys(changes))
    # Stable: changes effective the same day keep their arrival order, the last one wins.
    return tuple(sorted(unique, key=lambda c: c.effective_on))
