"""Reads go on while a long write transaction holds the database, on both engines;
every statement is timed for the SREs' database-latency panel."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select

from collections_core.database import Database, _Writers
from collections_core.transient import is_transient
from collections_core.outbox import OutboxRecord, insert_records
from collections_core.storage import metadata, outbox

pytestmark = pytest.mark.integration


async def test_a_reader_sees_the_last_commit_at_once_while_a_writer_holds_the_lock(database_url):
    database = Database(database_url)
    try:
        async with database.transaction() as connection:
            await connection.run_sync(metadata.create_all)
        row = {"topic": "t", "headers": "[]", "created_at": datetime.now(UTC)}
        async with database.transaction() as connection:
            await connection.execute(insert(outbox).values(**row))
        async with database.transaction() as writer:  # a day's aging, say
            await writer.execute(insert(outbox).values(**row))

            async def count() -> int:
                async with database.reading() as reader:
                    return (await reader.execute(select(func.count()).select_from(outbox))).scalar_one()

            # SQLite's busy timeout is 30 s: a reader queueing for the lock would miss this bound.
            assert await asyncio.wait_for(count(), timeout=5) == 1
            assert await asyncio.wait_for(database.ping(), timeout=5)
        assert await count() == 2
    finally:
        await database.dispose()


def observed(service: str, operation: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("cc_database_statement_seconds_count",
                                     {"service": service, "operation": operation}) or 0.0


async def test_every_statement_is_timed_by_operation(database_url):
    service = f"timed-{uuid.uuid4().hex[:6]}"
    database = Database(database_url, service=service)
    try:
        async with database.transaction() as connection:
            await connection.run_sync(metadata.create_all)
        row = {"topic": "t", "headers": "[]", "created_at": datetime.now(UTC)}
        async with database.transaction() as connection:
            await connection.execute(insert(outbox).values(**row))
            await connection.execute(insert(outbox).values(**row))
        async with database.reading() as connection:
            assert (await connection.execute(select(func.count()).select_from(outbox))).scalar_one() == 2
    finally:
        await database.dispose()
    assert observed(service, "insert") == 2
    assert observed(service, "select") >= 1
    assert observed(service, "update") == 0
    assert observed("", "insert") == 0, "a database without a service name is not timed"


class _RolledBack(Exception):
    pass


async def test_rows_written_through_the_driver_first_roll_back_with_the_transaction(database_url):
    """The outbox and the batch handlers write through the driver (COPY, unnest,
    executemany). When that is a transaction's first statement it must still be inside
    the transaction: on PostgreSQL SQLAlchemy sends BEGIN only with its own first one."""
    database = Database(database_url)
    try:
        async with database.transaction() as connection:
            await connection.run_sync(metadata.create_all)
        with pytest.raises(_RolledBack):
            async with database.transaction() as connection:
                await insert_records(connection, [OutboxRecord("t", b"k", b"v", [("ce_id", b"1")])] * 2,
                                     datetime.now(UTC))
                raise _RolledBack()
        async with database.reading() as connection:
            assert (await connection.execute(select(func.count()).select_from(outbox))).scalar_one() == 0
    finally:
        await database.dispose()


async def test_writers_to_one_sqlite_file_take_turns_in_the_process(tmp_path, monkeypatch):
    """The runtime's two databases on one file (handlers' and the long jobs') queue for
    the write lock in the event loop instead of sleeping in SQLite's busy handler; a
    writer kept waiting past the bound fails as transient, as a busy database would."""
    url = f"sqlite:///{tmp_path / 'turns.db'}"
    handlers, jobs = Database(url), Database(url)
    monkeypatch.setattr(_Writers, "TIMEOUT_SECONDS", 0.3)
    row = {"topic": "t", "headers": "[]", "created_at": datetime.now(UTC)}
    order: list[str] = []

    async def write(database: Database, name: str, hold: float) -> None:
        async with database.transaction() as connection:
            order.append(f"{name} began")
            await connection.execute(insert(outbox).values(**row))
            await asyncio.sleep(hold)
            order.append(f"{name} committing")

    try:
        async with handlers.transaction() as connection:
            await connection.run_sync(metadata.create_all)
        await asyncio.gather(write(handlers, "a", 0.2), write(jobs, "b", 0))
        assert order == ["a began", "a committing", "b began", "b committing"]
        async with handlers.transaction():
            # The busy handler would wait 30 s and then fail with "database is locked".
            with pytest.raises(TimeoutError) as waited:
                await asyncio.wait_for(write(jobs, "c", 0), timeout=5)
        assert "SQLite write lock" in str(waited.value) and is_transient(waited.value)
        async with handlers.reading() as connection:
            assert (await connection.execute(select(func.count()).select_from(outbox))).scalar_one() == 2
    finally:
        await handlers.dispose()
        await jobs.dispose()



async def test_a_writer_cancelled_as_its_turn_comes_stops(tmp_path):
    """A service's stop cancels its tasks while one may be handing the SQLite turn to
    another that waits for it. The waiter must stop, not take the turn and run on: with
    asyncio.wait_for on Python 3.11 a cancellation that met the lock's hand-over was
    swallowed, and the service's stop waited an hour on its retention task's sleep."""
    database = Database(f"sqlite:///{tmp_path / 'cancel.db'}")
    holding, done_writing, ran_on = asyncio.Event(), asyncio.Event(), []

    async def hold_then_stop_the_waiter() -> None:
        async with database.transaction():
            holding.set()
            await done_writing.wait()
        waiter.cancel()  # the moment the turn passed to the waiter, as a stop's cancel can

    async def wait_then_run_on() -> None:
        async with database.transaction():
            ran_on.append("took the turn")
        ran_on.append("ran on")
        await asyncio.sleep(60)

    holder = asyncio.ensure_future(hold_then_stop_the_waiter())
    await holding.wait()
    waiter = asyncio.ensure_future(wait_then_run_on())
    try:
        await asyncio.sleep(0.05)  # the waiter is queued for the turn
        done_writing.set()
        done, _ = await asyncio.wait({holder, waiter}, timeout=5)
        assert done == {holder, waiter}, f"the waiter ran on after being cancelled: {ran_on}"
        assert waiter.cancelled() and ran_on == []
    finally:
        waiter.cancel()
        await asyncio.gather(holder, waiter, return_exceptions=True)
        await database.dispose()
