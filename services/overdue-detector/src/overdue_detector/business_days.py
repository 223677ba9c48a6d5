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
from collections_core.logs import get_logger
from collections_core.unit_of_work import UnitOfWork
from overdue_detector import aging, delinquency_events, facts, metrics
from overdue_detector.domain import DelinquencyPolicy, decide
from overdue_detector.portfolio import portfolio
from overdue_detector.states import StateRecorder, state_row
from overdue_detector.tables import aged_days, closed_days, day_number, from_day_number

log = get_logger(__name__)
# Accounts decided between two yields to the event loop: at 10M accounts a day emits a
# million events, and probes and the consumer's heartbeats must keep answering. A page
# of 5,000 held the loop for ~0.3 s of decisions and event encoding (bench/aging).
PAGE = 1_000


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
            aged = await age_business_day(work, from_day_number(day.business_day), policy, service)
            await work.connection.execute(delete(closed_days).where(closed_days.c.business_day == day.business_day))
        if aged is not None:
            metrics.count_emitted(service, aged)


async def age_business_day(work: UnitOfWork, business_date: date, policy: DelinquencyPolicy,
                           service: str) -> Counter[str] | None:
    """Age every account as of `business_date`, once: SQL computes the facts of the
    day's candidates, domain.decide() decides per account, and states and events are
    written back in bulk, page by page. Returns how many events of each type it
    emitted; None when the day was already aged (a replay emits nothing) or is older
    than the last aged day."""
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
    states = StateRecorder(connection)
    types: Counter[str] = Counter()
    delinquent = 0
    async for page in aging.facts_of_day(connection, business_date, policy, reminded_until=last, page=PAGE):
        recorded = []
        for facts in page:
            state = facts.state
            delinquent += state.delinquent and not state.charged_off
            decisions = decide(facts)
            for decision in decisions.events:
                types[delinquency_events.emit(work, decision, state.customer_id)] += 1
            if decisions.record is not None:
                recorded.append(state_row(decisions.record, decisions.episode))
        await states.add(recorded)
        # Page by page, not in one insert at the end: a day's events at 10M accounts
        # are a million rows, and one insert of them held the event loop for seconds.
        await work.flush()
        await asyncio.sleep(0)
    await states.write()
    await connection.execute(insert(aged_days).values(
        business_day=day_number(business_date), aged_at=work.now, accounts_delinquent=delinquent,
        events_emitted=sum(types.values())))
    summary = await portfolio(connection)
    metrics.observe_portfolio(service, Counter(summary.accounts_per_bucket), summary.past_due_per_bucket)
    metrics.AGING_DURATION.labels(service).observe(time.perf_counter() - started)
    return types
