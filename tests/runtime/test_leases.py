"""Leases in the service database, on SQLite and PostgreSQL: one holder at a time,
a dead holder's lease taken over once expired, work cancelled when its lease was
taken over."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from collections_core.clock import ControlledClock
from collections_core.database import Database
from collections_core.leases import Lease
from collections_core.storage import leases, metadata

pytestmark = pytest.mark.integration


@pytest.fixture
async def database(database_url):
    database = Database(database_url)
    async with database.transaction() as connection:
        await connection.run_sync(metadata.create_all)
    yield database
    await database.dispose()


async def test_one_replica_holds_a_lease_and_another_takes_it_over_only_once_it_expired(database):
    wall = ControlledClock(datetime(2026, 11, 2, 9, tzinfo=UTC))
    first, second = (Lease(database, "aging", holder, ttl_seconds=10, wall=wall) for holder in ("a", "b"))
    assert await first.hold()
    assert not await second.hold()
    wall.advance(timedelta(seconds=9))
    assert not await second.hold(), "still within its time"
    assert await first.hold(), "renewed by its holder"
    wall.advance(timedelta(seconds=11))  # the first replica died and stopped renewing
    assert await second.hold()
    assert not await first.hold(), "taken over"


async def test_a_released_lease_is_taken_at_once(database):
    first, second = (Lease(database, "outbox-relay", holder, ttl_seconds=60) for holder in ("a", "b"))
    assert await first.hold()
    await first.release()
    assert await second.hold()


async def test_leases_of_different_names_are_independent(database):
    assert await Lease(database, "outbox-relay", "a").hold()
    assert await Lease(database, "retention", "b").hold()


async def test_work_stops_when_another_replica_took_its_lease_over(database):
    lease = Lease(database, "between-batches", "a", ttl_seconds=0.6)
    started, finished = asyncio.Event(), asyncio.Event()

    async def long_work() -> None:
        started.set()
        await asyncio.sleep(60)
        finished.set()

    async def stall_then_lose_the_lease() -> None:
        await started.wait()
        # What another replica does once this one stalled past the expiry.
        async with database.transaction() as connection:
            await connection.execute(update(leases).where(leases.c.name == "between-batches").values(holder="b"))

    ran, _ = await asyncio.wait_for(asyncio.gather(lease.run_while_held(long_work), stall_then_lose_the_lease()), 30)
    assert ran is False and not finished.is_set()


async def test_work_runs_to_its_end_while_its_lease_is_renewed(database):
    lease = Lease(database, "between-batches", "a", ttl_seconds=0.6)
    other = Lease(database, "between-batches", "b", ttl_seconds=0.6)
    seen_by_other = []

    async def work_longer_than_the_ttl() -> None:
        for _ in range(6):
            await asyncio.sleep(0.3)
            seen_by_other.append(await other.hold())

    assert await lease.run_while_held(work_longer_than_the_ttl) is True
    assert seen_by_other == [False] * 6
