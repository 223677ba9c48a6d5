"""Pruning: published outbox rows and inbox ids older than the retention go.

An inbox id only matters while its event can still be redelivered, and a published
outbox row only while someone may want to see what went out: both for as long as
the topics keep their records. The retention (default 35 days) must therefore be
longer than the topics' retention. Deletes run in bounded batches, each its own
short transaction, so neither engine holds a long lock. Rows still waiting to be
published, and rows set aside, are never pruned.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from collections_core import metrics
from collections_core.clock import Clock
from collections_core.database import Database
from collections_core.leases import Lease
from collections_core.logs import get_logger
from collections_core.storage import inbox, outbox

log = get_logger(__name__)


class Retention:
    def __init__(self, database: Database, clock: Clock, service: str, keep: timedelta, batch_size: int = 5_000,
                 interval_seconds: float = 3_600.0, lease: Lease | None = None) -> None:
        self.database = database
        self.clock = clock
        self.service = service
        self.keep = keep
        self.batch_size = batch_size
        self.interval_seconds = interval_seconds
        self.lease = lease

    async def prune(self) -> dict[str, int]:
        """Delete everything past the retention now; returns rows deleted per table."""
        cutoff = self.clock.now() - self.keep
        pruned = {
            "outbox": await self._prune(outbox, outbox.c.id, outbox.c.published_at < cutoff),
            "inbox": await self._prune(inbox, inbox.c.event_id, inbox.c.received_at < cutoff),
        }
        if any(pruned.values()):
            log.info("pruned past retention", retention_days=self.keep.days, **pruned)
        return pruned

    async def _prune(self, table: Table, key, expired) -> int:
        total = 0
        while True:
            async with self.database.transaction() as connection:
                deleted = await self._delete_batch(connection, table, key, expired)
            total += deleted
            metrics.ROWS_PRUNED.labels(self.service, table.name).inc(deleted)
            if deleted < self.batch_size:
                return total
            await asyncio.sleep(0)  # let the service's own work in between batches

    async def _delete_batch(self, connection: AsyncConnection, table: Table, key, expired) -> int:
        batch = select(key).where(expired).limit(self.batch_size).scalar_subquery()
        return (await connection.execute(delete(table).where(key.in_(batch)))).rowcount

    async def run(self) -> None:
        """Prune now and then, on one replica at a time; a failure waits for the next turn."""
        while True:
            try:
                if self.lease is None or await self.lease.hold():
                    await self.prune()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("pruning failed, will retry", error=type(error).__name__, detail=str(error)[:200])
            await asyncio.sleep(self.interval_seconds)
