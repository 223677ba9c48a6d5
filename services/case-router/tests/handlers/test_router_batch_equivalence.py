"""A run of delinquency events handled at once gives what handling them one at a time gives.

Generated business days (seeded): cases opened, stage moves, promises kept and broken,
hardship holds that lapse, disputes, plans broken and completed, cures and payments
(runs of several of each),
corrections, stale days and the same account several times in one run. Each day goes
once through the consumer's batching (runs of the same type to the batch handler, in one
transaction) and once one event per transaction; both databases must end up the same
and the same events must be emitted, in the same order per key, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update

import case_router
from case_router import casebook, judgement
from case_router.domain.plans import Instalment, RepaymentPlan
from case_router.domain.promises import PromiseToPay
from case_router.handlers import batch_handlers, handlers
from case_router.tables import (
    account_flags,
    case_actions,
    cases,
    contact_requests,
    credit_file,
    delinquency_days,
    holds,
    payments,
    placements,
    plans,
    promises,
    tasks,
    timeline,
)
from collections_core.clock import ControlledClock
from collections_core.codec import EventCodec, TypeRegistry, type_of
from collections_core.contracts.collections.v1 import contacts_pb2, delinquency_pb2
from collections_core.contracts.corebanking.v1 import payments_pb2
from collections_core.database import Database
from collections_core.migrations import upgrade
from collections_core.money import Money
from collections_core.tracing import TraceContext
from collections_core.unit_of_work import UnitOfWork
from collections_core.wire import date_to_proto, instant_to_proto
from router_handlers import STRATEGY
from support import events_by_key, runs_as_consumed

MIGRATIONS = Path(case_router.__file__).parent / "migrations"
CODEC = EventCodec(TypeRegistry.of_contracts(), "/test")
PER_EVENT = handlers(STRATEGY)
BATCH = batch_handlers(STRATEGY)
OUTCOMES = {type_of(kind) for kind in (contacts_pb2.ContactSent, contacts_pb2.ContactDelivered,
                                       contacts_pb2.ContactFailed, contacts_pb2.ContactDeferred,
                                       contacts_pb2.ContactBlocked)}
START = date(2026, 11, 2)
DAYS = 10
FLOORS = ((181, 8), (151, 7), (121, 6), (91, 5), (61, 4), (31, 3), (1, 2), (0, 1))
SEEDS = (1, 2, 3, 4)


@dataclass
class Day:
    on: date
    desk: list[tuple] = field(default_factory=list)  # (what, account, *details), applied before the events
    events: list = field(default_factory=list)  # protobuf messages in delivery order


def generate(seed: int) -> list[Day]:
    rng = random.Random(seed)
    accounts = [f"S{seed}-A{n}" for n in range(5)]
    dpd = {account: rng.choice((0, 3, 6, 25, 58, 88)) for account in accounts}
    planned: set[str] = set()
    days = []
    for offset in range(DAYS):
        on = START + timedelta(days=offset)
        day = Day(on)
        for account in accounts:
            roll = rng.random()
            if account in planned and roll < 0.2:
                day.desk.append(("plan-paid-up", account))
                planned.discard(account)
            elif roll < 0.35:
                due = on + timedelta(days=rng.randint(0, 3))
                day.desk.append(("promise", account, rng.randint(5_000, 40_000), due))
            elif roll < 0.45:
                day.desk.append(("hardship", account, on + timedelta(days=rng.randint(0, 2))))
            elif roll < 0.5:
                day.desk.append(("dispute", account))
            elif roll < 0.62 and offset < 4:
                day.desk.append(("plan", account, on + timedelta(days=rng.randint(0, 1))))
                planned.add(account)
        for account in accounts:
            dpd[account] = dpd[account] + rng.choice((1, 1, 1, 12, 35)) if dpd[account] else rng.choice((0, 4))
        order = accounts[:]
        rng.shuffle(order)
        posted = []  # the day's payments reach the router together, before the close
        for account in order:
            if rng.random() < 0.12:
                posted.append(payment(account, on, rng.randint(5_000, 40_000)))
            if rng.random() < 0.08:
                day.events.append(delinquency_pb2.AccountCured(
                    account_id=account, customer_id=f"C-{account}", business_date=date_to_proto(on)))
                dpd[account] = 0
                continue
            kind = delinquency_pb2.AccountBecameDelinquent if rng.random() < 0.1 else delinquency_pb2.DelinquencyUpdated
            day.events.append(delinquency(kind, account, on, dpd[account]))
            if rng.random() < 0.3:  # the same account again in the run: replay, correction or a stale day
                again = rng.choice(("replay", "correction", "stale"))
                when = on - timedelta(days=1) if again == "stale" else on
                raised = dpd[account] + (rng.randint(5, 60) if again != "replay" else 0)
                day.events.append(delinquency(delinquency_pb2.DelinquencyUpdated, account, when, raised,
                                              correction=again == "correction"))
        day.events[:0] = posted
        days.append(day)
    return days


def delinquency(kind, account: str, on: date, dpd: int, correction: bool = False):
    message = kind(account_id=account, customer_id=f"C-{account}", business_date=date_to_proto(on),
                   state=delinquency_pb2.DelinquencyState(
                       dpd=dpd, bucket=next(v for floor, v in FLOORS if dpd >= floor),
                       past_due_amount=Money(50_000, "CNY").to_proto(), balance=Money(900_000, "CNY").to_proto()))
    if correction:
        message.correction = True
    return message


def payment(account: str, on: date, amount: int):
    return payments_pb2.PaymentPosted(account_id=account, payment_id=f"P-{uuid.uuid4().hex[:10]}",
                                      amount=Money(amount, "CNY").to_proto(), posted_on=date_to_proto(on),
                                      value_date=date_to_proto(on))


async def apply_desk(database: Database, clock: ControlledClock, day: Day, emitted: list) -> None:
    """What the agent desk does that morning, the same way on both databases."""
    for what, account, *details in day.desk:
        async with database.transaction() as connection:
            work = UnitOfWork(connection, CODEC, clock)
            case = await casebook.open_case_of(work, account)
            if case is None:
                continue
            today = casebook.business_day(work, case)
            key = f"{account}/{day.on}/{what}"
            if what == "promise":
                amount, due = details
                await judgement.take_promise(work, STRATEGY, case, PromiseToPay(amount, max(due, today), today),
                                             "agent-1", key)
            elif what == "hardship":
                await casebook.start_hold(work, case, "hardship", today, max(details[0], today), key)
            elif what == "dispute":
                await casebook.start_hold(work, case, "dispute", today, None, key)
            elif what == "plan":
                first = max(details[0], today)
                plan = RepaymentPlan("instalments", (Instalment(first, 20_000), Instalment(first + timedelta(days=2),
                                                                                             20_000)))
                await judgement.make_plan(work, case, plan, today, "agent-1", key)
            else:  # paid up by a route the router does not see: the day finds the plan completed
                await connection.execute(update(plans).where(plans.c.case_id == case.case_id,
                                                             plans.c.status == "active").values(paid_minor=40_000))
            emitted += work.records
            await work.flush()


async def handle_as_batch(database: Database, clock: ControlledClock, events: list, emitted: list,
                          runs: Counter) -> None:
    """As the consumer does with a poll batch: one transaction, consecutive events of a
    batch-handled type in one call."""
    decoded = [decode(message) for message in events]
    async with database.transaction() as connection:
        now = clock.now()
        for run in runs_as_consumed(decoded, BATCH):
            event = run[0]
            if event.type in BATCH:
                work = UnitOfWork(connection, CODEC, clock, cause=run[0] if len(run) == 1 else None, now=now)
                await BATCH[event.type](run, work)
                runs[f"{event.type.rsplit('.', 1)[1]} runs of several"] += len(run) > 1
                if event.type in OUTCOMES:
                    requests = Counter(e.message.request_id for e in run)
                    runs["outcome runs"] += 1
                    runs["outcome runs with a request twice"] += any(n > 1 for n in requests.values())
                else:
                    accounts = Counter(e.message.account_id for e in run)
                    runs["runs"] += 1
                    runs["runs with an account twice"] += any(n > 1 for n in accounts.values())
            else:
                work = UnitOfWork(connection, CODEC, clock, cause=event, now=now)
                await PER_EVENT[event.type](event, work)
            emitted += work.records
            await work.flush()


async def handle_one_at_a_time(database: Database, clock: ControlledClock, events: list, emitted: list) -> None:
    for event in map(decode, events):
        async with database.transaction() as connection:
            work = UnitOfWork(connection, CODEC, clock, cause=event)
            if event.type in BATCH:
                await BATCH[event.type]([event], work)
            else:
                await PER_EVENT[event.type](event, work)
            emitted += work.records
            await work.flush()


def with_outcomes(rng: random.Random, on: date, events: list, requested: list) -> list:
    """The day's events with the notifier's outcomes of the requests made the day before
    (and of one it never had from the router) slipped in among them: none yet for some
    (a case may close and cancel them), several for others."""
    at = instant_to_proto(datetime.combine(on, datetime.min.time(), UTC) + timedelta(hours=3))
    outcomes = []
    for request_id, channel in requested + [(f"reminder-{on}", contacts_pb2.CHANNEL_SMS)]:
        story = rng.choice(((), (), (contacts_pb2.ContactSent, contacts_pb2.ContactDelivered),
                            (contacts_pb2.ContactDeferred, contacts_pb2.ContactSent, contacts_pb2.ContactDelivered),
                            (contacts_pb2.ContactSent, contacts_pb2.ContactFailed), (contacts_pb2.ContactBlocked,),
                            (contacts_pb2.ContactDelivered,)))
        for kind in story:
            outcome = kind(request_id=request_id, channel=channel)
            if kind in (contacts_pb2.ContactDeferred, contacts_pb2.ContactBlocked):
                outcome.rule = "quiet-hours"
            if kind is contacts_pb2.ContactDelivered and rng.random() < 0.7:
                outcome.delivered_at.CopyFrom(at)
            outcomes.append(outcome)
    mixed, rest = [], list(events)
    while outcomes or rest:  # each list keeps its order; runs of outcomes of every length
        source = outcomes if outcomes and (not rest or rng.random() < 0.5) else rest
        take = rng.randint(1, 4)
        mixed += source[:take]
        del source[:take]
    return mixed


def requests_made(records: list) -> list[tuple[str, int]]:
    return [(event.message.request_id, event.message.channel)
            for event in (CODEC.decode(record.headers, record.value) for record in records)
            if event.type == type_of(contacts_pb2.ContactRequested)]


def decode(message):
    key = getattr(message, "account_id", "") or message.request_id
    headers, value = CODEC.encode(message, key, datetime(2026, 11, 2, tzinfo=UTC), TraceContext.new())
    return CODEC.decode(headers, value)


def by_key(records: list) -> dict:
    return events_by_key(records, CODEC)


async def state(database: Database) -> dict:
    found = {}
    async with database.engine.connect() as connection:
        for table in (cases, case_actions, contact_requests, tasks, holds, account_flags, promises, plans, payments,
                      placements, delinquency_days):
            rows = (await connection.execute(select(table))).all()
            found[table.name] = sorted((tuple(row) for row in rows), key=repr)
        for table in (timeline, credit_file):
            per_case = defaultdict(list)
            for row in (await connection.execute(select(table).order_by(table.c.id))).all():
                per_case[row.case_id].append(tuple(row)[1:])  # without the generated id
            found[table.name] = dict(per_case)
    return found


async def test_a_run_at_once_equals_one_event_at_a_time(database_url, twin_url):
    batched, alone = Database(database_url), Database(twin_url)
    await upgrade(batched, MIGRATIONS)
    await upgrade(alone, MIGRATIONS)
    emitted_batched, emitted_alone, runs = [], [], Counter()
    try:
        for seed in SEEDS:
            rng, requested = random.Random(seed), []
            for day in generate(seed):
                clock = ControlledClock(datetime.combine(day.on, datetime.min.time(), UTC) + timedelta(hours=2))
                await apply_desk(batched, clock, day, emitted_batched)
                await apply_desk(alone, clock, day, emitted_alone)
                events = with_outcomes(rng, day.on, day.events, requested)
                made_before = len(emitted_alone)
                await handle_as_batch(batched, clock, events, emitted_batched, runs)
                await handle_one_at_a_time(alone, clock, events, emitted_alone)
                requested = requests_made(emitted_alone[made_before:])
        assert await state(batched) == await state(alone)
        assert by_key(emitted_batched) == by_key(emitted_alone)
        # The generated days reached what they are meant to reach.
        kinds = Counter(event.rsplit(".", 1)[1] for events in by_key(emitted_alone).values() for event, _ in events)
        final = await state(alone)
        entries = Counter(row[2] for rows in final["case_timeline"].values() for row in rows)
        behaviours = Counter(row[3] for rows in final["credit_file"].values() for row in rows)
        async with alone.engine.connect() as connection:
            final_requests = (await connection.execute(select(contact_requests))).all()
            final_cases = (await connection.execute(select(cases))).all()
    finally:
        await batched.dispose()
        await alone.dispose()
    for kind in ("CaseOpened", "StageChanged", "ContactRequested", "PlacementRequested", "CreditBehaviourRecorded",
                 "CaseClosed", "ContactCancelled"):
        assert kinds[kind] > 0, kind
    for entry in ("hold-ended", "promise-kept", "promise-broken", "plan-completed", "plan-broken", "case-closed"):
        assert entries[entry] > 0, entry
    assert behaviours["cured"] > 0 and behaviours["plan-completed"] > 0
    for entry in ("contact-sent", "contact-delivered", "contact-failed", "contact-deferred", "contact-blocked"):
        assert entries[entry] > 0, entry
    statuses = Counter(row.status for row in final_requests)
    assert statuses["cancelled"] > 0 and statuses["delivered"] > 0 and statuses["failed"] > 0
    assert any(case.pre_notice_delivered_on for case in final_cases), "a delivered pre-notice reached its case"
    assert runs["outcome runs with a request twice"] > 0 and runs["outcome runs"] > 0
    assert runs["AccountCured runs of several"] > 0 and runs["PaymentPosted runs of several"] > 0
    assert runs["runs with an account twice"] > 0 and runs["runs"] > runs["runs with an account twice"]
