"""The detector's event handlers for core-banking postings: each loads what it needs,
decides with the pure domain, and saves ledger rows, state and emitted events in the
one transaction the consumer runner gives it. Closes and the daily aging are in
business_days.py, held postings in held.py, the events themselves in delinquency_events.py."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date

from sqlalchemy import Executable, insert, select, update

from collections_core.codec import Event, Rejected, type_of
from collections_core.contracts.corebanking.v1 import (
    accounts_pb2,
    business_days_pb2,
    payments_pb2,
    statements_pb2,
)
from collections_core.unit_of_work import UnitOfWork
from overdue_detector import business_days, delinquency_events, facts, held, metrics
from overdue_detector.business_days import last_aged_day
from overdue_detector.domain import (
    AccountLedger,
    AccountStatus,
    DelinquencyPolicy,
    DomainError,
    Payment,
    Posting,
    PostingApplied,
    Statement,
    assess,
    decide,
)
from overdue_detector.ledger_store import load_account, load_ledger
from overdue_detector.positions import refresh_position
from overdue_detector.states import load_state, record_episode, record_state
from overdue_detector.tables import accounts, cycles, day_number, from_day_number, payments, status_changes

TOPICS = ["corebanking.accounts.v1", "corebanking.statements.v1", "corebanking.payments.v1",
          "corebanking.business-days.v1"]

_STATUSES = {
    accounts_pb2.ACCOUNT_STATUS_OPEN: "open",
    accounts_pb2.ACCOUNT_STATUS_BLOCKED: "blocked",
    accounts_pb2.ACCOUNT_STATUS_CLOSED: "closed",
    accounts_pb2.ACCOUNT_STATUS_CHARGED_OFF: "charged_off",
}


class Detector:
    """The handlers, configured with the bank's delinquency policy."""

    def __init__(self, policy: DelinquencyPolicy, service: str = "overdue-detector",
                 dead_letter_topic: str = "overdue-detector.dlq.v1", posting_topics: list[str] | None = None) -> None:
        self.policy = policy
        self.service = service
        self.dead_letter_topic = dead_letter_topic
        # Where accounts, statements and payments arrive; a close waits for these.
        self.posting_topics = posting_topics or [t for t in TOPICS if "business-days" not in t]

    def handlers(self) -> dict:
        return {type_of(message): self._counted(handler) for message, handler in (
            (accounts_pb2.AccountOpened, self.account_opened),
            (accounts_pb2.AccountStatusChanged, self.account_status_changed),
            (statements_pb2.StatementIssued, self.statement_issued),
            (payments_pb2.PaymentPosted, self.payment_posted),
            (payments_pb2.PaymentReversed, self.payment_reversed),
            (business_days_pb2.BusinessDayClosed, business_days.record_close),
        )}

    def _counted(self, handler):
        async def counted(event: Event, work: UnitOfWork) -> None:
            await handler(event, work)
            count_emitted(self.service, work)

        return counted

    # -- ledger facts -------------------------------------------------------------------------

    async def account_opened(self, event: Event, work: UnitOfWork) -> None:
        message: accounts_pb2.AccountOpened = event.message
        existing = await load_account(work.connection, message.account_id)
        if existing is not None:
            if (existing.customer_id, existing.currency) != (message.customer_id, message.currency):
                raise Rejected(f"account {message.account_id} already opened for customer {existing.customer_id} "
                               f"in {existing.currency}; now received for {message.customer_id} in {message.currency}")
            return
        facts.currency(message)
        try:
            AccountLedger(message.account_id, message.currency)
        except DomainError as error:
            raise Rejected(str(error)) from None
        opened = facts.optional_business_date(message, "opened_on")
        await work.connection.execute(insert(accounts).values(
            account_id=message.account_id, customer_id=message.customer_id, currency=message.currency,
            opened_day=day_number(opened) if opened else None))
        account = await load_account(work.connection, message.account_id)
        appliers = {type_of(statements_pb2.StatementIssued): self._record_statement,
                    type_of(payments_pb2.PaymentPosted): self._record_payment,
                    type_of(payments_pb2.PaymentReversed): self._record_reversal}
        for posting in await held.release(work, account.account_id):
            try:
                await appliers[posting.ce_type](work, account, posting.message)
            except Rejected as rejection:
                held.dead_letter(work, posting, rejection.reason, self.service, self.dead_letter_topic)

    async def account_status_changed(self, event: Event, work: UnitOfWork) -> None:
        message: accounts_pb2.AccountStatusChanged = event.message
        account = await self._account(work, message.account_id, "status change")
        status = _STATUSES.get(message.status)
        if status is None:
            raise Rejected(f"account {message.account_id}: status {message.status} is not a known status")
        effective_on = facts.business_date(message, "effective_on")
        effective = day_number(effective_on)
        # The domain keeps the first of identical changes; so does the table.
        if (await work.connection.execute(select(status_changes.c.id).where(
                status_changes.c.account_id == message.account_id, status_changes.c.status == status,
                status_changes.c.effective_day == effective))).first():
            return
        await self._apply(work, account, Posting.STATUS_CHANGE, effective_on,
                          lambda ledger: ledger.change_status(AccountStatus(status), effective_on),
                          insert(status_changes).values(account_id=message.account_id, status=status,
                                                        effective_day=effective), positions=False)

    async def statement_issued(self, event: Event, work: UnitOfWork) -> None:
        message: statements_pb2.StatementIssued = event.message
        account = await load_account(work.connection, message.account_id)
        if account is None:
            facts.business_date(message, "due_date")
            await held.hold(work, event, facts.business_date(message, "cycle_date"))
            return
        await self._record_statement(work, account, message)

    async def _record_statement(self, work: UnitOfWork, account, message: statements_pb2.StatementIssued) -> None:
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
        seen = (await work.connection.execute(
            select(cycles).where(cycles.c.statement_id == statement.statement_id))).first()
        if seen is not None:
            if dict(seen._mapping) != row:
                raise Rejected(f"statement {statement.statement_id} already recorded with other facts")
            return
        await self._apply(work, account, Posting.STATEMENT, statement.cycle_date,
                          lambda ledger: ledger.record_statement(statement), insert(cycles).values(**row))

    async def payment_posted(self, event: Event, work: UnitOfWork) -> None:
        message: payments_pb2.PaymentPosted = event.message
        account = await load_account(work.connection, message.account_id)
        if account is None:
            facts.business_date(message, "posted_on")
            await held.hold(work, event, facts.business_date(message, "value_date"))
            return
        await self._record_payment(work, account, message)

    async def _record_payment(self, work: UnitOfWork, account, message: payments_pb2.PaymentPosted) -> None:
        try:
            payment = Payment(payment_id=message.payment_id, amount=facts.amount(message, "amount", account.currency),
                              currency=account.currency, posted_date=facts.business_date(message, "posted_on"),
                              value_date=facts.business_date(message, "value_date"))
        except DomainError as error:
            raise Rejected(str(error)) from None
        seen = (await work.connection.execute(
            select(payments).where(payments.c.payment_id == payment.payment_id))).first()
        if seen is not None:
            if (seen.account_id, int(seen.amount_minor), seen.posted_day, seen.value_day) != (
                    account.account_id, payment.amount, day_number(payment.posted_date),
                    day_number(payment.value_date)):
                raise Rejected(f"payment {payment.payment_id} already recorded with other facts")
            return  # a re-delivery, possibly after its reversal: a reversal is sticky
        await self._apply(work, account, Posting.PAYMENT, payment.value_date,
                          lambda ledger: ledger.record_payment(payment), insert(payments).values(
                              payment_id=payment.payment_id, account_id=account.account_id,
                              amount_minor=payment.amount, posted_day=day_number(payment.posted_date),
                              value_day=day_number(payment.value_date), reversed=False),
                          payment_id=payment.payment_id)

    async def payment_reversed(self, event: Event, work: UnitOfWork) -> None:
        message: payments_pb2.PaymentReversed = event.message
        account = await load_account(work.connection, message.account_id)
        if account is None:
            await held.hold(work, event, None)
            return
        await self._record_reversal(work, account, message)

    async def _record_reversal(self, work: UnitOfWork, account, message: payments_pb2.PaymentReversed) -> None:
        seen = (await work.connection.execute(select(payments).where(
            payments.c.payment_id == message.payment_id, payments.c.account_id == account.account_id))).first()
        if seen is None:
            raise Rejected(f"account {account.account_id}: cannot reverse unknown payment {message.payment_id}")
        if seen.reversed:
            return
        await self._apply(work, account, Posting.REVERSAL, from_day_number(seen.value_day),
                          lambda ledger: ledger.reverse_payment(seen.payment_id),
                          update(payments).where(payments.c.payment_id == seen.payment_id).values(reversed=True),
                          payment_id=seen.payment_id)

    async def _account(self, work: UnitOfWork, account_id: str, what: str):
        # Only a status change needs its account first: it shares the account's partition, after AccountOpened.
        account = await load_account(work.connection, account_id)
        if account is None:
            raise Rejected(f"{what} for unknown account {account_id}")
        return account

    async def _apply(self, work: UnitOfWork, account, posting: Posting, on: date,
                     change: Callable[[AccountLedger], AccountLedger], write: Executable, payment_id: str = "",
                     positions: bool = True) -> None:
        """Write a posting valued `on` (`change` is the same on the domain's ledger), then
        tell collections at once what it means, as domain.decide() says from the facts
        around it: the last aged day as reported and as restated, and the account on `on`
        when that is after it. An account collections never heard of, changed after the
        last aged day, has no episode to move and no reported day to correct, so its
        ledger is not even read."""
        connection = work.connection
        last = await last_aged_day(connection)
        recorded, episode = await load_state(connection, account.account_id)
        reaches_last = last is not None and on <= last
        before = await load_ledger(connection, account) if recorded is not None or reaches_last else None
        await connection.execute(write)
        if positions:
            await refresh_position(connection, account.account_id)
        reported = restated = since = None
        if before is not None:
            after = change(before)
            if last is not None:
                reported, restated = assess(before, last, self.policy), assess(after, last, self.policy)
            if not reaches_last:
                since = assess(after, on, self.policy)
        decisions = decide(PostingApplied(posting, episode, known=recorded is not None, reported=reported,
                                          restated=restated, since=since))
        delinquency_events.emit(work, decisions.events, account.customer_id, payment_id)
        if decisions.record is not None:
            await record_state(connection, decisions.record, decisions.episode)
        elif recorded is not None and decisions.episode != episode:
            await record_episode(connection, account.account_id, decisions.episode)

    async def age_closed_days(self, runtime) -> None:
        """Between batches: age the closed days whose postings are applied (business_days.py)."""
        await business_days.age_closed_days(runtime, self.policy, self.posting_topics)


def count_emitted(service: str, work: UnitOfWork) -> None:
    metrics.count_emitted(service, Counter(dict(r.headers)["ce_type"].decode() for r in work.records))
