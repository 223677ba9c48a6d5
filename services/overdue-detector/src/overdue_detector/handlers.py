"""The detector's event handlers: an account opening here; every posting (statement,
payment, reversal, status change) a run at a time in postings.py, which loads what
the run needs, decides with the pure domain, and saves ledger rows, states and
emitted events in the one transaction the consumer runner gives it. Closes and the
daily aging are in business_days.py, held postings in held.py, the events themselves
in delinquency_events.py."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from sqlalchemy import insert

from collections_core.codec import Event, Rejected, type_of
from collections_core.contracts.corebanking.v1 import accounts_pb2, business_days_pb2
from collections_core.unit_of_work import UnitOfWork
from overdue_detector import business_days, facts, held, metrics, postings
from overdue_detector.domain import AccountLedger, DelinquencyPolicy, DomainError
from overdue_detector.ledger_store import load_account
from overdue_detector.tables import accounts, day_number

TOPICS = ["corebanking.accounts.v1", "corebanking.statements.v1", "corebanking.payments.v1",
          "corebanking.business-days.v1"]


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
            (business_days_pb2.BusinessDayClosed, business_days.record_close),
        )}

    def batch_handlers(self) -> dict:
        """Every kind of posting shares one batch handler, so a poll batch's postings
        make long runs whatever their mix, in the order they were delivered."""
        apply_postings = self._counted(self.apply_postings)
        return {ce_type: apply_postings for ce_type in postings.TYPES}

    def _counted(self, handler):
        async def counted(received, work: UnitOfWork) -> None:
            await handler(received, work)
            count_emitted(self.service, work)

        return counted

    async def apply_postings(self, events: Sequence[Event], work: UnitOfWork) -> None:
        await postings.apply_postings(work, self.policy, events)

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
        # Each as a run of one: a posting its account rejects is dead-lettered alone.
        for posting in await held.release(work, message.account_id):
            try:
                await postings.apply_postings(work, self.policy, [posting])
            except Rejected as rejection:
                held.dead_letter(work, posting, rejection.reason, self.service, self.dead_letter_topic)

    async def age_closed_days(self, runtime) -> None:
        """Between batches: age the closed days whose postings are applied (business_days.py)."""
        await business_days.age_closed_days(runtime, self.policy, self.posting_topics)


def count_emitted(service: str, work: UnitOfWork) -> None:
    metrics.count_emitted(service, Counter(dict(r.headers)["ce_type"].decode() for r in work.records))
