"""The skeleton router's handlers against a real SQLite database."""

from pathlib import Path

import case_router
from case_router.handlers import HANDLERS
from case_router.tables import cases, timeline
from collections_core.contracts.collections.v1 import contacts_pb2, delinquency_pb2
from collections_core.money import Money
from sqlalchemy import func, select

MIGRATIONS = Path(case_router.__file__).parent / "migrations"


def became_delinquent(account: str = "A-1", dpd: int = 4):
    return delinquency_pb2.AccountBecameDelinquent(
        account_id=account, customer_id="C-1",
        state=delinquency_pb2.DelinquencyState(dpd=dpd, past_due_amount=Money(50_000, "CNY").to_proto()))


async def test_a_delinquent_account_gets_one_case_and_one_sms_request(migrated_database, handle):
    database = await migrated_database(MIGRATIONS)
    emitted = await handle(database, HANDLERS, became_delinquent(), key="A-1")
    assert [r.topic for r in emitted] == ["collections.case-events.v1", "collections.contact-requests.v1"]
    request = contacts_pb2.ContactRequested.FromString(emitted[1].value)
    assert request.channel == contacts_pb2.CHANNEL_SMS and request.template == "reminder.sms"
    assert emitted[1].key == b"C-1", "contact requests are keyed by customer"
    assert request.parameters["past_due_minor"] == "50000"
    again = await handle(database, HANDLERS, became_delinquent(), key="A-1")
    assert again == [], "an account with an open case gets no second case"
    async with database.engine.connect() as connection:
        assert (await connection.execute(select(func.count()).select_from(cases))).scalar() == 1


async def test_contact_sent_lands_on_the_timeline(migrated_database, handle):
    database = await migrated_database(MIGRATIONS)
    emitted = await handle(database, HANDLERS, became_delinquent(), key="A-1")
    request = contacts_pb2.ContactRequested.FromString(emitted[1].value)
    await handle(database, HANDLERS, contacts_pb2.ContactSent(
        request_id=request.request_id, account_id="A-1", case_id=request.case_id,
        channel=contacts_pb2.CHANNEL_SMS), key="A-1")
    async with database.engine.connect() as connection:
        entries = (await connection.execute(select(timeline.c.entry).order_by(timeline.c.id))).scalars().all()
    assert entries == ["case-opened", "contact-requested", "contact-sent"]
