"""Business-day closes end to end on the real broker, SQLite and PostgreSQL: a close is
never lost (item 11), one episode stays one episode when closes queue up (item 14),
and a reminder day without a close still reminds (item 15)."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from aiokafka.errors import KafkaTimeoutError
from sqlalchemy import func, select

from collections_core.storage import inbox

from collections_core.wire import date_from_proto

pytestmark = pytest.mark.integration

DLQ = "overdue-detector.dlq.v1"
MINIMUM = 50_000


def kinds(events) -> list[str]:
    return [kind for kind, _ in events]


def business_dates(events) -> list[tuple[str, date]]:
    return [(kind, date_from_proto(m.business_date)) for kind, m in events]


async def _late_account(detector) -> str:
    account = detector.account()
    await detector.open(account)
    await detector.statement(account, f"ST-{account}", date(2026, 10, 1), date(2026, 10, 25), MINIMUM)
    await detector.settle()
    return account


async def _handled(detector, timeout: float = 30.0) -> None:
    """Every event sent so far handled (closes may still wait to be aged)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        async with detector.runtime.database.engine.connect() as connection:
            if (await connection.execute(select(func.count()).select_from(inbox))).scalar_one() >= detector.sent:
                return
        await asyncio.sleep(0.1)
    raise AssertionError("events not handled in time")


async def _published(detector, account: str):
    """The account's events so far, without waiting for closed days to be aged."""
    while await detector.runtime.relay.backlog():
        await asyncio.sleep(0.1)
    settle, detector.settle = detector.settle, _nothing
    try:
        return await detector.events(account)
    finally:
        detector.settle = settle


async def _nothing() -> None:
    return None


async def test_a_broker_error_reading_the_log_ends_never_loses_the_close(detector):
    account = await _late_account(detector)
    kafka = detector.runtime.consumer.consumer
    real_end_offsets, failures = kafka.end_offsets, []

    async def hiccup(partitions):
        if len(failures) < 5:  # more than a handler's attempts before it is dead-lettered
            failures.append(partitions)
            raise KafkaTimeoutError()
        return await real_end_offsets(partitions)

    kafka.end_offsets = hiccup
    await detector.close(date(2026, 10, 29))
    events = await detector.events(account)
    assert len(failures) == 5
    assert business_dates(events) == [("AccountBecameDelinquent", date(2026, 10, 29)),
                                      ("DelinquencyUpdated", date(2026, 10, 29))]
    closes = detector.topics["corebanking.business-days.v1"].encode()
    assert [record for _, record in await detector.events("business-day", topic=DLQ)
            if dict(record.headers).get("dlq-original-topic") == closes] == []


async def test_aging_runs_age_missed_closes_oldest_first_and_rerun_an_aged_day_idempotently(detector):
    account = await _late_account(detector)
    async with detector.http() as client:
        # Both closes were lost upstream; operations asks for the later one first, then the earlier.
        queued = [await client.post("/v1/aging-runs", json={"business_date": day})
                  for day in ("2026-10-30", "2026-10-29")]
        assert [r.status_code for r in queued] == [202, 202]
        assert queued[0].headers["location"] == "/v1/aging-runs/2026-10-30"
        events = await detector.events(account)
        assert business_dates(events) == [("AccountBecameDelinquent", date(2026, 10, 29)),
                                          ("DelinquencyUpdated", date(2026, 10, 29)),
                                          ("DelinquencyUpdated", date(2026, 10, 30))]
        rerun = await client.post("/v1/aging-runs", json={"business_date": "2026-10-30"})
        assert rerun.status_code == 200
        assert (rerun.json()["aged"], rerun.json()["events_emitted"], rerun.json()["waiting"]) == (True, 1, False)
        status = await client.get("/v1/aging-runs/2026-10-29")
        assert status.status_code == 200 and status.json()["accounts_delinquent"] == 1
        assert (await client.get("/v1/aging-runs/2026-10-31")).status_code == 404
        future = await client.post("/v1/aging-runs", json={"business_date": "2099-01-01"})
        assert future.status_code == 409, "a day not over yet cannot be aged"
        skipped = await client.post("/v1/aging-runs", json={"business_date": "2026-10-28"})
        assert skipped.status_code == 409 and skipped.headers["content-type"] == "application/problem+json"
    assert len(await detector.events(account)) == 3, "the re-run emitted nothing"


async def test_a_cure_while_closes_wait_keeps_one_episode(detector):
    """Closes produced one after another queue up while the detector lags; the payment
    that clears the arrears is applied (and cures) before the waiting days are aged."""
    account = await _late_account(detector)
    await detector.close(date(2026, 10, 29))
    await detector.settle()
    consumer = detector.runtime.consumer
    real_consumed_past, lagging = consumer.consumed_past, asyncio.Event()
    lagging.set()

    async def lag(positions):
        return False if lagging.is_set() else await real_consumed_past(positions)

    consumer.consumed_past = lag
    for day in (30, 31):
        await detector.close(date(2026, 10, day))
    await detector.close(date(2026, 11, 2))
    await detector.pay(account, f"P-{account}", MINIMUM, date(2026, 11, 1))
    await _handled(detector)
    assert kinds(await _published(detector, account)) == ["AccountBecameDelinquent", "DelinquencyUpdated",
                                                          "AccountCured"], "cured at once, three closes waiting"
    lagging.clear()
    events = await detector.events(account)
    assert business_dates(events) == [("AccountBecameDelinquent", date(2026, 10, 29)),
                                      ("DelinquencyUpdated", date(2026, 10, 29)),
                                      ("AccountCured", date(2026, 11, 1))]
    async with detector.http() as client:
        state = (await client.get(f"/v1/accounts/{account}")).json()["delinquency"]
    assert (state["as_of"], state["episode_open"], state["dpd"]) == ("2026-11-02", False, 0)


async def test_a_reminder_day_without_a_close_still_reminds_once(detector):
    account = detector.account()
    await detector.open(account)
    await detector.statement(account, f"ST-{account}", date(2026, 10, 1), date(2026, 10, 25), MINIMUM)
    await detector.settle()
    await detector.close(date(2026, 10, 21))
    await detector.settle()
    # 22 October, three days before the due date, had no close; 23 and 24 October did.
    for day in (23, 24):
        await detector.close(date(2026, 10, day))
        await detector.settle()
    events = await detector.events(account)
    assert business_dates(events) == [("PaymentDueSoon", date(2026, 10, 23))]
    assert events[0][1].amount_due.amount_minor == MINIMUM
