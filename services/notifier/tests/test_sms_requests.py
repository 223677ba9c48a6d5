"""The skeleton notifier's handlers and SMS hand-off against a real SQLite database."""

from pathlib import Path

import httpx
import notifier
import pytest
from collections_core.codec import Rejected
from collections_core.contracts.collections.v1 import contacts_pb2
from collections_core.contracts.corebanking.v1 import customers_pb2
from notifier.handlers import HANDLERS
from notifier.settings import NotifierSettings
from notifier.sms import ProviderRefused, send_pending
from notifier.tables import deliveries
from sqlalchemy import select

MIGRATIONS = Path(notifier.__file__).parent / "migrations"


def sms_request(request_id: str = "R-1", channel=contacts_pb2.CHANNEL_SMS):
    return contacts_pb2.ContactRequested(request_id=request_id, account_id="A-1", customer_id="C-1",
                                         case_id="K-1", channel=channel, template="reminder.sms")


class Runtime:
    """What send_pending needs of the service runtime: its database and units of work."""

    def __init__(self, database):
        from collections_core.clock import SystemClock
        from collections_core.codec import EventCodec, TypeRegistry
        from collections_core.unit_of_work import unit_of_work_factory

        self.database = database
        self.handed_over = []
        self.unit_of_work = unit_of_work_factory(database, EventCodec(TypeRegistry.of_contracts(), "/t"),
                                                 SystemClock(), self.handed_over.extend)


async def prepared(migrated_database, handle):
    database = await migrated_database(MIGRATIONS)
    await handle(database, HANDLERS, customers_pb2.CustomerUpserted(
        customer_id="C-1", phone="+8613800138000", time_zone="Asia/Shanghai", language="zh-CN"), key="C-1")
    await handle(database, HANDLERS, sms_request(), key="C-1")
    await handle(database, HANDLERS, sms_request(), key="C-1", event_id="redelivered-under-new-id")
    return database


async def test_one_delivery_per_request_and_sent_under_its_idempotency_key(migrated_database, handle):
    database = await prepared(migrated_database, handle)
    calls = []

    def provider(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(202, json={"id": "msg-1"})

    runtime = Runtime(database)
    async with httpx.AsyncClient(transport=httpx.MockTransport(provider)) as client:
        assert await send_pending(runtime, client, NotifierSettings()) == 1
        assert await send_pending(runtime, client, NotifierSettings()) == 0, "a sent delivery is not sent again"
    assert [c.headers["Idempotency-Key"] for c in calls] == ["R-1"]
    [(_, sent)] = runtime.handed_over
    assert sent.topic == "collections.contact-events.v1" and sent.key == b"A-1"
    assert contacts_pb2.ContactSent.FromString(sent.value).provider_message_id == "msg-1"


async def test_a_provider_outage_leaves_the_delivery_pending(migrated_database, handle):
    database = await prepared(migrated_database, handle)
    runtime = Runtime(database)
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(503))) as client:
        with pytest.raises(ProviderRefused):
            await send_pending(runtime, client, NotifierSettings())
    async with database.engine.connect() as connection:
        assert (await connection.execute(select(deliveries.c.status))).scalars().all() == ["pending"]
    assert runtime.handed_over == []


async def test_channels_not_served_yet_are_rejected(migrated_database, handle):
    database = await migrated_database(MIGRATIONS)
    with pytest.raises(Rejected):
        await handle(database, HANDLERS, sms_request(channel=contacts_pb2.CHANNEL_LETTER), key="C-1")
