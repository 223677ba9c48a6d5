"""The outbox relay against a real broker, on SQLite and PostgreSQL: rows it must
recover from the table and rows handed over in memory are each published once,
in order, and marked published; a row the broker refuses for good is set aside
without wedging or reordering the rest; the hand-over queue is bounded; where
replicas share a database only the lease holder publishes, every replica's rows."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

import pytest
from local_kafka import create_topic
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from collections_core.clock import SystemClock
from collections_core.database import Database
from collections_core.leases import Lease
from collections_core.outbox import OutboxRecord, OutboxRelay, insert_records
from collections_core.storage import metadata, outbox
from support import read_topic

pytestmark = pytest.mark.integration

# Above the relay's record batches (256 KiB), below the broker's own limit (1 MiB).
TOPIC_LIMIT = 300_000
TOO_LARGE = b"x" * 400_000


@pytest.fixture
async def outbox_database(database_url):
    database = Database(database_url)
    async with database.transaction() as connection:
        await connection.run_sync(metadata.create_all)
    yield database
    await database.dispose()


@pytest.fixture
async def relayed_outbox(outbox_database, kafka, topics):
    """A fresh outbox table and a relay over it that publishes four rows a round."""
    relay = OutboxRelay(outbox_database, kafka.bootstrap, topics["service"], SystemClock(), batch_size=4)
    yield outbox_database, relay
    await relay.stop()


@pytest.fixture
async def strict_topic(kafka):
    """Three partitions, records up to TOPIC_LIMIT bytes."""
    name = f"strict.{uuid.uuid4().hex[:8]}"
    await create_topic(kafka.bootstrap, name, 3, {"max.message.bytes": str(TOPIC_LIMIT)})
    return name


async def _commit(database: Database, topic: str, names: list[str], key: bytes = b"one-key"):
    records = [OutboxRecord(topic, key, name.encode(), [("ce_id", name.encode())]) for name in names]
    async with database.transaction() as connection:
        return await insert_records(connection, records, datetime.now(UTC))


async def _commit_records(database: Database, records: list[OutboxRecord]):
    async with database.transaction() as connection:
        return await insert_records(connection, records, datetime.now(UTC))


async def _eventually(probe, timeout: float = 90.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await probe():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what} not reached in {timeout}s")


async def _waiting_and_set_aside(database: Database) -> tuple[int, int]:
    async with database.engine.connect() as connection:
        rows = (await connection.execute(select(outbox.c.published_at, outbox.c.set_aside_at))).all()
    return (sum(1 for r in rows if r.published_at is None and r.set_aside_at is None),
            sum(1 for r in rows if r.set_aside_at is not None))


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


async def test_a_row_the_broker_refuses_for_good_is_set_aside_and_the_rest_keep_flowing_in_order_per_key(
        outbox_database, kafka, topics, strict_topic):
    database = outbox_database
    relay = OutboxRelay(database, kafka.bootstrap, topics["service"], SystemClock(), batch_size=50,
                        poll_interval=0.05, max_backoff=0.2, attempts_before_set_aside=3)
    records = [OutboxRecord(strict_topic, f"account-{i % 5}".encode(), f"account-{i % 5}/{i}".encode(), [])
               for i in range(30)]
    records[7] = OutboxRecord(strict_topic, b"account-2", TOO_LARGE, [("ce_id", b"too-large")])
    relay.hand_over(await _commit_records(database, records))
    labels = {"service": topics["service"], "topic": strict_topic, "refusal": "MessageSizeTooLargeError"}
    task = asyncio.create_task(relay.run())
    try:
        await _eventually(lambda: _settled(database), what="every row published or set aside")
    finally:
        await relay.stop()
        task.cancel()
    published = await read_topic(kafka.bootstrap, strict_topic, expect=29, timeout=30)
    values = [r.value.decode() for r in sorted(published, key=lambda r: (r.partition, r.offset))]
    assert sorted(values) == sorted(r.value.decode() for i, r in enumerate(records) if i != 7), "each once"
    for key in {r.key for r in published}:
        in_partition = [r for r in sorted(published, key=lambda r: r.offset) if r.key == key]
        numbers = [int(r.value.decode().split("/")[1]) for r in in_partition]
        assert numbers == sorted(numbers), f"{key} in order"
    async with database.engine.connect() as connection:
        [refused] = (await connection.execute(select(outbox).where(outbox.c.set_aside_at.is_not(None)))).all()
    assert refused.record_value == TOO_LARGE and refused.attempts == 3
    assert refused.refusal.startswith("MessageSizeTooLargeError")
    assert REGISTRY.get_sample_value("cc_outbox_set_aside_total", labels) == 1


async def _settled(database: Database) -> bool:
    return await _waiting_and_set_aside(database) == (0, 1)


async def test_a_refused_early_batch_is_never_overtaken_by_a_later_one_of_the_same_partition(
        outbox_database, kafka, topics, strict_topic):
    # One key, rows of 60 KB: a round is several record batches for one partition.
    # The third batch is refused; today the batches after it went out before it.
    database = outbox_database
    relay = OutboxRelay(database, kafka.bootstrap, topics["service"], SystemClock(), batch_size=100,
                        poll_interval=0.05, max_backoff=0.2, attempts_before_set_aside=2)
    values = [f"{i:04d}".encode() + b"." * 60_000 for i in range(16)]
    values[5] = TOO_LARGE
    records = [OutboxRecord(strict_topic, b"one-account", value, []) for value in values]
    relay.hand_over(await _commit_records(database, records))
    task = asyncio.create_task(relay.run())
    try:
        await _eventually(lambda: _settled(database), what="every row published or set aside")
    finally:
        await relay.stop()
        task.cancel()
    published = await read_topic(kafka.bootstrap, strict_topic, expect=15, timeout=30)
    assert [r.value[:4].decode() for r in sorted(published, key=lambda r: r.offset)] == [
        f"{i:04d}" for i in range(16) if i != 5], "in order, each once, the refused one left out"


async def test_the_hand_over_queue_is_bounded_and_what_it_dropped_comes_from_the_table(
        outbox_database, kafka, topics):
    database = outbox_database
    relay = OutboxRelay(database, kafka.bootstrap, topics["service"], SystemClock(), batch_size=4, queue_limit=5)
    names = []
    try:
        for round_ in range(3):
            batch = [f"r{round_}-{i}" for i in range(4)]
            names += batch
            relay.hand_over(await _commit(database, topics["output"], batch))
            assert len(relay._handed_over) <= 5
            # The gauge counts what waits from the hand-over on, before the relay looks.
            assert REGISTRY.get_sample_value("cc_outbox_backlog", {"service": topics["service"]}) == len(
                relay._handed_over)
        await _publish_all(relay)
    finally:
        await relay.stop()
    assert await _published_values(kafka.bootstrap, topics["output"], 12) == names
    assert await _unpublished(database) == 0


async def test_a_row_set_aside_neither_counts_as_backlog_nor_holds_readiness_down(database_url, kafka, topics):
    from pathlib import Path

    from collections_core.migrations import upgrade
    from collections_core.service import ServiceRuntime
    from collections_core.settings import ServiceSettings

    settings = ServiceSettings(service_name=topics["service"], database_url=database_url,
                               kafka_bootstrap_servers=kafka.bootstrap)
    runtime = ServiceRuntime(settings, topics=[], handlers={}, migrations=Path(__file__).parent / "ledger_migrations")
    try:
        await upgrade(runtime.database, runtime.migrations)
        [(set_aside, _)] = await _commit(runtime.database, topics["output"], ["refused"])
        async with runtime.database.transaction() as connection:
            await connection.execute(outbox.update().where(outbox.c.id == set_aside).values(
                set_aside_at=datetime.now(UTC), attempts=5))
        assert await runtime.relay.backlog() == 0
        assert await runtime._oldest_unpublished_age() == 0.0
        await _commit(runtime.database, topics["output"], ["waiting"])
        assert await runtime.relay.backlog() == 1
    finally:
        await runtime.database.dispose()
        await runtime.batch_database.dispose()


async def test_where_replicas_share_a_database_only_the_lease_holder_publishes_every_replicas_rows(
        outbox_database, kafka, topics):
    database = outbox_database
    replicas = [OutboxRelay(database, kafka.bootstrap, topics["service"], SystemClock(), batch_size=4,
                            poll_interval=0.05, lease=Lease(database, "outbox-relay", name, ttl_seconds=30))
                for name in ("replica-a", "replica-b")]
    first, second = replicas
    assert await first.lease.hold()
    tasks = [asyncio.create_task(relay.run()) for relay in replicas]
    expected = {}
    try:
        for round_ in range(3):
            for relay, name in zip(replicas, ("a", "b")):
                batch = [f"{name}-{round_}-{i}" for i in range(3)]
                expected.setdefault(name, []).extend(batch)
                relay.hand_over(await _commit(database, topics["output"], batch, key=name.encode()))
        await _eventually(lambda: _all_published(database), what="every row published")
    finally:
        for relay in replicas:
            await relay.stop()
        for task in tasks:
            task.cancel()
    published = await read_topic(kafka.bootstrap, topics["output"], expect=18, timeout=30)
    for name, values in expected.items():
        assert [r.value.decode() for r in sorted(published, key=lambda r: r.offset) if r.key == name.encode()
                ] == values, f"replica {name}'s rows once each, in order"
    assert second._producer is None and not await second.lease.hold(), "the other replica never published"


async def _all_published(database: Database) -> bool:
    return await _unpublished(database) == 0
