"""The outbox relay against a real broker, on SQLite and PostgreSQL: rows it must
recover from the table and rows handed over in memory are each published once,
in order, and marked published."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from collections_core.clock import SystemClock
from collections_core.database import Database
from collections_core.outbox import OutboxRecord, OutboxRelay, insert_records
from collections_core.storage import metadata, outbox
from support import read_topic

pytestmark = pytest.mark.integration


@pytest.fixture
async def relayed_outbox(database_url, kafka, topics):
    """A fresh outbox table and a relay over it that publishes four rows a round."""
    database = Database(database_url)
    async with database.transaction() as connection:
        await connection.run_sync(metadata.create_all)
    relay = OutboxRelay(database, kafka.bootstrap, topics["service"], SystemClock(), batch_size=4)
    yield database, relay
    await relay.stop()
    await database.dispose()


async def _commit(database: Database, topic: str, names: list[str]):
    records = [OutboxRecord(topic, b"one-key", name.encode(), [("ce_id", name.encode())]) for name in names]
    async with database.transaction() as connection:
        return await insert_records(connection, records, datetime.now(UTC))


async def _publish_all(relay: OutboxRelay) -> None:
    while await relay.publish_pending():
        pass


async def _published_values(bootstrap: str, topic: str, expect: int) -> list[str]:
    records = await read_topic(bootstrap, topic, expect=expect, timeout=30)
    return [r.value.decode() for r in sorted(records, key=lambda r: r.offset)]


async def _unpublished(database: Database) -> int:
    async with database.engine.connect() as connection:
        return (await connection.execute(
            select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None)))).scalar_one()


async def test_rows_left_in_the_table_and_rows_handed_over_are_published_once_in_order(relayed_outbox, kafka, topics):
    database, relay = relayed_outbox
    # Committed by a process that died before handing them over: only the table knows.
    left = [f"left-{i}" for i in range(6)]
    await _commit(database, topics["output"], left)
    handed = [f"handed-{i}" for i in range(10)]
    relay.hand_over(await _commit(database, topics["output"], handed))
    await _publish_all(relay)
    assert await _published_values(kafka.bootstrap, topics["output"], 16) == left + handed
    assert await _unpublished(database) == 0


async def test_rows_read_from_the_table_then_handed_over_are_not_published_twice(relayed_outbox, kafka, topics):
    database, relay = relayed_outbox
    names = [f"row-{i}" for i in range(7)]
    stored = await _commit(database, topics["output"], names)
    read_table = relay._unpublished_in_table

    async def hand_over_after_the_read():
        # The writer's hand-over lands while the relay's recovery read is in flight.
        batch = await read_table()
        if stored:
            relay.hand_over(stored.copy())
            stored.clear()
        return batch

    relay._unpublished_in_table = hand_over_after_the_read
    await _publish_all(relay)
    assert await _published_values(kafka.bootstrap, topics["output"], 7) == names
    assert await _unpublished(database) == 0


async def test_a_hand_over_that_arrives_after_the_rows_went_out_from_the_table_publishes_nothing_again(
        relayed_outbox, kafka, topics):
    # SQLite returns from a big commit only after its checkpoint: meanwhile the relay
    # can find the committed rows in the table and publish several batches of them.
    database, relay = relayed_outbox
    names = [f"row-{i}" for i in range(11)]
    stored = await _commit(database, topics["output"], names)
    await _publish_all(relay)  # all of them, from the table, before the hand-over
    relay.hand_over(stored)
    await _publish_all(relay)
    assert await _published_values(kafka.bootstrap, topics["output"], 11) == names
    assert await _unpublished(database) == 0
