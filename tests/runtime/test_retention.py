"""Pruning on SQLite and PostgreSQL: published outbox rows and inbox ids past the
retention go, in bounded batches; rows still waiting or set aside stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from collections_core.clock import ControlledClock
from collections_core.database import Database
from collections_core.retention import Retention
from collections_core.storage import inbox, metadata, outbox

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 2, 9, tzinfo=UTC)


@pytest.fixture
async def database(database_url):
    database = Database(database_url)
    async with database.transaction() as connection:
        await connection.run_sync(metadata.create_all)
    yield database
    await database.dispose()


def _outbox_row(name: str, created: datetime, published: datetime | None, set_aside: datetime | None = None):
    return dict(topic="t", record_key=b"k", record_value=name.encode(), headers="[]", created_at=created,
                published_at=published, set_aside_at=set_aside)


def _inbox_row(event_id: str, received: datetime):
    return dict(event_id=event_id, ce_type="x", topic="t", kafka_partition=0, kafka_offset=0, outcome="handled",
                received_at=received)


async def test_published_rows_and_inbox_ids_past_the_retention_are_pruned_in_batches(database):
    old, recent = NOW - timedelta(days=40), NOW - timedelta(days=3)
    async with database.transaction() as connection:
        await connection.execute(insert(outbox), [
            *[_outbox_row(f"old-published-{i}", old, old) for i in range(5)],
            _outbox_row("recent-published", recent, recent),
            _outbox_row("old-waiting", old, None),
            _outbox_row("old-set-aside", old, None, set_aside=old),
        ])
        await connection.execute(insert(inbox), [
            *[_inbox_row(f"old-{i}", old) for i in range(7)], _inbox_row("recent", recent)])
    retention = Retention(database, ControlledClock(NOW), "pruning-test", keep=timedelta(days=35), batch_size=2)
    assert await retention.prune() == {"outbox": 5, "inbox": 7}
    async with database.engine.connect() as connection:
        kept = sorted(v.decode() for v in (await connection.execute(select(outbox.c.record_value))).scalars())
        ids = sorted((await connection.execute(select(inbox.c.event_id))).scalars())
    assert kept == ["old-set-aside", "old-waiting", "recent-published"]
    assert ids == ["recent"]
    assert await retention.prune() == {"outbox": 0, "inbox": 0}
