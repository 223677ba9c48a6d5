"""What a handler gets: one open transaction, the clock, and a way to emit events.

Emitted events become outbox rows in the same transaction, so they exist if and
only if the handler's effects were committed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncConnection

from collections_core.clock import Clock
from collections_core.codec import Event, EventCodec
from collections_core.database import Database
from collections_core.outbox import OutboxRecord, StoredRecord, insert_records
from collections_core.tracing import TraceContext


class UnitOfWork:
    def __init__(self, connection: AsyncConnection, codec: EventCodec, clock: Clock, cause: Event | None = None,
                 now: datetime | None = None) -> None:
        self.connection = connection
        self.clock = clock
        # One instant per transaction: every event it emits carries the same ce_time.
        self.now = now or clock.now()
        self.cause = cause
        self.records: list[OutboxRecord] = []
        self._codec = codec
        self._trace = cause.trace if cause else TraceContext.new()

    def emit(self, topic: str, message: Message, key: str, subject: str | None = None,
             event_id: str | None = None, cause: Event | None = None) -> str:
        """Queue an event for the outbox; returns its ce_id. ``cause``: which event of
        a batch this one follows from (its trace), when a batch handler emits."""
        trace = cause.trace if cause is not None else self._trace
        headers, value = self._codec.encode(message, subject or key, self.now, trace.child(), event_id)
        self.records.append(OutboxRecord(topic, key.encode(), value, headers))
        return headers[1][1].decode()  # ce_id

    async def flush(self) -> list[StoredRecord]:
        """Insert the queued events; hand the result to the relay once committed."""
        stored = await insert_records(self.connection, self.records, self.now)
        self.records.clear()
        return stored


def unit_of_work_factory(database: Database, codec: EventCodec, clock: Clock,
                         on_commit: Callable[[list[StoredRecord]], None]) -> Callable[[], AsyncIterator[UnitOfWork]]:
    """For HTTP handlers: one transaction, outbox rows included, handed to the relay after commit."""

    @asynccontextmanager
    async def unit_of_work() -> AsyncIterator[UnitOfWork]:
        async with database.transaction() as connection:
            work = UnitOfWork(connection, codec, clock)
            yield work
            stored = await work.flush()
        on_commit(stored)

    return unit_of_work
