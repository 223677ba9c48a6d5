"""The router's handlers on a real SQLite database, one event per transaction as the consumer runs them."""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, update

import case_router
from case_router.handlers import batch_handlers
from case_router.tables import cases, holds, placements, tasks, timeline
from collections_core.clock import ControlledClock
from collections_core.codec import EventCodec, Rejected, TypeRegistry, type_of
from collections_core.contracts.collections.v1 import cases_pb2, contacts_pb2, delinquency_pb2, placements_pb2
from collections_core.contracts.corebanking.v1 import accounts_pb2, payments_pb2
from collections_core.money import Money
from collections_core.tracing import TraceContext
from collections_core.unit_of_work import UnitOfWork
from collections_core.wire import date_to_proto
from router_handlers import HANDLERS, STRATEGY

MIGRATIONS = Path(case_router.__file__).parent / "migrations"
CODEC = EventCodec(TypeRegistry.of_contracts(), "/t")
DAY = date(2026, 11, 2)
BATCH_HANDLERS = batch_handlers(STRATEGY)
BUCKETS = {1: 2, 31: 3, 61: 4, 91: 5, 121: 6, 151: 7, 181: 8}


def bucket(dpd: int) -> int:
    return max(v for k, v in BUCKETS.items() if dpd >= k)


def updated(dpd: int, day: date, account: str = "A-1", correction: bool = False, balance: int = 1_000_000):
    return delinquency_pb2.DelinquencyUpdated(
        account_id=account, customer_id="C-1", business_date=date_to_proto(day), correction=correction,
        state=delinquency_pb2.DelinquencyState(dpd=dpd, bucket=bucket(dpd),
                                               past_due_amount=Money(50_000, "CNY").to_proto(),
                                               balance=Money(balance, "CNY").to_proto()))


def types(emitted) -> list[str]:
    return [CODEC.decode(r.headers, r.value).type.rsplit(".", 1)[1] for r in emitted]


async def test_first_day_opens_one_case_with_sms_and_email_reminders(migrated_database, handle):
    database = await migrated_database(MIGRATIONS)
    emitted = await handle(database, HANDLERS, updated(4, DAY), key="A-1")
    assert types(emitted) == ["CaseOpened", "ContactRequested", "ContactRequested"]
    requests = [contacts_pb2.ContactRequested.FromString(r.value) for r in emitted[1:]]
    assert [r.template for r in requests] == ["overdue.sms", "overdue.email"]
    assert {r.key for r in emitted[1:]} == {b"C-1"}, "contact requests are keyed by customer"
    again = await handle(database, HANDLERS, updated(4, DAY), key="A-1")
    assert again == [], "the same business day twice emits nothing"
    await handle(database, HANDLERS, updated(5, DAY + timedelta(days=1)), key="A-1")
    async with database.engine.connect() as connection:
        assert (await connection.execute(select(func.count()).select_from(cases))).scalar() == 1


async def test_a_correction_that_raises_dpd_redecides_the_day(migrated_database, handle):
    database = await migrated_database(MIGRATIONS)
    await handle(database, HANDLERS, updated(4, DAY), key="A-1")
    emitted = await handle(database, HANDLERS, updated(9, DAY, correction=True), key="A-1")
    assert types(emitted) == ["StageChanged", "ContactRequested"]
    change = cases_pb2.StageChanged.FromString(emitted[0].value)
    assert (change.rule, change.strategy_id, change.strategy_version) == ("early.8-30", "default", 1)
    stale = await handle(database, HANDLERS, updated(40, DAY - timedelta(days=1)), key="A-1")
    assert stale == [], "an older day that is not a correction is stale"


async def test_cure_closes_the_case_cancels_contacts_and_recalls_the_placement(migrated_database, handle):
    database = await migrated_database(MIGRATIONS)
    await handle(database, HANDLERS, updated(4, DAY), key="A-1")
    emitted = await handle(database, HANDLERS, updated(95, DAY + timedelta(days=1)), key="A-1")
    assert "PlacementRequested" in types(emitted)
    cured = await handle(database, HANDLERS, delinquency_pb2.AccountCured(
        account_id="A-1", customer_id="C-1", business_date=date_to_proto(DAY + timedelta(days=2))), key="A-1")
    assert types(cured).count("ContactCancelled") == 3, "two reminders and the pre-notice were never sent"
    assert "RecallRequested" in types(cured) and types(cured)[-1] == "CaseClosed"
    async with database.engine.connect() as connection:
        waiting = (await connection.execute(select(tasks.c.kind).where(tasks.c.status == "waiting"))).scalars().all()
    assert waiting == ["follow-up"], "open tasks cancelled, a follow-up call scheduled"


async def test_a_partner_promise_holds_and_its_payment_keeps_it(migrated_database, handle):
    database = await migrated_database(MIGRATIONS)
    await handle(database, HANDLERS, updated(4, DAY), key="A-1")
    placed = await handle(database, HANDLERS, updated(95, DAY + timedelta(days=1)), key="A-1")
    placement = next(placements_pb2.PlacementRequested.FromString(r.value) for r in placed
                     if r.topic == "collections.placements.v1")
    await handle(database, HANDLERS, placements_pb2.PartnerActivityReported(
        placement_id=placement.placement_id, account_id="A-1", partner_id="P-1", activity_id="ACT-1",
        kind=placements_pb2.ACTIVITY_KIND_PROMISE_TO_PAY, promised_amount=Money(30_000, "CNY").to_proto(),
        promised_on=date_to_proto(date(2026, 11, 20))), key="A-1")
    held = await handle(database, HANDLERS, updated(200, DAY + timedelta(days=3)), key="A-1")
    assert held == [], "no escalation to legal while the promise holds"
    kept = await handle(database, HANDLERS, payments_pb2.PaymentPosted(
        account_id="A-1", payment_id="P-9", amount=Money(30_000, "CNY").to_proto(),
        posted_on=date_to_proto(DAY + timedelta(days=4)), value_date=date_to_proto(DAY + timedelta(days=4))), key="A-1")
    behaviour = cases_pb2.CreditBehaviourRecorded.FromString(kept[-1].value)
    assert behaviour.behaviour == cases_pb2.CREDIT_BEHAVIOUR_PROMISE_KEPT
    escalated = await handle(database, HANDLERS, updated(200, DAY + timedelta(days=5)), key="A-1")
    assert types(escalated)[0] == "StageChanged"


async def test_a_pre_due_reminder_is_a_contact_not_a_case(migrated_database, handle):
    database = await migrated_database(MIGRATIONS)
    due_soon = delinquency_pb2.PaymentDueSoon(
        account_id="A-1", customer_id="C-1", business_date=date_to_proto(DAY),
        due_date=date_to_proto(DAY + timedelta(days=3)),
        amount_due=Money(50_000, "CNY").to_proto(), statement_id="ST-1")
    first = await handle(database, HANDLERS, due_soon, key="A-1")
    again = await handle(database, HANDLERS, due_soon, key="A-1")
    assert types(first) == ["ContactRequested"]
    requests = [contacts_pb2.ContactRequested.FromString(r.value) for r in first + again]
    assert requests[0].template == "reminder.sms" and requests[0].request_id == requests[1].request_id
    async with database.engine.connect() as connection:
        assert (await connection.execute(select(func.count()).select_from(cases))).scalar() == 0


async def test_no_pre_due_reminder_during_a_dispute_or_with_a_no_contact_flag(migrated_database, handle):
    database = await migrated_database(MIGRATIONS)

    def due_soon(account: str, statement: str):
        return delinquency_pb2.PaymentDueSoon(
            account_id=account, customer_id="C-1", business_date=date_to_proto(DAY + timedelta(days=10)),
            due_date=date_to_proto(DAY + timedelta(days=13)), amount_due=Money(50_000, "CNY").to_proto(),
            statement_id=statement)

    await handle(database, HANDLERS, updated(4, DAY), key="A-1")
    async with database.engine.begin() as connection:
        case_id = (await connection.execute(select(cases.c.case_id))).scalar_one()
        await connection.execute(insert(holds).values(hold_id="H-1", case_id=case_id, kind="dispute",
                                                      started_on=DAY + timedelta(days=2), reason="test"))
    assert await handle(database, HANDLERS, due_soon("A-1", "ST-1"), key="A-1") == [], "disputed: no reminder"
    async with database.engine.begin() as connection:
        await connection.execute(update(holds).values(ended_on=DAY + timedelta(days=5)))
    assert types(await handle(database, HANDLERS, due_soon("A-1", "ST-2"), key="A-1")) == ["ContactRequested"]

    await handle(database, HANDLERS, accounts_pb2.AccountStatusChanged(
        account_id="A-2", status=accounts_pb2.ACCOUNT_STATUS_BLOCKED, reason="Deceased",
        effective_on=date_to_proto(DAY)), key="A-2")
    assert await handle(database, HANDLERS, due_soon("A-2", "ST-3"), key="A-2") == [], "no contact after a death"


async def test_a_deceased_flag_from_core_banking_stops_escalation_and_contact(migrated_database, handle):
    database = await migrated_database(MIGRATIONS)
    await handle(database, HANDLERS, updated(4, DAY), key="A-1")
    await handle(database, HANDLERS, accounts_pb2.AccountStatusChanged(
        account_id="A-1", status=accounts_pb2.ACCOUNT_STATUS_BLOCKED, reason="Deceased",
        effective_on=date_to_proto(DAY)), key="A-1")
    assert await handle(database, HANDLERS, updated(95, DAY + timedelta(days=1)), key="A-1") == []


async def test_a_correction_of_an_older_day_does_not_reopen_later_stale_days(migrated_database, handle):
    database = await migrated_database(MIGRATIONS)
    await handle(database, HANDLERS, updated(4, DAY), key="A-1")
    await handle(database, HANDLERS, updated(6, DAY + timedelta(days=2)), key="A-1")
    await handle(database, HANDLERS, updated(4, DAY, correction=True), key="A-1")
    stale = await handle(database, HANDLERS, updated(40, DAY + timedelta(days=1)), key="A-1")
    assert stale == [], "the case's last evaluated day stays the latest one"


async def test_the_gateways_recalls_are_marked_and_noted_a_run_at_a_time_and_an_unknown_one_is_rejected(
        migrated_database, handle):
    database = await migrated_database(MIGRATIONS)
    placed = {}
    for account in ("A-1", "A-2"):
        await handle(database, HANDLERS, updated(4, DAY, account), key=account)
        emitted = await handle(database, HANDLERS, updated(95, DAY + timedelta(days=1), account), key=account)
        placed[account] = next(placements_pb2.PlacementRequested.FromString(r.value).placement_id for r in emitted
                               if r.topic == "collections.placements.v1")
    clock = ControlledClock(datetime(2026, 11, 5, 1, tzinfo=UTC))
    recalls = [recall_event(placement_id, account, clock) for account, placement_id in placed.items()]
    recall_run = BATCH_HANDLERS[type_of(placements_pb2.PlacementRecalled)]
    async with database.transaction() as connection:
        await recall_run(recalls, UnitOfWork(connection, CODEC, clock))

    async with database.engine.connect() as connection:
        status = dict((await connection.execute(select(placements.c.account_id, placements.c.status))).all())
        noted = (await connection.execute(select(timeline.c.detail, timeline.c.actor).where(
            timeline.c.entry == "placement-recalled").order_by(timeline.c.id))).all()
    assert status == {"A-1": "recalled", "A-2": "recalled"}
    assert [tuple(row) for row in noted] == [(f"{placed['A-1']} cured", "P-1"), (f"{placed['A-2']} cured", "P-1")]

    unknown = recall_event("PL-NOBODY", "A-3", clock)
    with pytest.raises(Rejected, match="unknown placement 'PL-NOBODY'"):
        async with database.transaction() as connection:
            await recall_run([recalls[0], unknown], UnitOfWork(connection, CODEC, clock))


def recall_event(placement_id: str, account: str, clock: ControlledClock):
    """The gateway's PlacementRecalled as the consumer decodes it."""
    return CODEC.decode(*CODEC.encode(placements_pb2.PlacementRecalled(
        placement_id=placement_id, account_id=account, partner_id="P-1", reason="cured"), account, clock.now(),
        TraceContext.new()))
