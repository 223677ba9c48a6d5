"""Core-banking postings applied to the ledger, a run at a time (decision 0045):
statements, payments, reversals and status changes.

The consumer hands the detector every run of consecutive postings of a poll batch in
one call; a posting re-run alone after a failure is a run of one, and so is a posting
held until its account opened (held.py). A run

1. loads what its accounts need with one query per table (`Book.load`): the accounts,
   what collections was told of them (states.py), the payments and statements already
   recorded under the run's ids, the last aged day, and the ledgers of the accounts
   whose ledger a posting may read: those collections was told of, those with a
   posting valued on or before the last aged day, and those with a reversal or a
   status change;
2. applies each posting in delivery order exactly as one posting at a time would,
   each account's ledger kept current in memory so that its later postings see its
   earlier ones (`Run`): reads the posting's facts (facts.py), skips one already
   recorded, and decides with domain.decide() what collections must hear about it;
3. writes each table with one statement (rows.py) and queues the events in order.

A fact that cannot be read, or an id already recorded with other facts, is
Rejected; it rejects the whole run before anything is written or emitted, and the
consumer re-runs each posting of the batch alone, so only that one is dead-lettered.
A posting for an account not opened yet is held (held.py); a status change then is
Rejected, as it travels after AccountOpened on the account's partition.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from collections_core.codec import Event, Rejected, type_of
from collections_core.contracts.corebanking.v1 import accounts_pb2, payments_pb2, statements_pb2
from collections_core.queries import among
from collections_core.unit_of_work import UnitOfWork
from overdue_detector import delinquency_events, facts
from overdue_detector.business_days import last_aged_day
from overdue_detector.domain import (
    AccountLedger,
    AccountStatus,
    Decisions,
    DelinquencyPolicy,
    DomainError,
    Episode,
    Payment,
    Posting,
    PostingApplied,
    Statement,
    StatusChange,
    assess,
    decide,
)
from overdue_detector.held import HeldPosting
from overdue_detector.ledger_store import load_accounts, load_ledgers
from overdue_detector.rows import Rows
from overdue_detector.states import load_episodes
from overdue_detector.tables import cycles, day_number, from_day_number, payments

STATEMENT = type_of(statements_pb2.StatementIssued)
PAYMENT = type_of(payments_pb2.PaymentPosted)
REVERSAL = type_of(payments_pb2.PaymentReversed)
STATUS_CHANGE = type_of(accounts_pb2.AccountStatusChanged)
TYPES = (STATEMENT, PAYMENT, REVERSAL, STATUS_CHANGE)

_STATUSES = {
    accounts_pb2.ACCOUNT_STATUS_OPEN: AccountStatus.OPEN,
    accounts_pb2.ACCOUNT_STATUS_BLOCKED: AccountStatus.BLOCKED,
    accounts_pb2.ACCOUNT_STATUS_CLOSED: AccountStatus.CLOSED,
    accounts_pb2.ACCOUNT_STATUS_CHARGED_OFF: AccountStatus.CHARGED_OFF,
}

Received = Event | HeldPosting


async def apply_postings(work: UnitOfWork, policy: DelinquencyPolicy, received: Sequence[Received]) -> None:
    """Apply a run of postings in one unit of work (the module docstring has the steps)."""
    run = Run(policy, await Book.load(work.connection, received))
    for posting in received:
        run.apply(posting)
    # Queued once every posting of the run is applied: a Rejected one leaves no events of the others behind.
    for decisions, customer_id, payment_id, posting in run.told:
        # A held posting's events follow from the AccountOpened that released it (the unit of work's trace).
        delinquency_events.emit(work, decisions.events, customer_id, payment_id,
                                cause=posting if isinstance(posting, Event) else None)
    await run.rows.save(work)


@dataclass(slots=True)
class Book:
    """What a run knows of its accounts, kept current as it applies their postings."""

    last: date | None  # the last aged business day
    accounts: dict  # ledger_accounts rows of the opened accounts
    episodes: dict[str, Episode]  # of the accounts collections was told of (a delinquency_state row)
    ledgers: dict[str, AccountLedger]
    payments: dict[str, dict]  # ledger_payments rows by id: recorded under the run's ids, or new
    statements: dict[str, dict]  # ledger_statement_cycles rows by id, likewise

    @classmethod
    async def load(cls, connection: AsyncConnection, received: Sequence[Received]) -> Book:
        opened = await load_accounts(connection, {posting.message.account_id for posting in received})
        last = await last_aged_day(connection)
        episodes = await load_episodes(connection, list(opened)) if opened else {}
        reading = sorted(set(episodes) | {p.message.account_id for p in received
                                          if p.message.account_id in opened and _reads_ledger(p, last)})
        payment_ids = [p.message.payment_id for p in received if p.type in (PAYMENT, REVERSAL)]
        statement_ids = [p.message.statement_id for p in received if p.type == STATEMENT]
        return cls(last, opened, episodes, await load_ledgers(connection, [opened[a] for a in reading]),
                   await _rows_by_id(connection, payments.c.payment_id, payment_ids),
                   await _rows_by_id(connection, cycles.c.statement_id, statement_ids))


@dataclass(frozen=True, slots=True)
class NewPosting:
    """A posting new to its account's ledger: its kind, the date it counts from, and
    how the ledger records it (the domain's AccountLedger method)."""

    kind: Posting
    on: date
    record: Callable[[AccountLedger], AccountLedger]
    payment_id: str = ""


class Run:
    """Applies a run's postings one by one against its book, writing into `rows` and
    keeping in `told` what collections must hear of each (its decisions, the account's
    customer, the payment and the posting)."""

    def __init__(self, policy: DelinquencyPolicy, book: Book) -> None:
        self.policy, self.book, self.rows = policy, book, Rows()
        self.told: list[tuple[Decisions, str, str, Received]] = []
        self._read = {STATEMENT: self._statement, PAYMENT: self._payment, REVERSAL: self._reversal,
                      STATUS_CHANGE: self._status_change}

    def apply(self, posting: Received) -> None:
        account = self.book.accounts.get(posting.message.account_id)
        if account is None:
            self._hold(posting)
            return
        new = self._read[posting.type](account, posting.message)
        if new is not None:
            self.told.append((self._decide(account, new), account.customer_id, new.payment_id, posting))

    def _decide(self, account, new: NewPosting) -> Decisions:
        """Change the account's ledger, then decide as domain.decide() says from the facts
        around the posting: the last aged day as reported and as restated, and the
        account on the posting's date when that is after it. An account collections
        never heard of, changed after the last aged day, has no episode to move and no
        reported day to correct, so its ledger is not assessed (nor loaded, unless
        another posting of the run needs it)."""
        book, policy, account_id = self.book, self.policy, account.account_id
        last, known = book.last, account_id in book.episodes
        episode = book.episodes.get(account_id, Episode())
        reaches_last = last is not None and new.on <= last
        before = book.ledgers.get(account_id)
        if before is not None:  # kept current for the account's later postings
            book.ledgers[account_id] = new.record(before)
        reported = restated = since = None
        if known or reaches_last:
            after = book.ledgers[account_id]  # Book.load read the ledger of every account that gets here
            if last is not None:
                reported, restated = assess(before, last, policy), assess(after, last, policy)
            if not reaches_last:
                since = assess(after, new.on, policy)
        decisions = decide(PostingApplied(new.kind, episode, known=known, reported=reported,
                                          restated=restated, since=since))
        if decisions.record is not None:
            self.rows.state(account_id, decisions.record, decisions.episode)
            book.episodes[account_id] = decisions.episode
        elif known and decisions.episode != episode:
            self.rows.episode(account_id, decisions.episode)
            book.episodes[account_id] = decisions.episode
        return decisions

    # -- reading each kind of posting: None when already recorded ------------------------------

    def _statement(self, account, message: statements_pb2.StatementIssued) -> NewPosting | None:
        try:
            statement = Statement(
                statement_id=message.statement_id, cycle_date=facts.business_date(message, "cycle_date"),
                due_date=facts.business_date(message, "due_date"),
                minimum_due=facts.amount(message, "minimum_due", account.currency),
                statement_balance=facts.amount(message, "statement_balance", account.currency),
                currency=account.currency)
        except DomainError as error:
            raise Rejected(str(error)) from None
        row = {"statement_id": statement.statement_id, "account_id": account.account_id,
               "cycle_day": day_number(statement.cycle_date), "due_day": day_number(statement.due_date),
               "minimum_due_minor": statement.minimum_due, "statement_balance_minor": statement.statement_balance}
        seen = self.book.statements.get(statement.statement_id)
        if seen is not None:
            if seen != row:
                raise Rejected(f"statement {statement.statement_id} already recorded with other facts")
            return None
        self.book.statements[statement.statement_id] = row
        self.rows.statements.append(row)
        self.rows.positions[account.account_id] = None
        return NewPosting(Posting.STATEMENT, statement.cycle_date, lambda ledger: ledger.record_statement(statement))

    def _payment(self, account, message: payments_pb2.PaymentPosted) -> NewPosting | None:
        try:
            payment = Payment(payment_id=message.payment_id, amount=facts.amount(message, "amount", account.currency),
                              currency=account.currency, posted_date=facts.business_date(message, "posted_on"),
                              value_date=facts.business_date(message, "value_date"))
        except DomainError as error:
            raise Rejected(str(error)) from None
        row = {"payment_id": payment.payment_id, "account_id": account.account_id, "amount_minor": payment.amount,
               "posted_day": day_number(payment.posted_date), "value_day": day_number(payment.value_date),
               "reversed": False}
        seen = self.book.payments.get(payment.payment_id)
        if seen is not None:
            if (seen["account_id"], int(seen["amount_minor"]), seen["posted_day"], seen["value_day"]) != (
                    row["account_id"], row["amount_minor"], row["posted_day"], row["value_day"]):
                raise Rejected(f"payment {payment.payment_id} already recorded with other facts")
            return None  # a re-delivery, possibly after its reversal: a reversal is sticky
        self.book.payments[payment.payment_id] = self.rows.payments[payment.payment_id] = row
        self.rows.positions[account.account_id] = None
        return NewPosting(Posting.PAYMENT, payment.value_date, lambda ledger: ledger.record_payment(payment),
                          payment.payment_id)

    def _reversal(self, account, message: payments_pb2.PaymentReversed) -> NewPosting | None:
        payment_id = message.payment_id
        seen = self.book.payments.get(payment_id)
        if seen is None or seen["account_id"] != account.account_id:
            raise Rejected(f"account {account.account_id}: cannot reverse unknown payment {payment_id}")
        if seen["reversed"]:
            return None
        seen["reversed"] = True  # a payment new in this run is written reversed
        if payment_id not in self.rows.payments:
            self.rows.reversed.append(payment_id)
        self.rows.positions[account.account_id] = None
        return NewPosting(Posting.REVERSAL, from_day_number(seen["value_day"]),
                          lambda ledger: ledger.reverse_payment(payment_id), payment_id)

    def _status_change(self, account, message: accounts_pb2.AccountStatusChanged) -> NewPosting | None:
        status = _STATUSES.get(message.status)
        if status is None:
            raise Rejected(f"account {message.account_id}: status {message.status} is not a known status")
        change = StatusChange(status, facts.business_date(message, "effective_on"))
        # The domain keeps the first of identical changes; so does the table.
        if change in self.book.ledgers[account.account_id].status_changes:
            return None
        self.rows.status_changes.append({"account_id": account.account_id, "status": status.value,
                                         "effective_day": day_number(change.effective_on)})
        return NewPosting(Posting.STATUS_CHANGE, change.effective_on,
                          lambda ledger: ledger.change_status(change.status, change.effective_on))

    def _hold(self, posting: Received) -> None:
        """Hold a posting until its account opens (held.py), once its dates can be read."""
        message = posting.message
        if posting.type == STATEMENT:
            facts.business_date(message, "due_date")
            applies_on = facts.business_date(message, "cycle_date")
        elif posting.type == PAYMENT:
            facts.business_date(message, "posted_on")
            applies_on = facts.business_date(message, "value_date")
        elif posting.type == REVERSAL:
            applies_on = None
        else:
            raise Rejected(f"status change for unknown account {message.account_id}")
        self.rows.held.append((posting, applies_on))


def _reads_ledger(posting: Received, last: date | None) -> bool:
    """Whether applying `posting` may read its account's ledger even when collections was
    never told of the account: a statement or payment valued on or before the last aged
    day restates it; a reversal counts from its payment's value date, and a status change
    is checked against the ledger's, so both take the ledger whatever their date."""
    field = {STATEMENT: "cycle_date", PAYMENT: "value_date"}.get(posting.type)
    if field is None:
        return True
    if last is None:
        return False
    try:
        return facts.business_date(posting.message, field) <= last
    except Rejected:
        return False  # rejected when applied


async def _rows_by_id(connection: AsyncConnection, key, ids: list[str]) -> dict[str, dict]:
    if not ids:
        return {}
    rows = await connection.execute(select(key.table).where(among(connection, key, ids)))
    return {row._mapping[key.name]: dict(row._mapping) for row in rows}
