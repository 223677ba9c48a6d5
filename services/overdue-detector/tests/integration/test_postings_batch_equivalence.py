"""A run of postings applied at once gives what applying them one at a time gives.

Generated business days (seeded): accounts opened, some days after their first
postings (held, then released), statements (some issued late, before the last aged
day), payments partial and full (cures at once and by the aging), payments valued
before the last aged day (restatements), re-deliveries of payments and statements (in
the same poll batch too), reversals, status changes, and bad postings (another currency, a payment
id re-used for other facts, a reversal of an unknown payment). Each day's closes are
aged between poll batches, some a day late. Every poll batch goes once through the
consumer's batching (runs of postings to the batch handler, one transaction; a
Rejected posting re-runs the batch one event per transaction, so it alone is
dead-lettered) and once one event per transaction; both databases must end up the
same and the same events must be emitted, in the same order per key, on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

import overdue_detector
from collections_core.clock import ControlledClock
from collections_core.codec import Event, EventCodec, Rejected, TypeRegistry, type_of
from collections_core.contracts.corebanking.v1 import accounts_pb2, payments_pb2, statements_pb2
from collections_core.database import Database
from collections_core.migrations import upgrade
from collections_core.money import Money
from collections_core.tracing import TraceContext
from collections_core.unit_of_work import UnitOfWork, unit_of_work_factory
from collections_core.wire import date_to_proto
from overdue_detector import business_days
from overdue_detector.domain import DelinquencyPolicy
from overdue_detector.handlers import Detector
from overdue_detector.tables import metadata
from support import events_by_key

pytestmark = pytest.mark.integration

MIGRATIONS = Path(overdue_detector.__file__).parent / "migrations"
CODEC = EventCodec(TypeRegistry.of_contracts(), "/test")
POLICY = DelinquencyPolicy()
DETECTOR = Detector(POLICY)
PER_EVENT = DETECTOR.handlers()
BATCH = DETECTOR.batch_handlers()
START = date(2026, 10, 1)
DAYS = 24
SEEDS = (1, 2, 3, 4)
OPENED = type_of(accounts_pb2.AccountOpened)
PAID, REVERSED = type_of(payments_pb2.PaymentPosted), type_of(payments_pb2.PaymentReversed)
STATUSES = (accounts_pb2.ACCOUNT_STATUS_BLOCKED, accounts_pb2.ACCOUNT_STATUS_OPEN, accounts_pb2.ACCOUNT_STATUS_CLOSED)


@dataclass
class Day:
    on: date
    polls: list[list[Event]] = field(default_factory=list)  # the day's poll batches, in order
    aged_late: bool = False  # the day's close is aged only after the next day's postings


class Generator:
    """One seed's accounts and what core banking sends about them, day by day."""

    def __init__(self, seed: int) -> None:
        self.seed, self.rng = seed, random.Random(seed)
        self.accounts = [f"S{seed}-A{n}" for n in range(8)]
        rng = self.rng
        self.opens_on = {account: 0 for account in self.accounts}
        for account in rng.sample(self.accounts, 2):
            self.opens_on[account] = rng.randint(2, 9)
        self.cycle_offset = {account: rng.randint(0, 6) for account in self.accounts}
        self.pays = {account: rng.choice((0.15, 0.3, 0.55)) for account in self.accounts}
        self.paid: dict[str, list] = defaultdict(list)
        self.sent = 0

    def days(self) -> list[Day]:
        # Each seed's days after the last one's: a day is aged once.
        first = START + timedelta(days=(DAYS + 7) * SEEDS.index(self.seed))
        return [self.day(first + timedelta(days=offset), offset) for offset in range(DAYS)]

    def day(self, on: date, offset: int) -> Day:
        rng = self.rng
        streams = []
        for account in self.accounts:
            opened = offset >= self.opens_on[account]
            stream = [message for _ in range(rng.choice((0, 1, 1, 2, 3)))
                      for message in self.postings(account, on, opened)]
            if (offset - self.cycle_offset[account]) % 8 == 0:
                statement = self.statement(account, on)
                for _ in range(1 + (rng.random() < 0.15)):  # sometimes re-delivered in the same batch
                    stream.insert(rng.randint(0, len(stream)), statement)
            if offset == self.opens_on[account]:
                # Opened on its first day before anything else; a late opener among the day's postings.
                stream.insert(0 if offset == 0 else rng.randint(0, len(stream)), accounts_pb2.AccountOpened(
                    account_id=account, customer_id=f"C-{account}", currency="CNY",
                    credit_limit=Money(5_000_000, "CNY").to_proto(), opened_on=date_to_proto(on)))
            streams.append(stream)
        merged = []  # each account's postings keep their order (one partition per account)
        while any(streams):
            stream = rng.choice([s for s in streams if s])
            take = rng.randint(1, 3)
            merged += stream[:take]
            del stream[:take]
        events = [self.event(message) for message in merged]
        cuts = sorted(rng.sample(range(1, len(events)), min(len(events) - 1, rng.randint(0, 2)))) if events else []
        polls = [events[a:b] for a, b in zip([0, *cuts], [*cuts, len(events)]) if events[a:b]]
        return Day(on, polls, aged_late=rng.random() < 0.25)

    def postings(self, account: str, on: date, opened: bool) -> list:
        rng, paid = self.rng, self.paid[account]
        roll = rng.random()
        if roll < self.pays[account]:
            backdated = rng.random() < 0.25
            value = on - timedelta(days=rng.randint(1, 6)) if backdated else on
            message = payment(account, f"{account}-P{len(paid)}", rng.choice((2_000, 5_000, 12_000, 25_000, 80_000)),
                              value, on)
            paid.append(message)
            then = rng.random()
            if then < 0.1:
                return [message, message]  # re-delivered in the same batch
            if then < 0.2:  # returned the same day: a cure at once undone in the same run
                return [message, payments_pb2.PaymentReversed(account_id=account, payment_id=message.payment_id,
                                                              reversed_on=date_to_proto(on), reason="returned")]
            if then < 0.3:  # paid twice, the second after the first may have cured the account
                paid.append(payment(account, f"{account}-P{len(paid)}", 1_000, on, on))
                return [message, paid[-1]]
            return [message]
        roll = rng.random()
        if roll < 0.2 and paid:
            return [rng.choice(paid)]  # a re-delivery of an earlier payment
        if roll < 0.35 and paid:
            reversed_ = rng.choice(paid)
            return [payments_pb2.PaymentReversed(account_id=account, payment_id=reversed_.payment_id,
                                                 reversed_on=date_to_proto(on), reason="returned")]
        if roll < 0.45 and opened:  # (before its account, a status change is rejected)
            effective = on - timedelta(days=rng.choice((0, 0, 3)))
            status = accounts_pb2.ACCOUNT_STATUS_CHARGED_OFF if rng.random() < 0.05 else rng.choice(STATUSES)
            change = accounts_pb2.AccountStatusChanged(account_id=account, status=status,
                                                       effective_on=date_to_proto(effective))
            return [change, change] if rng.random() < 0.3 else [change]
        if roll < 0.5:
            late = self.statement(account, on - timedelta(days=rng.randint(2, 6)), late=True)
            if rng.random() < 0.5:
                return [late]
            # and a payment restating the days the late statement restated, in the same run
            paid.append(payment(account, f"{account}-P{len(paid)}", rng.choice((3_000, 30_000)),
                                on - timedelta(days=rng.randint(1, 3)), on))
            return [late, paid[-1]]
        if roll < 0.505 and paid:  # an id re-used for other facts: rejected
            earlier = rng.choice(paid)
            return [payment(account, earlier.payment_id, earlier.amount.amount_minor + 1, on, on)]
        if roll < 0.51:  # another currency: rejected
            return [payment(account, f"{account}-USD{rng.randint(0, 10**6)}", 5_000, on, on, currency="USD")]
        if roll < 0.515:
            return [payments_pb2.PaymentReversed(account_id=account, payment_id=f"{account}-NEVER",
                                                 reversed_on=date_to_proto(on), reason="returned")]
        return []

    def statement(self, account: str, cycle: date, late: bool = False):
        rng = self.rng
        statement_id = f"{account}-S{cycle.isoformat()}{'-late' if late else ''}-{rng.randint(0, 99)}"
        return statements_pb2.StatementIssued(
            account_id=account, statement_id=statement_id, cycle_date=date_to_proto(cycle),
            due_date=date_to_proto(cycle + timedelta(days=5)),
            statement_balance=Money(rng.randint(0, 900_000), "CNY").to_proto(),
            minimum_due=Money(rng.choice((0, 5_000, 12_000, 20_000)), "CNY").to_proto())

    def event(self, message) -> Event:
        self.sent += 1
        headers, value = CODEC.encode(message, message.account_id, datetime(2026, 10, 1, tzinfo=UTC),
                                      TraceContext.new(), f"e-{self.seed}-{self.sent}")
        return CODEC.decode(headers, value)


def payment(account: str, payment_id: str, amount: int, value: date, posted: date, currency: str = "CNY"):
    return payments_pb2.PaymentPosted(account_id=account, payment_id=payment_id,
                                      amount=Money(amount, currency).to_proto(), posted_on=date_to_proto(posted),
                                      value_date=date_to_proto(value))


def runs_of(events: list[Event]) -> list[list[Event]]:
    """As the consumer cuts a poll batch: consecutive postings share a run, any other event is alone."""
    runs: list[list[Event]] = []
    for event in events:
        if event.type in BATCH and runs and runs[-1][0].type in BATCH:
            runs[-1].append(event)
        else:
            runs.append([event])
    return runs


async def handle_as_batch(database: Database, clock: ControlledClock, events: list[Event], emitted: list,
                          last_aged: date | None, seen: Counter) -> None:
    """As the consumer does with a poll batch: one transaction, each run of postings in
    one call; a Rejected one makes it re-run each event in its own transaction."""
    records = []
    try:
        async with database.transaction() as connection:
            now = clock.now()
            for run in runs_of(events):
                work = UnitOfWork(connection, CODEC, clock, cause=run[0] if len(run) == 1 else None, now=now)
                if run[0].type in BATCH:
                    await BATCH[run[0].type](run, work)
                else:
                    await PER_EVENT[run[0].type](run[0], work)
                records += work.records
                await work.flush()
                if len(run) > 1:
                    accounts = Counter(event.message.account_id for event in run)
                    seen["runs of several"] += 1
                    seen["runs with an account twice"] += any(n > 1 for n in accounts.values())
                    seen["runs reversing a payment of the run"] += _reverses_its_own_payment(run)
                    seen["runs with a posting on or before the last aged day"] += last_aged is not None and any(
                        _valued(event) <= last_aged for event in run if _valued(event) is not None)
    except Rejected:
        seen["poll batches re-run one event at a time"] += 1
        await handle_one_at_a_time(database, clock, events, emitted, seen)
        return
    emitted += records


async def handle_one_at_a_time(database: Database, clock: ControlledClock, events: list[Event], emitted: list,
                               seen: Counter) -> None:
    """One event per transaction; a posting is a run of one, as the consumer hands it alone."""
    for event in events:
        try:
            async with database.transaction() as connection:
                work = UnitOfWork(connection, CODEC, clock, cause=event)
                if event.type in BATCH:
                    await BATCH[event.type]([event], work)
                else:
                    await PER_EVENT[event.type](event, work)
                records = list(work.records)
                await work.flush()
        except Rejected:
            seen["rejected"] += 1  # the runtime dead-letters it
            continue
        emitted += records


def _reverses_its_own_payment(run: list[Event]) -> bool:
    posted = set()
    for event in run:
        if event.type == PAID:
            posted.add(event.message.payment_id)
        elif event.type == REVERSED and event.message.payment_id in posted:
            return True
    return False


def _valued(event: Event) -> date | None:
    message = event.message
    field_name = {"StatementIssued": "cycle_date", "PaymentPosted": "value_date"}.get(event.type.rsplit(".", 1)[1])
    if field_name is None:
        return None
    value = getattr(message, field_name)
    return date(value.year, value.month, value.day)


async def age(database: Database, clock: ControlledClock, day: date, emitted: list) -> None:
    units = unit_of_work_factory(database, CODEC, clock, lambda stored: emitted.extend(r for _, r in stored))
    await business_days.age_business_day(units, database.reading, day, POLICY, "overdue-detector")


def by_key(records: list) -> dict:
    return events_by_key(records, CODEC)


async def state(database: Database) -> dict:
    """Every table of the detector, rows in a canonical order (generated ids kept: they order same-day changes)."""
    async with database.engine.connect() as connection:
        return {table.name: sorted((tuple(row) for row in (await connection.execute(select(table))).all()), key=repr)
                for table in metadata.sorted_tables}


async def test_a_run_of_postings_at_once_equals_one_posting_at_a_time(database_url, twin_url):
    batched, alone = Database(database_url), Database(twin_url)
    await upgrade(batched, MIGRATIONS)
    await upgrade(alone, MIGRATIONS)
    emitted_batched, emitted_alone, seen, seen_alone, opened = [], [], Counter(), Counter(), set()
    try:
        for seed in SEEDS:
            waiting: list[date] = []  # closed days not aged yet
            last_aged = None
            for day in Generator(seed).days():
                clock = ControlledClock(datetime.combine(day.on, datetime.min.time(), UTC) + timedelta(hours=20))
                for poll in day.polls:
                    for event in poll:
                        if event.type == OPENED:
                            opened.add(event.message.account_id)
                        seen["postings held"] += event.type in BATCH and event.message.account_id not in opened
                    await handle_as_batch(batched, clock, poll, emitted_batched, last_aged, seen)
                    await handle_one_at_a_time(alone, clock, poll, emitted_alone, seen_alone)
                waiting.append(day.on)
                if not day.aged_late:
                    for closed in waiting:  # between poll batches, oldest first
                        await age(batched, clock, closed, emitted_batched)
                        await age(alone, clock, closed, emitted_alone)
                    last_aged, waiting = waiting[-1], []
        assert await state(batched) == await state(alone)
        assert by_key(emitted_batched) == by_key(emitted_alone)
        final = await state(alone)
    finally:
        await batched.dispose()
        await alone.dispose()
    # The generated days reached what they are meant to reach.
    events = [event for found in by_key(emitted_alone).values() for event in found]
    kinds = Counter(kind.rsplit(".", 1)[1] for kind, _ in events)
    for kind in ("AccountBecameDelinquent", "DelinquencyUpdated", "AccountCured", "PaymentDueSoon"):
        assert kinds[kind] > 0, kind
    assert any("correction: true" in message for kind, message in events), "a restated day"
    assert any(kind.endswith("AccountCured") and "payment_id" in message for kind, message in events), "cured at once"
    assert seen["runs of several"] > 0 and seen["runs with an account twice"] > 0
    assert seen["runs with a posting on or before the last aged day"] > 0
    assert seen["runs reversing a payment of the run"] > 0
    assert seen["poll batches re-run one event at a time"] > 0 and seen_alone["rejected"] > 0
    assert seen["postings held"] > 0
    assert len(final["ledger_accounts"]) == 8 * len(SEEDS) and not final["held_postings"]
    assert any(row[2] == "charged_off" for row in final["ledger_status_changes"])
    assert any(row[5] for row in final["ledger_payments"]), "a reversal"
