"""Business days: a close is recorded, waits until the postings before it are applied,
and is then aged, oldest first.

A close travels on its own topic and can overtake the day's payments, so it is aged
only once the group has consumed every posting that was on the log just after the
close was recorded (decision 0006). Those log ends are read from the broker after the
close's transaction, between batches: a broker error there leaves the day waiting and
is retried on the next round, so a hiccup never loses a close (issue 7, item 11).
POST /v1/aging-runs adds a day whose close never came to the same queue.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from datetime import date

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from collections_core.codec import Event
from collections_core.contracts.collections.v1 import delinquency_pb2
from collections_core.logs import get_logger
from collections_core.money import Money
from collections_core.unit_of_work import UnitOfWork
from collections_core.wire import date_to_proto
from overdue_detector import aging, delinquency_events, facts, metrics
from overdue_detector.domain import DelinquencyPolicy, Episode, close_business_day
from overdue_detector.portfolio import portfolio
from overdue_detector.tables import aged_days, closed_days, day_number, from_day_number

log = get_logger(__name__)
# Accounts aged between two yields to the event loop: at 10M accounts a day emits a
# million events, and probes and the consumer's heartbeats must keep answering.
CHUNK = 5_000


async def last_aged_day(connection: AsyncConnection) -> date | None:
    value = (await connection.execute(select(func.max(aged_days.c.business_day)))).scalar()
    return from_day_number(value) if value is not None else None


async def record_close(event: Event, work: UnitOfWork) -> None:
    """Handler of BusinessDayClosed: the day joins the queue, once."""
    business_day = day_number(facts.business_date(event.message, "business_date"))
    for table in (aged_days, closed_days):
        if (await work.connection.execute(select(table.c.business_day).where(
                table.c.business_day == business_day))).first():
            return
    await work.connection.execute(insert(closed_days).values(
        business_day=business_day, log_ends=None, closed_at=work.now))


async def age_closed_days(runtime, policy: DelinquencyPolicy, posting_topics: list[str]) -> None:
    """Between batches: age every closed day, oldest first, whose preceding postings are applied."""
    service = runtime.settings.service_name
    while True:
        async with runtime.database.reading() as connection:
            day = (await connection.execute(
                select(closed_days).order_by(closed_days.c.business_day).limit(1))).first()
        if day is None:
            return
        if day.log_ends is None:
            ends = await runtime.consumer.log_end_offsets(posting_topics)
            async with runtime.database.transaction() as connection:
                await connection.execute(update(closed_days).where(
                    closed_days.c.business_day == day.business_day).values(log_ends=json.dumps(ends, sort_keys=True)))
            continue
        if not await runtime.consumer.consumed_past(json.loads(day.log_ends)):
            return
        async with runtime.batch_unit_of_work() as work:
            await age_business_day(work, from_day_number(day.business_day), policy, service)
            metrics.count_emitted(service, Counter(dict(r.headers)["ce_type"].decode() for r in work.records))
            await work.connection.execute(delete(closed_days).where(closed_days.c.business_day == day.business_day))


async def age_business_day(work: UnitOfWork, business_date: date, policy: DelinquencyPolicy,
                           service: str) -> int | None:
    """Age every account as of `business_date`, once; returns the events emitted,
    or None when the day was already aged (a replay emits nothing)."""
    connection = work.connection
    if (await connection.execute(select(aged_days.c.business_day).where(
            aged_days.c.business_day == day_number(business_date)))).first():
        return None
    last = await last_aged_day(connection)
    if last is not None and business_date < last:
        # Aging an older day after a newer one would turn reported state back in time.
        log.warning("business day older than the last aged day ignored", business_date=business_date.isoformat(),
                    last_aged=last.isoformat())
        return None
    started = time.perf_counter()
    emitted_before = len(work.records)
    delinquent = 0
    async for chunk in aging.age_and_record(connection, business_date, policy, CHUNK):
        for aged in chunk:
            delinquent += aged.delinquent and not aged.charged_off
            decisions, _ = close_business_day(Episode(aged.episode_open, aged.cured_on), aged)
            for decision in decisions:
                delinquency_events.emit(work, decision, aged.customer_id)
        await asyncio.sleep(0)
    business = date_to_proto(business_date)
    for n, cycle in enumerate(await aging.due_soon(connection, business_date, policy, reminded_until=last)):
        if n % CHUNK == CHUNK - 1:
            await asyncio.sleep(0)
        work.emit(delinquency_events.DELINQUENCY, delinquency_pb2.PaymentDueSoon(
            account_id=cycle.account_id, customer_id=cycle.customer_id, business_date=business,
            due_date=date_to_proto(cycle.due_date), amount_due=Money(cycle.amount, cycle.currency).to_proto(),
            statement_id=cycle.statement_id), key=cycle.account_id)
    emitted = len(work.records) - emitted_before
    await connection.execute(insert(aged_days).values(
        business_day=day_number(business_date), aged_at=work.now, accounts_delinquent=delinquent,
        events_emitted=emitted))
    summary = await portfolio(connection)
    metrics.observe_portfolio(service, Counter(summary.accounts_per_bucket), summary.past_due_per_bucket)
    metrics.AGING_DURATION.labels(service).observe(time.perf_counter() - started)
    return emitted
