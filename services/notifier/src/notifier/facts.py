"""Loads what the contact policy needs to know about customers, and writes the
ledger: the SQL side of "load → decide → save" shared by the handlers, the
dispatcher and the call-permit API.

Facts are loaded for a whole run of contacts at once, one query per table
(``= ANY(:ids)`` on PostgreSQL), so a poll batch or a dispatch round costs a
handful of statements however many customers it touches."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, String, any_, bindparam, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from collections_core.inbox import driver_connection
from notifier.domain.policy import Attempt, ContactFacts
from notifier.tables import channel_preferences, contact_ledger, contact_points, holds

# The longest look-back any pack needs (Reg F's 7 days, a conversation's pause, a local day).
LOOK_BACK = timedelta(days=8)


@dataclass(frozen=True)
class Customer:
    customer_id: str
    time_zone: str
    language: str
    row: Mapping[str, object] | None  # the contact_points row by column, PII still encrypted (None: not loaded)


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
        # Not copies: the facts are evaluated at once and not kept (a run's later attempts grow the list).
        return ContactFacts(channel=channel, time_zone=self.customer.time_zone, opted_out=self.opted_out,
                            holds=self.holds, attempts=self.attempts, recipient=recipient,
                            not_before=not_before, expires_at=expires_at)


def among_ids(column, postgresql: bool, name: str = "ids"):
    """``column = ANY(:ids)`` on PostgreSQL (one array parameter), ``IN`` elsewhere;
    the values are bound at execution under ``name``."""
    if postgresql:
        return column == any_(bindparam(name, type_=ARRAY(String)))
    return column.in_(bindparam(name, expanding=True))


class Query:
    """A Core SELECT with named parameters, built and compiled once per dialect. On
    PostgreSQL its rows come straight from asyncpg, as the rows written go straight to
    it (rows.py): SQLAlchemy's execution and row objects cost more CPU than the database
    spent on the hot reads of a run (decision 0065). Rows are read by position (or, on
    PostgreSQL, by column name: asyncpg's records)."""

    def __init__(self, build: Callable[[bool], Select]) -> None:
        self._build = build
        self._statements: dict[str, Select] = {}
        self._compiled = None

    async def rows(self, connection: AsyncConnection, **parameters) -> Sequence:
        postgresql = connection.dialect.name == "postgresql"
        if not postgresql:
            statement = self._statements.get("sqlite")
            if statement is None:
                statement = self._statements["sqlite"] = self._build(False)
            return (await connection.execute(statement, parameters)).all()
        if self._compiled is None:
            self._compiled = self._build(True).compile(dialect=connection.dialect)
        values = self._compiled.construct_params(parameters)
        raw = await driver_connection(connection)
        return await raw.fetch(self._compiled.string, *[values[name] for name in self._compiled.positiontup])


_points = contact_points.c
_CUSTOMERS = {encrypted: Query(lambda postgresql, columns=(
    _points if encrypted else (_points.customer_id, _points.time_zone, _points.language)):
    select(*columns).where(among_ids(_points.customer_id, postgresql)).order_by(_points.customer_id)
    .with_for_update()) for encrypted in (True, False)}
_OPTED_OUT = Query(lambda postgresql: select(channel_preferences.c.customer_id, channel_preferences.c.channel).where(
    among_ids(channel_preferences.c.customer_id, postgresql), channel_preferences.c.opted_out))
_HOLDS = Query(lambda postgresql: select(holds.c.customer_id, holds.c.hold, holds.c.until).where(
    among_ids(holds.c.customer_id, postgresql)))
_LEDGER = Query(lambda postgresql: select(
    contact_ledger.c.customer_id, contact_ledger.c.at, contact_ledger.c.channel, contact_ledger.c.outcome,
    contact_ledger.c.recipient).where(among_ids(contact_ledger.c.customer_id, postgresql),
                                      contact_ledger.c.outcome.is_not(None), contact_ledger.c.at > bindparam("since"))
    .order_by(contact_ledger.c.id))


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
    rows = await _CUSTOMERS[encrypted].rows(connection, ids=ids)
    if encrypted and connection.dialect.name != "postgresql":
        rows = [row._mapping for row in rows]  # read by column name, as asyncpg's records are
    return {row["customer_id"]: Customer(row["customer_id"], row["time_zone"], row["language"], row)
            for row in rows} if encrypted else {
        customer_id: Customer(customer_id, time_zone, language, None) for customer_id, time_zone, language in rows}


async def load_known(connection: AsyncConnection, customers: Iterable[Customer], now: datetime) -> dict[str, Known]:
    """Opt-outs, holds and the ledger window of every customer given, one query per table."""
    known = {customer.customer_id: Known(customer) for customer in customers}
    if not known:
        return known
    ids = list(known)
    opted_out: dict[str, set[str]] = {}
    for customer_id, channel in await _OPTED_OUT.rows(connection, ids=ids):
        opted_out.setdefault(customer_id, set()).add(channel)
    for customer_id, channels in opted_out.items():
        known[customer_id].opted_out = frozenset(channels)
    for customer_id, hold, until in await _HOLDS.rows(connection, ids=ids):
        known[customer_id].holds[hold] = as_utc(until) if until else None
    for customer_id, at, channel, outcome, recipient in await _LEDGER.rows(connection, ids=ids,
                                                                          since=now - LOOK_BACK):
        known[customer_id].attempts.append(Attempt(as_utc(at), channel, outcome, recipient))
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
