"""A run of payments and recalls handled at once gives what handling them one at a time gives.

Generated rounds (seeded): placements requested to partners in several regions (one
partner has no webhook URL; some accounts are placed twice; some placements end their
term early), payments in and out of placement and in another currency, payment ids seen
twice (in one run and across rounds), reversals, recalls of open, ended and unknown
placements, the same placement recalled twice in a run, and an account's payment, its
recall and its next payment in one poll batch. Each round goes once through the
consumer's batching (runs of a batch-handled type to the batch handler, the poll batch in
one transaction; a rejected event makes the runtime re-run each event alone) and once
one event per transaction. Both databases must end up the same, the same events must be
emitted in the same order per key, the same webhooks queued in the same order per
partner, the same events rejected and the same metrics counted, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import agency_gateway
from agency_gateway import metrics, webhook_queue
from agency_gateway.cipher import Keyring
from agency_gateway.handlers import Gateway
from agency_gateway.partners import PartnerTerms, register
from agency_gateway.settings import GatewaySettings
from agency_gateway.tables import payment_attributions, placements, webhook_deliveries
from collections_core.clock import ControlledClock
from collections_core.codec import EventCodec, Rejected, TypeRegistry
from collections_core.contracts.collections.v1 import placements_pb2
from collections_core.contracts.corebanking.v1 import payments_pb2
from collections_core.database import Database
from collections_core.migrations import upgrade
from collections_core.money import Money
from collections_core.tracing import TraceContext
from collections_core.unit_of_work import UnitOfWork
from collections_core.wire import date_to_proto
from sqlalchemy import select
from support import events_by_key, runs_as_consumed

MIGRATIONS = Path(agency_gateway.__file__).parent / "migrations"
CODEC = EventCodec(TypeRegistry.of_contracts(), "/test")
KEYRING = Keyring(None)
PARTNERS = (
    PartnerTerms("AG-EAST", "East Ltd", "agency", ("Shanghai", "Hangzhou"), 5, 1_500, "CT-E",
                 webhook_url="http://127.0.0.1:9/east"),
    PartnerTerms("AG-NORTH", "North Ltd", "agency", ("Beijing", "Shanghai"), 5, 1_200, "CT-N",
                 webhook_url="http://127.0.0.1:9/north"),
    PartnerTerms("AG-SILENT", "Silent Ltd", "agency", ("*",), 5, 1_800, "CT-S"),  # no webhook URL
)
REGIONS = ("Shanghai", "Beijing", "Hangzhou", "Shenzhen")
REASONS = ("cured", "cured", "dispute", "hardship", "complaint", "operations", "a-reason-nobody-expects")
SEEDS = (1, 2, 3)
ROUNDS = 6
START = date(2026, 11, 2)


class TickingWall:
    """The queue's wall clock, a millisecond later at each reading: each side's deliveries
    are then ordered exactly as they were queued."""

    def __init__(self) -> None:
        self.at = datetime(2030, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        self.at += timedelta(milliseconds=1)
        return self.at


def generate(seed: int) -> list[tuple[date, list]]:
    """Rounds of (business day, events in delivery order)."""
    rng = random.Random(seed)
    accounts = [f"S{seed}-A{n}" for n in range(7)]
    placed: dict[str, list[str]] = defaultdict(list)  # account → its placement ids, as requested
    paid: list[tuple[str, str]] = []  # (account, payment id) posted so far
    rounds = []
    for number in range(ROUNDS):
        on = START + timedelta(days=10 * seed + number)
        events: list = []

        def place(account: str) -> None:
            placement_id = f"S{seed}-PL{number}-{len(events)}"
            message = placements_pb2.PlacementRequested(
                placement_id=placement_id, case_id=f"K-{placement_id}", account_id=account,
                customer_id=f"C-{account}", kind=placements_pb2.PLACEMENT_KIND_AGENCY,
                amount=Money(rng.randint(50_000, 300_000), "CNY").to_proto(), dpd=95, region=rng.choice(REGIONS))
            if rng.random() < 0.25:  # the router asks for an early end: the expiry check recalls it
                message.expires_on.CopyFrom(date_to_proto(on + timedelta(days=rng.randint(0, 2))))
            placed[account].append(placement_id)
            events.append(message)

        def pay(account: str) -> None:
            if paid and rng.random() < 0.15:  # a payment id seen before: attributed once
                account, payment_id = rng.choice(paid)
            else:
                payment_id = f"S{seed}-P{number}-{len(events)}"
            currency = "USD" if rng.random() < 0.15 else "CNY"
            paid.append((account, payment_id))
            amount = Money(rng.randint(1_000, 40_000), currency).to_proto()
            events.append(payments_pb2.PaymentPosted(account_id=account, payment_id=payment_id, amount=amount,
                                                     posted_on=date_to_proto(on), value_date=date_to_proto(on)))

        def recall(account: str) -> None:
            if not placed[account]:
                return
            placement_id = placed[account][-1] if rng.random() < 0.7 else rng.choice(placed[account])
            for _ in range(2 if rng.random() < 0.3 else 1):  # sometimes the same placement twice in a row
                events.append(placements_pb2.RecallRequested(placement_id=placement_id, account_id=account,
                                                             reason=rng.choice(REASONS)))

        def reverse() -> None:
            if paid:
                account, payment_id = rng.choice(paid)
                events.append(payments_pb2.PaymentReversed(account_id=account, payment_id=payment_id,
                                                           reversed_on=date_to_proto(on), reason="returned"))

        if number == 0:
            for account in accounts:
                place(account)
        for _ in range(rng.randint(3, 6)):  # segments of one kind: runs of every length
            kind = rng.choice(("place", "pay", "pay", "recall", "recall", "reverse", "story"))
            for _ in range(rng.randint(1, 4)):
                account = rng.choice(accounts)
                if kind == "place":
                    place(account)
                elif kind == "pay":
                    pay(account)
                elif kind == "recall":
                    recall(account)
                elif kind == "reverse":
                    reverse()
                else:  # an account paid, its placement recalled, paid again
                    pay(account)
                    recall(account)
                    pay(account)
        if number in (2, 4) and seed != 2:  # a recall of a placement never requested: rejected
            events.insert(rng.randint(0, len(events)), placements_pb2.RecallRequested(
                placement_id=f"S{seed}-NEVER-{number}", account_id=accounts[0], reason="cured"))
        rounds.append((on, events))
    return rounds


def decode(message):
    headers, value = CODEC.encode(message, message.account_id, datetime(2026, 11, 2, tzinfo=UTC),
                                  TraceContext.new())
    return CODEC.decode(headers, value)


def name_of(event) -> str:
    return event.type.rsplit(".", 1)[1]


async def expire(database: Database, gateway: Gateway, clock: ControlledClock, emitted: list) -> None:
    """The expiry check at the start of the day, the same way on both databases."""
    async with database.transaction() as connection:
        work = UnitOfWork(connection, CODEC, clock)
        await gateway.recall_expired(work)
        emitted += work.records
        await work.flush()


async def handle_as_batch(database: Database, gateway: Gateway, clock: ControlledClock, events: list,
                          emitted: list, rejected: list, runs: Counter, wasted: Counter) -> None:
    """As the consumer does with a poll batch: one transaction, consecutive events of a
    batch-handled type in one call; a rejection re-runs each event alone."""
    batch, single = gateway.batch_handlers(), gateway.handlers()
    decoded = [decode(message) for message in events]
    before = counted(gateway.service)
    records: list = []
    seen = Counter()  # the runs of this poll batch, counted if it is handled at once
    try:
        async with database.transaction() as connection:
            now = clock.now()
            for run in runs_as_consumed(decoded, batch):
                event = run[0]
                if event.type in batch:
                    work = UnitOfWork(connection, CODEC, clock, cause=run[0] if len(run) == 1 else None, now=now)
                    await batch[event.type](run, work)
                    note_run(seen, run)
                else:
                    work = UnitOfWork(connection, CODEC, clock, cause=event, now=now)
                    await single[event.type](event, work)
                records += work.records
                await work.flush()
    except Rejected:
        # Counters do not roll back with the transaction: what the rolled-back attempt
        # counted is the runtime's (it re-runs the batch), not the handlers'.
        wasted.update(counted(gateway.service) - before)
        runs["batches re-run alone"] += 1
        await handle_one_at_a_time(database, gateway, clock, events, emitted, rejected)
        return
    runs["batches at once"] += 1
    runs.update(seen)
    emitted += records


def note_run(runs: Counter, run: list) -> None:
    kind = name_of(run[0])
    runs[f"{kind} runs"] += 1
    runs[f"{kind} runs of several"] += len(run) > 1
    if kind == "RecallRequested":
        runs["recall runs with a placement twice"] += has_twice(e.message.placement_id for e in run)
    else:
        runs["payment runs with an account twice"] += has_twice(e.message.account_id for e in run)
        runs["payment runs with a payment id twice"] += has_twice(e.message.payment_id for e in run)


def has_twice(values) -> bool:
    return any(count > 1 for count in Counter(values).values())


async def handle_one_at_a_time(database: Database, gateway: Gateway, clock: ControlledClock, events: list,
                               emitted: list, rejected: list) -> None:
    for event in map(decode, events):
        try:
            async with database.transaction() as connection:
                work = UnitOfWork(connection, CODEC, clock, cause=event)
                await gateway.handlers()[event.type](event, work)
                records = list(work.records)
                await work.flush()
        except Rejected as rejection:
            rejected.append((name_of(event), str(event.message), str(rejection)))
            continue
        emitted += records


def counted(service: str) -> Counter:
    """The gateway's payment and recall counters for ``service``, without the service label."""
    found = Counter()
    for metric in (metrics.RECALLS, metrics.RECOVERED, metrics.RECOVERY_REVERSED):
        for family in metric.collect():
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.labels["service"] == service:
                    labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "service"))
                    found[sample.name, labels] += sample.value
    return found


def by_key(records: list) -> dict:
    return events_by_key(records, CODEC)


async def state(database: Database) -> dict:
    async with database.reading() as connection:
        rows = (await connection.execute(select(placements).order_by(placements.c.placement_id))).all()
        found = {"placements": [tuple(row) for row in rows]}
        rows = (await connection.execute(select(payment_attributions).order_by(payment_attributions.c.id))).all()
        found["payment_attributions"] = [tuple(row)[1:] for row in rows]  # without the generated id
        queued = defaultdict(list)
        for row in (await connection.execute(select(webhook_deliveries).order_by(
                webhook_deliveries.c.created_at))).all():
            body = json.loads(row.body)
            assert body.pop("id") == row.delivery_id
            queued[row.partner_id].append((row.event_type, body, row.status, row.attempts))
        found["webhook_deliveries"] = dict(queued)
    return found


async def test_a_run_at_once_equals_one_event_at_a_time(database_url, twin_url, monkeypatch):
    monkeypatch.setattr(webhook_queue, "WALL", TickingWall())
    suffix = uuid.uuid4().hex[:8]  # counters are process-wide: each side its own service label
    batched = Gateway(GatewaySettings(service_name=f"gw-batched-{suffix}", challenger_percent=30), KEYRING)
    alone = Gateway(GatewaySettings(service_name=f"gw-alone-{suffix}", challenger_percent=30), KEYRING)
    batched_db, alone_db = Database(database_url), Database(twin_url)
    emitted_batched, emitted_alone, rejected_batched, rejected_alone = [], [], [], []
    runs, wasted, sent = Counter(), Counter(), Counter()
    try:
        for database in (batched_db, alone_db):
            await upgrade(database, MIGRATIONS)
            async with database.transaction() as connection:
                for terms in PARTNERS:
                    await register(connection, KEYRING, terms, datetime(2026, 11, 1, tzinfo=UTC))
        for seed in SEEDS:
            for on, events in generate(seed):
                clock = ControlledClock(datetime.combine(on, datetime.min.time(), UTC) + timedelta(hours=2))
                await expire(batched_db, batched, clock, emitted_batched)
                await expire(alone_db, alone, clock, emitted_alone)
                await handle_as_batch(batched_db, batched, clock, events, emitted_batched, rejected_batched, runs,
                                      wasted)
                await handle_one_at_a_time(alone_db, alone, clock, events, emitted_alone, rejected_alone)
                sent.update(f"{type(m).__name__} {m.amount.currency}" if hasattr(m, "amount") else type(m).__name__
                            for m in events)
        final = await state(alone_db)
        assert await state(batched_db) == final
        assert by_key(emitted_batched) == by_key(emitted_alone)
        assert rejected_batched == rejected_alone
        assert counted(batched.service) - wasted == counted(alone.service)
    finally:
        await batched_db.dispose()
        await alone_db.dispose()

    # The generated rounds reached what they are meant to reach.
    assert runs["batches at once"] > runs["batches re-run alone"] > 0
    assert [(name, "NEVER" in message) for name, message, _ in rejected_alone] == [("RecallRequested", True)] * 4
    for kind in ("PaymentPosted", "RecallRequested"):
        assert runs[f"{kind} runs of several"] > 0, kind
    assert runs["recall runs with a placement twice"] > 0
    assert runs["payment runs with an account twice"] > 0 and runs["payment runs with a payment id twice"] > 0
    assert sent["PaymentPosted USD"] > 0 and sent["PaymentReversed"] > 0
    column = {name: n for n, name in enumerate(placements.c.keys())}
    ended = Counter((row[column["status"]], row[column["end_reason"]]) for row in final["placements"])
    assert ended["recalled", "expired"] > 0 and ended["recalled", "cured"] > 0
    assert any(status == "unplaced" for status, _ in ended) and any(status == "placed" for status, _ in ended)
    silent = Counter(row[column["status"]] for row in final["placements"] if row[column["partner_id"]] == "AG-SILENT")
    assert silent["recalled"] > 0, "a partner without a webhook URL had placements recalled"
    webhooks = Counter(kind for queued in final["webhook_deliveries"].values() for kind, *_ in queued)
    assert webhooks["payment.posted"] > 0 and webhooks["placement.recalled"] > 0
    assert "AG-SILENT" not in final["webhook_deliveries"]
    attributed = Counter((row[1], row[3]) for row in final["payment_attributions"])  # (entry, partner)
    assert attributed["payment", "AG-SILENT"] > 0 and sum(n for (entry, _), n in attributed.items()
                                                         if entry == "reversal") > 0
