"""Loads what the contact policy needs to know about one customer, and writes
the ledger: the SQL side of "load → decide → save" shared by the handlers, the
dispatcher and the call-permit API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.policy import Attempt, ContactFacts
from notifier.tables import channel_preferences, contact_ledger, contact_points, holds

# The longest look-back any pack needs (Reg F's 7 days, a conversation's pause, a local day).
LOOK_BACK = timedelta(days=8)


@dataclass(frozen=True)
class Customer:
    customer_id: str
    time_zone: str
    language: str
    row: object  # the contact_points row, PII still encrypted


async def load_customer(connection: AsyncConnection, customer_id: str) -> Customer | None:
    """Locks the customer's row (PostgreSQL) for the rest of the transaction, so two
    evaluations for one customer (dispatcher, call permits) never both see room under a cap."""
    row = (await connection.execute(
        select(contact_points).where(contact_points.c.customer_id == customer_id).with_for_update())).first()
    if row is None:
        return None
    return Customer(customer_id, row.time_zone, row.language, row)


async def policy_facts(connection: AsyncConnection, customer: Customer, channel: str, now: datetime, *,
                       recipient: str = "debtor", not_before: datetime | None = None,
                       expires_at: datetime | None = None) -> ContactFacts:
    opted_out = (await connection.execute(select(channel_preferences.c.channel).where(
        channel_preferences.c.customer_id == customer.customer_id, channel_preferences.c.opted_out))).scalars()
    held = (await connection.execute(select(holds.c.hold, holds.c.until).where(
        holds.c.customer_id == customer.customer_id))).all()
    query = select(contact_ledger.c.at, contact_ledger.c.channel, contact_ledger.c.outcome,
                   contact_ledger.c.recipient).where(
        contact_ledger.c.customer_id == customer.customer_id, contact_ledger.c.outcome.is_not(None),
        contact_ledger.c.at > now - LOOK_BACK)
    attempts = [Attempt(as_utc(r.at), r.channel, r.outcome, r.recipient) for r in (await connection.execute(query))]
    return ContactFacts(channel=channel, time_zone=customer.time_zone, opted_out=frozenset(opted_out),
                        holds={r.hold: as_utc(r.until) if r.until else None for r in held}, attempts=attempts,
                        recipient=recipient, not_before=not_before, expires_at=expires_at)


async def record(connection: AsyncConnection, *, customer_id: str, account_id: str, channel: str, decision: str,
                 at: datetime, rule: str | None = None, outcome: str | None = None, request_id: str | None = None,
                 permit_id: str | None = None, actor: str = "bank", recipient: str = "debtor") -> int:
    result = await connection.execute(insert(contact_ledger).values(
        customer_id=customer_id, account_id=account_id, request_id=request_id, permit_id=permit_id,
        channel=channel, actor=actor, recipient=recipient, decision=decision, rule=rule, outcome=outcome, at=at))
    return result.inserted_primary_key[0]


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
