"""The detector's event handlers for core-banking postings: each loads what it needs,
decides with the pure domain, and saves ledger rows, state and emitted events in the
one transaction the consumer runner gives it. Closes and the daily aging are in
business_days.py, held postings in held.py, the events themselves in delinquency_events.py."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

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
    BecameDelinquent,
    Cured,
    DelinquencyPolicy,
    DelinquencySnapshot,
    DomainError,
    Payment,
    Statement,
    assess,
    restate_business_day,
)
from overdue_detector.ledger_store import load_account, load_ledger
from overdue_detector.positions import refresh_position
from overdue_detector.tables import (
    accounts,
    cycles,
    day_number,
    delinquency_state,
    from_day_number,
    payments,
    status_changes,
)

TOPICS = ["corebanking.accounts.v1", "corebanking.statements.v1", "corebanking.payments.v1",
          "corebanking.business-days.v1"]

_STATUSES = {
    accounts_pb2.ACCOUNT_STATUS_OPEN: "open",
    accounts_pb2.ACCOUNT_STATUS_BLOCKED: "blocked",
    accounts_pb2.ACCOUNT_STATUS_CLOSED: "closed",
    accounts_pb2.ACCOUNT_STATUS_CHARGED_OFF: "charged_off",
}


async def upsert_state(connection: AsyncConnection, row: dict) -> None:
    """Write one account's delinquency_state row (the daily aging writes them in SQL, aging.py)."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(delinquency_state).values(**row)
    columns = {c.name: statement.excluded[c.name] for c in delinquency_state.c if c.name != "account_id"}
    await connection.execute(statement.on_conflict_do_update(index_elements=["account_id"], set_=columns))


def _state_row(snapshot: DelinquencySnapshot, episode_open: bool) -> dict:
    return {"account_id": snapshot.account_id, "as_of_day": day_number(snapshot.as_of), "dpd": snapshot.dpd,
            "bucket": snapshot.bucket.value, "past_due_minor": snapshot.past_due_amount,
            "cycles_past_due": snapshot.cycles_past_due,
            "oldest_due_day": day_number(snapshot.oldest_due_date) if snapshot.oldest_due_date else None,
            "balance_minor": snapshot.balance, "charged_off": snapshot.charged_off, "episode_open": episode_open,
            "cured_on_day": None}


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
        await self._account(work, message.account_id, "status change")
        status = _STATUSES.get(message.status)
        if status is None:
            raise Rejected(f"account {message.account_id}: status {message.status} is not a known status")
        effective = day_number(facts.business_date(message, "effective_on"))
        # The domain keeps the first of identical changes; so does the table.
        if (await work.connection.execute(select(status_changes.c.id).where(
                status_changes.c.account_id == message.account_id, status_changes.c.status == status,
                status_changes.c.effective_day == effective))).first():
            return
        # Takes effect from the next aging; a change is not a payment, so nothing is restated now.
        await work.connection.execute(insert(status_changes).values(
            account_id=message.account_id, status=status, effective_day=effective))

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
        await work.connection.execute(insert(cycles).values(**row))
        await refresh_position(work.connection, account.account_id)

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
        before = await load_ledger(work.connection, account)
        await work.connection.execute(insert(payments).values(
            payment_id=payment.payment_id, account_id=account.account_id, amount_minor=payment.amount,
            posted_day=day_number(payment.posted_date), value_day=day_number(payment.value_date), reversed=False))
        await refresh_position(work.connection, account.account_id)
        await self._payment_changed(work, account, before, before.record_payment(payment), payment, reversal=False)

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
        before = await load_ledger(work.connection, account)
        payment = next(p for p in before.payments if p.payment_id == message.payment_id)
        await work.connection.execute(
            update(payments).where(payments.c.payment_id == payment.payment_id).values(reversed=True))
        await refresh_position(work.connection, account.account_id)
        await self._payment_changed(work, account, before, before.reverse_payment(payment.payment_id), payment,
                                    reversal=True)

    async def _account(self, work: UnitOfWork, account_id: str, what: str):
        # Only a status change needs its account first: it shares the account's partition, after AccountOpened.
        account = await load_account(work.connection, account_id)
        if account is None:
            raise Rejected(f"{what} for unknown account {account_id}")
        return account

    async def _payment_changed(self, work: UnitOfWork, account, before: AccountLedger, after: AccountLedger,
                               payment: Payment, reversal: bool) -> None:
        """Money moved: correct the last aged day at once if the value date reaches it,
        and end (or, for a reversal, reopen) the episode at once, not at end of day."""
        connection = work.connection
        last = await last_aged_day(connection)
        state = (await connection.execute(
            select(delinquency_state).where(delinquency_state.c.account_id == account.account_id))).first()
        episode_open = bool(state.episode_open) if state else False
        if last is not None and payment.value_date <= last:
            reported, restated = assess(before, last, self.policy), assess(after, last, self.policy)
            # An episode already ended by a payment valued after `last` stays ended:
            # the snapshot of `last` no longer drives what collections does.
            if episode_open != (reported.delinquent and not reported.charged_off):
                decisions = ()
            else:
                decisions = restate_business_day(reported, restated)
            for decision in decisions:
                delinquency_events.emit(work, decision, account.customer_id, payment.payment_id)
                episode_open = _episode_open_after(decision, episode_open)
            if state is not None or restated.delinquent:
                await upsert_state(connection, _state_row(restated, episode_open))
            return
        if state is None:
            return  # never delinquent on an aged day: nothing to cure or reopen before the next close
        current = assess(after, payment.value_date, self.policy)
        if current.charged_off:
            return
        if episode_open and not reversal and not current.delinquent:
            delinquency_events.emit(work, Cured(current), account.customer_id, payment.payment_id)
            # Days closed before the value date and not aged yet belong to the episode just ended.
            await connection.execute(update(delinquency_state).where(
                delinquency_state.c.account_id == account.account_id).values(
                episode_open=False, cured_on_day=day_number(payment.value_date)))
        elif not episode_open and reversal and state.past_due_minor > 0 and current.delinquent:
            # The reversed payment had cured the episode early; it is open again as of the last aged day.
            reopened = assess(after, from_day_number(state.as_of_day), self.policy)
            delinquency_events.emit(work, BecameDelinquent(reopened), account.customer_id, payment.payment_id)
            await connection.execute(update(delinquency_state).where(
                delinquency_state.c.account_id == account.account_id).values(episode_open=True, cured_on_day=None))

    async def age_closed_days(self, runtime) -> None:
        """Between batches: age the closed days whose postings are applied (business_days.py)."""
        await business_days.age_closed_days(runtime, self.policy, self.posting_topics)


def _episode_open_after(decision, episode_open: bool) -> bool:
    if isinstance(decision, BecameDelinquent):
        return True
    if isinstance(decision, Cured):
        return False
    return episode_open


def count_emitted(service: str, work: UnitOfWork) -> None:
    metrics.count_emitted(service, Counter(dict(r.headers)["ce_type"].decode() for r in work.records))
