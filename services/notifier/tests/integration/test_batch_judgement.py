"""A run of events handled by the batch handlers has the same effects as the same
events handled one by one (which is how the runtime re-runs a failed batch): the
same requests, ledger, preferences and emitted events, on SQLite and PostgreSQL.
The run mixes zones, caps already reached, holds, opt-outs, an unknown customer,
a repeated request id, missing template parameters, expiries and not-before times."""

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from collections_core.contracts.collections.v1 import contacts_pb2
from collections_core.contracts.corebanking.v1 import customers_pb2
from collections_core.wire import instant_to_proto
from notifier import facts
from notifier.tables import channel_preferences, contact_ledger, contact_points, contact_requests, holds
from sqlalchemy import select

pytestmark = pytest.mark.integration
ZONES = ["Asia/Shanghai", "America/New_York", "Europe/London", "Asia/Kolkata"]
SMS, EMAIL = customers_pb2.CONTACT_CHANNEL_SMS, customers_pb2.CONTACT_CHANNEL_EMAIL


def generated(seed: int, now: datetime):
    rng = random.Random(seed)
    customers = []
    for n in range(8):
        consents = [customers_pb2.Consent(channel=rng.choice([SMS, EMAIL]), granted=rng.random() < 0.5)
                    for _ in range(rng.randrange(3))]
        customers.append((customers_pb2.CustomerUpserted(
            customer_id=f"C-{n}", name="李雷", phone=f"+86138{n:08d}", email=f"c{n}@example.cn",
            time_zone=rng.choice(ZONES), language=rng.choice(["zh-CN", "en"]), consents=consents), f"C-{n}"))
    customers += [customers[0], customers[3]]  # core banking sends a customer again within the run
    requests = []
    for n in range(40):
        customer = rng.choice([f"C-{k}" for k in range(8)] + ["C-UNKNOWN"])
        template = rng.choice(["overdue.sms", "overdue.sms", "reminder.sms", "overdue.email"])
        parameters = {"amount_minor": "1000", "currency": "CNY", "card_last4": "1234"}
        if template == "reminder.sms" and rng.random() < 0.7:
            parameters["due_date"] = "2026-11-25"
        extra = {}
        if rng.random() < 0.2:
            extra["expires_at"] = instant_to_proto(now + timedelta(hours=rng.choice([1, 5, 30])))
        if rng.random() < 0.2:
            extra["not_before"] = instant_to_proto(now + timedelta(hours=rng.choice([2, 12])))
        request_id = f"R-{n}" if n < 35 else f"R-{rng.randrange(35)}"  # the router asks again
        requests.append((contacts_pb2.ContactRequested(
            request_id=request_id, customer_id=customer, account_id=f"A-{customer}", case_id="K",
            channel=contacts_pb2.CHANNEL_EMAIL if template.endswith("email") else contacts_pb2.CHANNEL_SMS,
            template=template, parameters=parameters, portfolio=rng.choice(["", "us-cards"]), **extra), customer))
    return customers, requests


async def seeded(runtime, now: datetime) -> None:
    """Facts already known before the run: two SMS sent today to C-1 (the CN cap), a
    dispute hold on C-2, a Breathing Space on C-5 that ends in ten days."""
    async with runtime.unit_of_work() as work:
        for hour in (1, 2):
            await facts.record(work.connection, customer_id="C-1", account_id="A-C-1", channel="sms",
                               decision="allow", outcome="sent", at=now - timedelta(minutes=hour))
        await work.connection.execute(holds.insert(), [
            {"customer_id": "C-2", "hold": "dispute", "until": None, "recorded_at": now},
            {"customer_id": "C-5", "hold": "breathing-space", "until": now + timedelta(days=10), "recorded_at": now}])


async def state(runtime, emitted) -> dict:
    async with runtime.database.reading() as connection:
        requests = (await connection.execute(select(contact_requests).order_by(contact_requests.c.request_id))).all()
        ledger = (await connection.execute(select(contact_ledger).order_by(contact_ledger.c.id))).mappings().all()
        preferences = (await connection.execute(select(channel_preferences).order_by(
            channel_preferences.c.customer_id, channel_preferences.c.channel))).all()
        points = (await connection.execute(select(
            contact_points.c.customer_id, contact_points.c.time_zone, contact_points.c.language,
            contact_points.c.phone_hash).order_by(contact_points.c.customer_id))).all()
    return {"requests": [tuple(r) for r in requests], "ledger": [{k: v for k, v in r.items() if k != "id"}
                                                                 for r in ledger],
            "preferences": [tuple(r) for r in preferences], "points": [tuple(r) for r in points],
            "emitted": await emitted(runtime)}


@pytest.fixture
def second_database_url(database_url, tmp_path, request):
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'one-by-one.db'}"
    server = request.getfixturevalue("postgres")
    return server.dsn(server.create_database(f"t_{uuid.uuid4().hex[:12]}"))


@pytest.mark.parametrize("seed", [7, 2026])
async def test_a_run_judged_at_once_equals_its_events_one_by_one(notifier_runtime, clock, second_database_url,
                                                                  deliver, deliver_together, emitted, seed):
    # 06:00 UTC: daytime in Shanghai and Kolkata, night in New York and London.
    clock.set(datetime(2026, 11, 3, 6, tzinfo=UTC))
    now = clock.now()
    customers, requests = generated(seed, now)
    at_once = await notifier_runtime(portfolio_packs={"us-cards": "US"})
    one_by_one = await notifier_runtime(database_url=second_database_url, portfolio_packs={"us-cards": "US"})
    for runtime in (at_once, one_by_one):
        await seeded(runtime, now)
    await deliver_together(at_once, customers)
    await deliver_together(at_once, requests)
    for message, key in [*customers, *requests]:
        await deliver(one_by_one, message, key)
    expected = await state(one_by_one, emitted)
    assert await state(at_once, emitted) == expected
    outcomes = {kind for kind, _ in expected["emitted"]}
    rules = {row["rule"] for row in expected["ledger"]}
    assert {"ContactDeferred", "ContactBlocked", "ContactFailed"} <= outcomes, "the run covers every outcome"
    assert {"quiet-hours", "dispute"} <= rules
    assert "pending" in {row[8] for row in expected["requests"]}, "and contacts allowed now"
