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
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from datetime import date
from typing import NamedTuple

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from collections_core.codec import Event
from collections_core.logs import get_logger
from collections_core.unit_of_work import UnitOfWork
from overdue_detector import aging, delinquency_events, facts, metrics
from overdue_detector.domain import DayAged, DelinquencyPolicy, decide
from overdue_detector.portfolio import portfolio
from overdue_detector.states import StateRecorder, state_row
from overdue_detector.tables import aged_days, aging_progress, closed_days, day_number, from_day_number

log = get_logger(__name__)
# Accounts aged per transaction (decision 0043). The event loop runs between pages: at
# 10M accounts a day emits a million events, and probes and the consumer's heartbeats
# must keep answering. A page of 5,000 held the loop for ~0.3 s of decisions and event
# encoding (bench/aging).
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
        try:
            await age_business_day(runtime.batch_unit_of_work, runtime.batch_database.reading,
                                   from_day_number(day.business_day), policy, runtime.settings.service_name)
        except AgingTakenOver as taken:
            log.warning("another replica is aging this business day", business_date=str(taken))
            return


class AgingTakenOver(Exception):
    """The day's progress moved on under this replica: another one is aging it."""


class _Progress(NamedTuple):
    aged_through: str  # the last account aged; "" sorts before every id
    delinquent: int
    emitted: Counter[str]


async def age_business_day(units: Callable[[], AbstractAsyncContextManager[UnitOfWork]],
                           reading: Callable[[], AbstractAsyncContextManager[AsyncConnection]], business_date: date,
                           policy: DelinquencyPolicy, service: str) -> Counter[str] | None:
    """Age every account as of `business_date`, once: SQL computes the facts of the
    day's candidates, domain.decide() decides per account, and states and events are
    written back in bulk. Page by page, each page one transaction of `units` (whose
    commits hand the events to the relay) that also moves the day's cursor, so the
    relay publishes while later pages are decided, the event loop answers between
    pages, and an aging cut short resumes after the last page committed. The database
    and Python work side by side: each page's facts are read (on a `reading`
    connection) while the page before is decided, and each page is decided while the
    page before is still being written and committed. Returns how
    many events of each type the day emitted; None when the day was already aged (a
    replay emits nothing) or is older than the last aged day."""
    started = time.perf_counter()
    day = day_number(business_date)
    async with units() as work:
        connection = work.connection
        last = await last_aged_day(connection)
        aged_before = (await connection.execute(select(aged_days.c.business_day).where(
            aged_days.c.business_day == day))).first()
        if aged_before or (last is not None and business_date < last):
            if not aged_before:  # aging an older day after a newer one would turn reported state back in time
                log.warning("business day older than the last aged day ignored",
                            business_date=business_date.isoformat(), last_aged=last.isoformat())
            await connection.execute(delete(closed_days).where(closed_days.c.business_day == day))
            return None
        progress = await _progress(connection, day)
        accounts = await aging.candidates(connection, business_date, policy, reminded_until=last,
                                          after=progress.aged_through)

    async def facts_of(page: list[str]) -> list[DayAged]:
        async with reading() as connection:
            return await aging.facts_of_accounts(connection, page, business_date, policy, last)

    in_page_order = asyncio.Lock()  # fair: its waiters are served in turn

    async def age_page(facts: list[DayAged], through: str, before: asyncio.Future[_Progress]) -> _Progress:
        async with AsyncExitStack() as transaction:
            # Pages begin their transactions in page order: on SQLite a later page
            # could otherwise take the write lock first and wait for its predecessor.
            async with in_page_order:
                work = await transaction.enter_async_context(units())
            recorded, emitted, delinquent = _decide_page(work, facts)
            # The cursor moves in page order: this page's decisions were taken while
            # the page before was still being written; its own writes wait for that commit.
            seen = await before
            then = await _advance(work.connection, day, seen, _Progress(
                through, seen.delinquent + delinquent, seen.emitted + emitted))
            await _record_states(work.connection, recorded)
        metrics.count_emitted(service, emitted)
        return then

    pages = [accounts[first:first + PAGE] for first in range(0, len(accounts), PAGE)]
    ahead = asyncio.ensure_future(facts_of(pages[0])) if pages else None
    begun: asyncio.Future[_Progress] = asyncio.get_running_loop().create_future()
    begun.set_result(progress)
    in_flight: list[asyncio.Future[_Progress]] = [begun]
    try:
        for number, page in enumerate(pages):
            facts = await ahead
            # Nothing a page writes changes another page's facts (they are per account),
            # so the next page's are read while this one is decided and written.
            ahead = asyncio.ensure_future(facts_of(pages[number + 1])) if number + 1 < len(pages) else None
            in_flight.append(asyncio.ensure_future(age_page(facts, page[-1], in_flight[-1])))
            # At most two pages at once: one deciding in Python, the one before it writing.
            progress = await in_flight.pop(0)
        progress = await in_flight.pop()
    finally:
        for pending in [ahead, *in_flight]:
            if pending is not None and not pending.done():
                pending.cancel()
        await asyncio.gather(*(f for f in [ahead, *in_flight] if f is not None), return_exceptions=True)
    async with units() as work:
        connection = work.connection
        await _advance(connection, day, progress, None)
        await connection.execute(insert(aged_days).values(
            business_day=day, aged_at=work.now, accounts_delinquent=progress.delinquent,
            events_emitted=sum(progress.emitted.values())))
        await connection.execute(delete(closed_days).where(closed_days.c.business_day == day))
        summary = await portfolio(connection)
    metrics.observe_portfolio(service, Counter(summary.accounts_per_bucket), summary.past_due_per_bucket)
    metrics.AGING_DURATION.labels(service).observe(time.perf_counter() - started)
    return progress.emitted


def _decide_page(work: UnitOfWork, page: list[DayAged]) -> tuple[list[tuple], Counter[str], int]:
    """Decide a page of accounts from their facts and queue their events in `work`;
    returns the states to record, the events by type and how many accounts are delinquent."""
    emitted: Counter[str] = Counter()
    delinquent = 0
    recorded = []
    for facts in page:
        state = facts.state
        delinquent += state.delinquent and not state.charged_off
        decisions = decide(facts)
        emitted.update(delinquency_events.emit(work, decisions.events, state.customer_id))
        if decisions.record is not None:
            recorded.append(state_row(decisions.record, decisions.episode))
    return recorded, emitted, delinquent


async def _record_states(connection: AsyncConnection, recorded: list[tuple]) -> None:
    states = StateRecorder(connection)
    await states.add(recorded)
    await states.write()


async def _progress(connection: AsyncConnection, day: int) -> _Progress:
    """Where the day's aging stands; a new aging records that it has begun."""
    row = (await connection.execute(select(aging_progress).where(aging_progress.c.business_day == day))).first()
    if row is not None:
        return _Progress(row.aged_through, row.accounts_delinquent, Counter(json.loads(row.events_emitted)))
    begun = _Progress("", 0, Counter())
    await connection.execute(insert(aging_progress).values(
        business_day=day, aged_through="", accounts_delinquent=0, events_emitted="{}"))
    return begun


async def _advance(connection: AsyncConnection, day: int, seen: _Progress, then: _Progress | None) -> _Progress | None:
    """Move the day's cursor from `seen` to `then` (None: the day is done), or raise
    AgingTakenOver when it is no longer at `seen` (a second replica aging the day)."""
    where = (aging_progress.c.business_day == day) & (aging_progress.c.aged_through == seen.aged_through)
    if then is None:
        moved = await connection.execute(delete(aging_progress).where(where))
    else:
        moved = await connection.execute(update(aging_progress).where(where).values(
            aged_through=then.aged_through, accounts_delinquent=then.delinquent,
            events_emitted=json.dumps(then.emitted, sort_keys=True)))
    if moved.rowcount != 1:
        raise AgingTakenOver(from_day_number(day).isoformat())
    return then
