"""Loads what the contact policy needs to know about customers, and writes the
ledger: the SQL side of "load → decide → save" shared by the handlers, the
dispatcher and the call-permit API.

Facts are loaded for a whole run of contacts at once, one query per table
(``= ANY(:ids)`` on PostgreSQL), so a poll batch or a dispatch round costs a
handful of statements however many customers it touches."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import String, any_, bindparam, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
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
    row: object | None  # the contact_points row, PII still encrypted (None: not loaded)


@dataclass
class Known:
    """What the policy knows about one customer. ``attempts`` grows as contacts of the
    same run are allowed, so a later one in the run counts them toward the caps."""

    customer: Customer
    opted_out: frozenset[str] = frozenset()
    holds: dict[str, datetime | None] = field(default_factory=dict)
    attempts: list[Attempt] = field(default_factory=list)

    def contact_facts(self, channel: str, *, recipient: str = "debtor", not_before: datetime | None = None,
                      expires_at: datetime | None = None) -> ContactFacts:
        return ContactFacts(channel=channel, time_zone=self.customer.time_zone, opted_out=self.opted_out,
                            holds=dict(self.holds), attempts=tuple(self.attempts), recipient=recipient,
                            not_before=not_before, expires_at=expires_at)


def among(connection: AsyncConnection, column, values: Collection[str]):
    """``column = ANY(:values)`` on PostgreSQL (one array parameter), ``IN`` elsewhere."""
    if connection.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(String)))
    return column.in_(list(values))


async def load_customer(connection: AsyncConnection, customer_id: str) -> Customer | None:
    return (await load_customers(connection, [customer_id])).get(customer_id)


async def load_customers(connection: AsyncConnection, customer_ids: Iterable[str], *,
                         encrypted: bool = True) -> dict[str, Customer]:
    """Locks the customers' rows (PostgreSQL) for the rest of the transaction, in one
    order, so two evaluations for one customer (dispatcher, call permits) never both
    see room under a cap, and two runs never deadlock. Without ``encrypted`` the
    contact points' encrypted columns stay in the database (``Customer.row`` is None)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    points = contact_points.c
    columns = points if encrypted else (points.customer_id, points.time_zone, points.language)
    rows = await connection.execute(select(*columns).where(among(connection, points.customer_id, ids))
                                    .order_by(points.customer_id).with_for_update())
    return {row.customer_id: Customer(row.customer_id, row.time_zone, row.language, row if encrypted else None)
            for row in rows}


async def load_known(connection: AsyncConnection, customers: Iterable[Customer], now: datetime) -> dict[str, Known]:
    """Opt-outs, holds and the ledger window of every customer given, one query per table."""
    known = {customer.customer_id: Known(customer) for customer in customers}
    if not known:
        return known
    ids = list(known)
    opted_out: dict[str, set[str]] = {}
    for row in await connection.execute(select(channel_preferences.c.customer_id, channel_preferences.c.channel)
                                         .where(among(connection, channel_preferences.c.customer_id, ids),
                                                channel_preferences.c.opted_out)):
        opted_out.setdefault(row.customer_id, set()).add(row.channel)
    for customer_id, channels in opted_out.items():
        known[customer_id].opted_out = frozenset(channels)
    for row in await connection.execute(select(holds.c.customer_id, holds.c.hold, holds.c.until)
                                         .where(among(connection, holds.c.customer_id, ids))):
        known[row.customer_id].holds[row.hold] = as_utc(row.until) if row.until else None
    ledger = await connection.execute(
        select(contact_ledger.c.customer_id, contact_ledger.c.at, contact_ledger.c.channel, contact_ledger.c.outcome,
               contact_ledger.c.recipient)
        .where(among(connection, contact_ledger.c.customer_id, ids), contact_ledger.c.outcome.is_not(None),
               contact_ledger.c.at > now - LOOK_BACK)
        .order_by(contact_ledger.c.id))
    for row in ledger:
        known[row.customer_id].attempts.append(Attempt(as_utc(row.at), row.channel, row.outcome, row.recipient))
    return known


async def policy_facts(connection: AsyncConnection, customer: Customer, channel: str, now: datetime, *,
                       recipient: str = "debtor", not_before: datetime | None = None,
                       expires_at: datetime | None = None) -> ContactFacts:
    known = (await load_known(connection, [customer], now))[customer.customer_id]
    return known.contact_facts(channel, recipient=recipient, not_before=not_before, expires_at=expires_at)


def ledger_row(*, customer_id: str, account_id: str, channel: str, decision: str, at: datetime,
               rule: str | None = None, outcome: str | None = None, request_id: str | None = None,
               permit_id: str | None = None, actor: str = "bank", recipient: str = "debtor") -> dict:
    return dict(customer_id=customer_id, account_id=account_id, request_id=request_id, permit_id=permit_id,
                channel=channel, actor=actor, recipient=recipient, decision=decision, rule=rule, outcome=outcome,
                at=at)


async def record(connection: AsyncConnection, **entry) -> int:
    result = await connection.execute(insert(contact_ledger).values(**ledger_row(**entry)))
    return result.inserted_primary_key[0]


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
