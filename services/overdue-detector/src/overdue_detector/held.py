"""Postings held for an account not opened yet.

Accounts, statements and payments travel on separate topics with no order between
them: on a replay from offset 0, or behind a lagging partition, a payment can arrive
before the AccountOpened of its account. Rejecting it would chase a customer who
paid, so it is held, as received, and applied when the account opens: statements and
payments in value-date order (cycle date for a statement), reversals after them, as
a reversal always follows its payment. The ledger is the same whatever order its
facts arrive in (domain/ledger.py), so the account ends up as if they had come in
order. A held posting that its account then rejects (another currency, say) goes to
the dead-letter topic with the reason, as it would have on arrival.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from google.protobuf.message import Message
from sqlalchemy import delete, insert, select

from collections_core.codec import Event, TypeRegistry, type_of
from collections_core.contracts.corebanking.v1 import payments_pb2
from collections_core.outbox import OutboxRecord
from collections_core.unit_of_work import UnitOfWork
from overdue_detector.tables import day_number, held_postings

_CONTRACTS = TypeRegistry.of_contracts()
_REVERSAL = type_of(payments_pb2.PaymentReversed)


@dataclass(frozen=True, slots=True)
class HeldPosting:
    """A posting as received (its event's id, type and message)."""

    id: str
    type: str
    account_id: str
    message: Message


async def hold(work: UnitOfWork, postings: Sequence[tuple[Event, date | None]]) -> None:
    """Keep each (event, applies_on) of `postings` until its account opens; `applies_on`
    orders it then (None: a reversal). One statement for them all."""
    if postings:
        await work.connection.execute(insert(held_postings), [dict(
            event_id=event.id, ce_type=event.type, account_id=event.message.account_id,
            applies_on_day=day_number(applies_on) if applies_on else None,
            payload=event.message.SerializeToString(), held_at=work.now) for event, applies_on in postings])


async def release(work: UnitOfWork, account_id: str) -> list[HeldPosting]:
    """The postings held for `account_id`, in the order to apply them; removed from the hold."""
    rows = (await work.connection.execute(
        select(held_postings).where(held_postings.c.account_id == account_id))).all()
    await work.connection.execute(delete(held_postings).where(held_postings.c.account_id == account_id))
    rows.sort(key=lambda r: (r.ce_type == _REVERSAL, r.applies_on_day or 0, r.id))
    return [HeldPosting(r.event_id, r.ce_type, r.account_id,
                        _CONTRACTS.resolve(r.ce_type).FromString(r.payload)) for r in rows]


def dead_letter(work: UnitOfWork, posting: HeldPosting, reason: str, service: str, topic: str) -> None:
    """Send a held posting its account rejects to the dead-letter `topic`, with the reason."""
    work.emit(topic, posting.message, key=posting.account_id, event_id=posting.id)
    emitted = work.records.pop()
    work.records.append(OutboxRecord(emitted.topic, emitted.key, emitted.value, [
        *emitted.headers, ("dlq-reason", reason.encode()), ("dlq-code", b"rejected"),
        ("dlq-service", service.encode())]))
