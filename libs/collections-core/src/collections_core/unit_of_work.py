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
from collections_core.logs import get_logger
from collections_core.outbox import OutboxRecord, StoredRecord, insert_records
from collections_core.tracing import TraceContext

log = get_logger(__name__)


class UnitOfWork:
    def __init__(self, connection: AsyncConnection, codec: EventCodec, clock: Clock, cause: Event | None = None,
                 now: datetime | None = None) -> None:
        self.connection = connection
        self.clock = clock
        # One instant per transaction: every event it emits carries the same ce_time.
        self.now = now or clock.now()
        self.cause = cause
        self.records: list[OutboxRecord] = []
        self.flushed: list[StoredRecord] = []  # every row this unit of work wrote, for the relay
        self.committed: list[Callable[[], None]] = []
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

    def when_committed(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the transaction has committed, never if it rolls back:
        an in-process hand-off of what the transaction made durable (a crash before the
        call loses only the hand-off, so what it hands must also be found in the store)."""
        self.committed.append(callback)

    async def flush(self) -> list[StoredRecord]:
        """Insert the queued events (a long job flushes page by page); returns the rows
        this flush wrote. ``flushed`` keeps them all for the relay, after the commit."""
        stored = await insert_records(self.connection, self.records, self.now)
        self.records.clear()
        self.flushed += stored
        return stored


def unit_of_work_factory(database: Database, codec: EventCodec, clock: Clock,
                         on_commit: Callable[[list[StoredRecord]], None]) -> Callable[[], AsyncIterator[UnitOfWork]]:
    """For HTTP handlers: one transaction, outbox rows included, handed to the relay after commit."""

    @asynccontextmanager
    async def unit_of_work() -> AsyncIterator[UnitOfWork]:
        async with database.transaction() as connection:
            work = UnitOfWork(connection, codec, clock)
            yield work
            await work.flush()
        on_commit(work.flushed)
        run_committed(work.committed)

    return unit_of_work


def run_committed(callbacks: list[Callable[[], None]]) -> None:
    """The callbacks of committed units of work; one that fails is logged, not raised:
    the transaction stands, and what a callback hands over is also in the store."""
    for callback in callbacks:
        try:
            callback()
        except Exception as error:
            log.error("after-commit callback failed", callback=getattr(callback, "__qualname__", repr(callback)),
                      error=type(error).__name__)
