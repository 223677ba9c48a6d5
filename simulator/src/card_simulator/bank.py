"""Core banking, simulated: statements, payments, reversals, charge-offs and the close
of every business day, for a portfolio whose customers behave by segment.

The bank keeps its own book of what each customer owes (minimums due, paid oldest
first — the card rule of DESIGN.md §3) so that a run can cross-check the platform's
view of delinquency against the bank's. It is pure: ``CoreBanking.day(d)`` returns
the day's events as values; publishing them is someone else's job.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

from google.protobuf.message import Message

from collections_core.contracts.common.v1 import types_pb2
from collections_core.contracts.corebanking.v1 import (
    accounts_pb2,
    business_days_pb2,
    customers_pb2,
    payments_pb2,
    statements_pb2,
)
from collections_core.wire import date_to_proto
from card_simulator.population import Account, Segment

CUSTOMERS = "corebanking.customers.v1"
ACCOUNTS = "corebanking.accounts.v1"
STATEMENTS = "corebanking.statements.v1"
PAYMENTS = "corebanking.payments.v1"
BUSINESS_DAYS = "corebanking.business-days.v1"

DAYS_TO_PAY = 25  # from a statement's cycle date to its due date
GRACE_DAYS = 3  # the detector's default
CHARGE_OFF_AFTER_DPD = 180
MINIMUM_FLOOR_MINOR = 5_000  # 50.00 in the account's currency


@dataclass(frozen=True, slots=True)
class Posting:
    """One event core banking publishes: its topic, key and message."""

    topic: str
    key: str
    message: Message
    subject: str = ""


@dataclass(slots=True)
class Bill:
    statement_id: str
    due_date: date
    minimum_minor: int
    paid_minor: int = 0

    @property
    def unpaid_minor(self) -> int:
        return self.minimum_minor - self.paid_minor


@dataclass(slots=True)
class Book:
    """The bank's own record of one account."""

    account: Account
    balance_minor: int = 0
    bills: list[Bill] = field(default_factory=list)
    charged_off: bool = False
    statements: int = 0
    payments: int = 0
    recovered_minor: int = 0
    bounced: dict[str, tuple[int, list[tuple[Bill, int]]]] = field(default_factory=dict)
    reached_on: date | None = None  # first day a reminder reached the customer in this spell of arrears
    promised_on: date | None = None  # the date the customer promised an agent to pay the arrears by

    def unpaid(self) -> list[Bill]:
        return [bill for bill in self.bills if bill.unpaid_minor > 0]

    def days_past_due(self, on: date) -> int:
        """DPD as the detector counts it: days since the oldest unpaid due date,
        once that date plus the grace period has passed; 0 when current."""
        unpaid = self.unpaid()
        if not unpaid or on <= unpaid[0].due_date + timedelta(days=GRACE_DAYS):
            return 0
        return (on - unpaid[0].due_date).days


def money(amount_minor: int, currency: str) -> types_pb2.Money:
    return types_pb2.Money(amount_minor=amount_minor, currency=currency)


def business_days(start: date, count: int) -> Iterator[date]:
    """Monday to Friday, from ``start`` on."""
    day = start
    produced = 0
    while produced < count:
        if day.weekday() < 5:
            yield day
            produced += 1
        day += timedelta(days=1)


def _draw(*parts: object) -> int:
    """A stable pseudo-random number in [0, 100) for a decision: the same inputs (seed
    included) always draw the same number, in any process."""
    return zlib.crc32(":".join(map(str, parts)).encode()) % 100


class CoreBanking:
    """``history_days``: the accounts were opened that many calendar days before the first
    business day run, and what they did since (statements, payments, reversals) is
    published on that day, back-dated; no business day of the history is closed. The
    portfolio then starts with its bad payers already in arrears, at every stage of the
    ladder, so a short run reaches the later stages (decision 0102)."""

    def __init__(self, portfolio: list[Account], seed: int, history_days: int = 0) -> None:
        if history_days < 0:
            raise ValueError("history_days cannot be negative")
        self.seed = seed
        self.history_days = history_days
        self.books = {account.account_id: Book(account) for account in portfolio}
        self._last_day: date | None = None
        self._payment_number = 0

    def open_accounts(self, on: date) -> list[Posting]:
        postings = []
        for book in self.books.values():
            account, customer = book.account, book.account.customer
            region = customer.region
            postings.append(Posting(CUSTOMERS, customer.customer_id, customers_pb2.CustomerUpserted(
                customer_id=customer.customer_id, name=customer.name, phone=customer.phone, email=customer.email,
                address=customers_pb2.PostalAddress(lines=list(customer.address_lines), city=customer.city,
                                                    postal_code=customer.postal_code, country=region.country),
                time_zone=region.time_zone, language=region.language,
                consents=[customers_pb2.Consent(channel=channel, granted=True) for channel in (
                    customers_pb2.CONTACT_CHANNEL_SMS, customers_pb2.CONTACT_CHANNEL_EMAIL,
                    customers_pb2.CONTACT_CHANNEL_LETTER, customers_pb2.CONTACT_CHANNEL_CALL)])))
            postings.append(Posting(ACCOUNTS, account.account_id, accounts_pb2.AccountOpened(
                account_id=account.account_id, customer_id=customer.customer_id, currency=account.currency,
                credit_limit=money(account.credit_limit_minor, account.currency),
                opened_on=date_to_proto(on - timedelta(days=self.history_days)))))
        return postings

    def day(self, business_date: date) -> list[Posting]:
        """Everything core banking publishes on one business day, ending with its close
        (on the first, preceded by the history's postings)."""
        postings: list[Posting] = []
        if self._last_day is None and self.history_days:
            opened = business_date - timedelta(days=self.history_days)
            self._last_day = opened - timedelta(days=1)
            for past in business_days(opened, self.history_days):
                if past >= business_date:
                    break
                postings += self._postings(past)
        postings += self._postings(business_date)
        postings.append(Posting(BUSINESS_DAYS, "business-day", business_days_pb2.BusinessDayClosed(
            business_date=date_to_proto(business_date))))
        return postings

    def _postings(self, business_date: date) -> list[Posting]:
        """One business day's statements, payments, reversals and charge-offs."""
        calendar_days = [business_date] if self._last_day is None else [
            self._last_day + timedelta(days=n) for n in range(1, (business_date - self._last_day).days + 1)]
        postings: list[Posting] = []
        for book in self.books.values():
            if book.charged_off:
                continue
            postings += self._reverse_bounced(book, business_date)
            for calendar_day in calendar_days:
                if calendar_day.day == book.account.cycle_day:
                    postings.append(self._statement(book, calendar_day))
            postings += self._pay(book, business_date)
            if book.days_past_due(business_date) > CHARGE_OFF_AFTER_DPD:
                book.charged_off = True
                postings.append(Posting(ACCOUNTS, book.account.account_id, accounts_pb2.AccountStatusChanged(
                    account_id=book.account.account_id, status=accounts_pb2.ACCOUNT_STATUS_CHARGED_OFF,
                    effective_on=date_to_proto(business_date), reason="180 days past due")))
        self._last_day = business_date
        return postings

    def _statement(self, book: Book, cycle_date: date) -> Posting:
        account = book.account
        behind = bool(book.unpaid()) and book.days_past_due(cycle_date) > 0
        # A card in arrears is blocked for new spending; interest is left out on purpose.
        spend = 0 if behind else account.monthly_spend_minor * (80 + _draw(self.seed, account.account_id,
                                                                             cycle_date)) // 130
        book.balance_minor += spend
        outstanding = sum(bill.unpaid_minor for bill in book.bills)
        new_balance = max(0, book.balance_minor - outstanding)
        minimum = min(new_balance, max(MINIMUM_FLOOR_MINOR, new_balance * 5 // 100))
        book.statements += 1
        statement_id = f"{account.account_id}-S{book.statements:03d}"
        due = cycle_date + timedelta(days=DAYS_TO_PAY)
        if minimum > 0:
            book.bills.append(Bill(statement_id, due, minimum))
        return Posting(STATEMENTS, account.account_id, statements_pb2.StatementIssued(
            account_id=account.account_id, statement_id=statement_id, cycle_date=date_to_proto(cycle_date),
            due_date=date_to_proto(due), statement_balance=money(book.balance_minor, account.currency),
            minimum_due=money(minimum, account.currency)))

    def _pay(self, book: Book, on: date) -> list[Posting]:
        amount = self._payment_due_by_behaviour(book, on)
        if amount <= 0:
            return []
        return [self._payment(book, on, amount)]

    def _payment_due_by_behaviour(self, book: Book, on: date) -> int:
        unpaid = book.unpaid()
        if not unpaid:
            return 0
        account = book.account
        dpd = book.days_past_due(on)
        oldest = unpaid[0]
        arrears = sum(bill.unpaid_minor for bill in unpaid if bill.due_date <= on)
        late_by = (on - oldest.due_date).days
        draw = _draw(self.seed, account.account_id, oldest.statement_id)
        match account.segment:
            case Segment.ALWAYS_PAYS:
                return sum(b.unpaid_minor for b in unpaid if b.due_date <= on + timedelta(days=3))
            case Segment.PAYS_WITHIN_GRACE:
                return arrears if late_by >= 1 + draw % GRACE_DAYS else 0
            case Segment.SELF_CURES:
                # Pays within days of the first reminder that reaches them; without one, much later.
                if book.reached_on is not None and (on - book.reached_on).days >= 1 + draw % 3:
                    return arrears
                return arrears if dpd >= 25 + draw % 20 else 0
            case Segment.OPTS_OUT:
                return arrears if dpd >= 5 + draw % 20 else 0
            case Segment.PROMISES_KEPT:
                if book.promised_on is not None and on >= book.promised_on - timedelta(days=draw % 3):
                    return arrears  # keeps the promise made to an agent, sometimes a little early
                return arrears if dpd >= 35 + draw % 20 else 0
            case Segment.DISPUTES:
                return arrears if dpd >= 35 + draw % 20 else 0
            case Segment.PROMISES_BROKEN:
                # Part of the oldest bill now and then; never all of it.
                return oldest.unpaid_minor // 2 if dpd > 0 and dpd % 30 == 20 else 0
            case Segment.HARDSHIP:
                # Nothing for two months, then a small part of the arrears each month.
                return max(1, arrears // 4) if dpd >= 60 and dpd % 30 == 0 else 0
            case Segment.NEVER_PAYS:
                return 0
        return 0

    def _payment(self, book: Book, on: date, amount: int) -> Posting:
        account = book.account
        was_delinquent = book.days_past_due(on) > 0
        self._payment_number += 1
        payment_id = f"P{self._payment_number:09d}"
        applied = []
        remaining = amount
        for bill in book.unpaid():
            if remaining == 0:
                break
            part = min(remaining, bill.unpaid_minor)
            bill.paid_minor += part
            applied.append((bill, part))
            remaining -= part
        book.balance_minor -= amount
        book.payments += 1
        if not book.unpaid() or book.days_past_due(on) == 0:
            book.reached_on = book.promised_on = None
        if was_delinquent:
            book.recovered_minor += amount
        # One payment in fifty bounces and is reversed on the next business day.
        if _draw(self.seed, payment_id) < 2:
            book.bounced[payment_id] = (amount, applied)
        return Posting(PAYMENTS, account.account_id, payments_pb2.PaymentPosted(
            account_id=account.account_id, payment_id=payment_id, amount=money(amount, account.currency),
            posted_on=date_to_proto(on), value_date=date_to_proto(on)))

    def _reverse_bounced(self, book: Book, on: date) -> list[Posting]:
        postings = []
        for payment_id, (amount, applied) in book.bounced.items():
            for bill, part in applied:
                bill.paid_minor -= part
            book.balance_minor += amount
            postings.append(Posting(PAYMENTS, book.account.account_id, payments_pb2.PaymentReversed(
                account_id=book.account.account_id, payment_id=payment_id, reversed_on=date_to_proto(on),
                reason="returned unpaid")))
        book.bounced.clear()
        return postings

    def reached(self, account_id: str, on: date) -> None:
        """A contact from the bank reached the customer (the stand-ins' logs say so)."""
        book = self.books[account_id]
        if book.reached_on is None and book.days_past_due(on) > 0:
            book.reached_on = on

    def promise(self, account_id: str, due_on: date) -> None:
        """The customer promised an agent to pay the arrears by ``due_on``."""
        self.books[account_id].promised_on = due_on

    def arrears(self, account_id: str, on: date) -> int:
        """What the account owes past its due dates on ``on``, in minor units."""
        return sum(bill.unpaid_minor for bill in self.books[account_id].unpaid() if bill.due_date <= on)

    def delinquent_by_bucket(self, on: date) -> dict[str, int]:
        """The bank's own count of delinquent accounts per bucket (M1..M7+), for the cross-check."""
        counts: dict[str, int] = {}
        for book in self.books.values():
            if book.charged_off:
                continue
            dpd = book.days_past_due(on)
            if dpd > 0:
                bucket = "M7+" if dpd > 180 else f"M{(dpd - 1) // 30 + 1}"
                counts[bucket] = counts.get(bucket, 0) + 1
        return counts
