"""The transactional outbox: events are inserted in the handler's transaction and
published afterwards by the relay, in insertion order, with an idempotent producer.

After a commit the writer hands the new rows (with their ids) to the relay, which
publishes them straight from memory; the table is read only to recover rows that
were committed but not published — after a start, or after a failed publish.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from collections_core import metrics
from collections_core.clock import Clock
from collections_core.database import Database
from collections_core.faults import BEFORE_PUBLISH, crash_point
from collections_core.inbox import driver_connection, sqlite_insert_many, sqlite_instant
from collections_core.logs import get_logger
from collections_core.storage import outbox

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]


StoredRecord = tuple[int, OutboxRecord]


# Headers are stored as text: latin-1 maps every byte to one code point. The usual
# form joins them with ASCII separators (several times cheaper than JSON for the
# hundred thousand events of a business day); headers that contain a separator or
# a NUL (which PostgreSQL text cannot hold) are stored as JSON, which never starts
# with the marker.
_MARK, _BETWEEN, _WITHIN = "\x1d", "\x1e", "\x1f"


def _pack_headers(headers: Sequence[tuple[str, bytes | None]]) -> str:
    if any(v is None for _, v in headers):
        # Kafka allows a null header value (a dead letter keeps its record's); only JSON can say null.
        return json.dumps([[k, None if v is None else v.decode("latin-1")] for k, v in headers])
    body = _BETWEEN.join([k + _WITHIN + v.decode("latin-1") for k, v in headers])
    if (body.count(_WITHIN) == len(headers) and body.count(_BETWEEN) == len(headers) - 1
            and _MARK not in body and "\x00" not in body):
        return _MARK + body
    return json.dumps([[k, v.decode("latin-1")] for k, v in headers])


def _unpack_headers(text: str) -> list[tuple[str, bytes | None]]:
    if text.startswith(_MARK):
        return [(k, v.encode("latin-1")) for k, v in (pair.split(_WITHIN) for pair in text[1:].split(_BETWEEN))]
    return [(k, None if v is None else v.encode("latin-1")) for k, v in json.loads(text)]


async def insert_records(connection: AsyncConnection, records: Sequence[OutboxRecord],
                         now: datetime) -> list[StoredRecord]:
    """Insert in order; returns each record with its id, for the relay."""
    if not records:
        return []
    if connection.dialect.name == "postgresql":
        return await _insert_postgresql(connection, records, now)
    # SQLite: the transaction began IMMEDIATE, so it holds the only write lock and
    # the next ids are known; giving them explicitly keeps the rows in order.
    first = (await connection.execute(select(func.coalesce(func.max(outbox.c.id), 0)))).scalar_one() + 1
    created_at = sqlite_instant(connection, outbox.c.created_at)(now)
    await sqlite_insert_many(connection, outbox, _COPY_COLUMNS, [
        (first + i, r.topic, r.key, r.value, _pack_headers(r.headers), created_at) for i, r in enumerate(records)])
    return list(enumerate(records, start=first))


async def _insert_postgresql(connection: AsyncConnection, records: Sequence[OutboxRecord],
                             now: datetime) -> list[StoredRecord]:
    # Ids drawn from the sequence up front, then one binary COPY: several times
    # cheaper than a multi-row INSERT ... RETURNING through SQLAlchemy.
    raw = await driver_connection(connection)
    ids = sorted(row[0] for row in await raw.fetch(
        "SELECT nextval(pg_get_serial_sequence('outbox', 'id')) FROM generate_series(1, $1)", len(records)))
    await raw.copy_records_to_table("outbox", columns=_COPY_COLUMNS, records=[
        (row_id, r.topic, r.key, r.value, _pack_headers(r.headers), now) for row_id, r in zip(ids, records)
    ])
    return list(zip(ids, records, strict=True))


_COPY_COLUMNS = ("id", "topic", "record_key", "record_value", "headers", "created_at")


class OutboxRelay:
    """Publishes outbox rows. One relay per service database keeps per-key order."""

    def __init__(self, database: Database, bootstrap_servers: str, service: str, clock: Clock,
                 batch_size: int = 2_000, poll_interval: float = 0.5, max_backoff: float = 10.0) -> None:
        self.database = database
        self.bootstrap_servers = bootstrap_servers
        self.service = service
        self.clock = clock
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self._handed_over: deque[StoredRecord] = deque()
        self._recovering = True  # until a read of the table finds nothing left to publish
        self._published_from_table: dict[int, None] = {}  # an insertion-ordered set
        self._remember_at_most = max(100_000, 50 * batch_size)
        self._wake = asyncio.Event()
        self._stopping = False
        self._producer: AIOKafkaProducer | None = None
        self._partitioner = DefaultPartitioner()
        self._partitions: dict[str, list[int]] = {}
        self._last_round = time.monotonic()

    def seconds_since_last_round(self) -> float:
        """Since the relay last finished a round without error (idle rounds count)."""
        return time.monotonic() - self._last_round

    def hand_over(self, committed: Sequence[StoredRecord]) -> None:
        """Rows whose transaction has committed; call in commit order."""
        self._handed_over.extend(committed)
        self._wake.set()

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap_servers, enable_idempotence=True, acks="all",
                linger_ms=5, max_batch_size=256 * 1024, request_timeout_ms=30_000,
                client_id=f"{self.service}-relay",
            )
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def _unpublished_in_table(self) -> list[StoredRecord]:
        query = (select(outbox.c.id, outbox.c.topic, outbox.c.record_key, outbox.c.record_value, outbox.c.headers)
                 .where(outbox.c.published_at.is_(None)).order_by(outbox.c.id).limit(self.batch_size))
        if self._handed_over:
            # Rows from the first handed-over one on are in memory already: reading
            # them again would publish them twice and cost a table scan per batch.
            query = query.where(outbox.c.id < self._handed_over[0][0])
        # A plain read: on SQLite it must not wait for the write lock that a long
        # batch transaction (a day's ageing) holds for minutes.
        async with self.database.reading() as connection:
            rows = (await connection.execute(query)).all()
        return [(r.id, OutboxRecord(r.topic, r.record_key, r.record_value, _unpack_headers(r.headers))) for r in rows]

    async def publish_pending(self) -> int:
        """Publish up to one batch; returns how many rows were published."""
        if self._recovering:
            batch = await self._unpublished_in_table()
            if batch:
                await self._publish(batch)
                self._remember_published_from_table(batch)
                return len(batch)
            self._recovering = False
        batch = self._next_handed_over()
        if batch:
            try:
                await self._publish(batch)
            except BaseException:
                # The rows are still unpublished in the table: read them back from there.
                self._recovering = True
                raise
        metrics.OUTBOX_BACKLOG.labels(self.service).set(len(self._handed_over))
        return len(batch)

    def _remember_published_from_table(self, batch: list[StoredRecord]) -> None:
        # A writer's commit is visible before its hand-over arrives (SQLite returns
        # from a big commit only after checkpointing), so a read can publish rows that
        # are handed over moments later: remember the latest ones and skip them then.
        remembered = self._published_from_table
        remembered.update((row_id, None) for row_id, _ in batch)
        while len(remembered) > self._remember_at_most:
            del remembered[next(iter(remembered))]

    def _next_handed_over(self) -> list[StoredRecord]:
        batch, skip = [], self._published_from_table
        while self._handed_over and len(batch) < self.batch_size:
            row = self._handed_over.popleft()
            if skip and row[0] in skip:
                del skip[row[0]]
            else:
                batch.append(row)
        return batch

    async def _publish(self, batch: list[StoredRecord]) -> None:
        crash_point(BEFORE_PUBLISH)
        producer = await self._ensure_producer()
        deliveries = []
        for (topic, partition), records in (await self._by_partition(producer, batch)).items():
            # Whole record batches per partition, in order: far less per-record work
            # than one send() each, and the idempotent producer keeps their order.
            builder = producer.create_batch()
            for record in records:
                if builder.append(key=record.key, value=record.value, timestamp=None, headers=record.headers) is None:
                    deliveries.append(await producer.send_batch(builder, topic, partition=partition))
                    builder = producer.create_batch()
                    builder.append(key=record.key, value=record.value, timestamp=None, headers=record.headers)
            deliveries.append(await producer.send_batch(builder, topic, partition=partition))
        await asyncio.gather(*deliveries)
        ids = [row_id for row_id, _ in batch]
        first, last = min(ids), max(ids)
        # Usually one writer's rows, consecutive: a range is far cheaper than a list of ids.
        which = outbox.c.id.between(first, last) if last - first + 1 == len(ids) else outbox.c.id.in_(ids)
        async with self.database.transaction() as connection:
            await connection.execute(update(outbox).where(which).values(published_at=self.clock.now()))
        for topic, count in Counter(r.topic for _, r in batch).items():
            metrics.EVENTS_PUBLISHED.labels(self.service, topic).inc(count)

    async def _by_partition(self, producer: AIOKafkaProducer,
                            batch: list[StoredRecord]) -> dict[tuple[str, int], list[OutboxRecord]]:
        """Group records by the partition Kafka's default partitioner gives their key."""
        grouped: dict[tuple[str, int], list[OutboxRecord]] = {}
        chosen: dict[tuple[str, bytes | None], int] = {}  # an account's events often travel together
        for _, record in batch:
            partition = chosen.get((record.topic, record.key))
            if partition is None:
                partitions = self._partitions.get(record.topic)
                if partitions is None:
                    partitions = self._partitions[record.topic] = sorted(await producer.partitions_for(record.topic))
                partition = chosen[record.topic, record.key] = self._partitioner(record.key, partitions, partitions)
            grouped.setdefault((record.topic, partition), []).append(record)
        return grouped

    async def backlog(self) -> int:
        async with self.database.reading() as connection:
            return (await connection.execute(
                select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
            )).scalar_one()

    async def run(self) -> None:
        backoff = 0.1
        while not self._stopping:
            try:
                published = await self.publish_pending()
                self._last_round = time.monotonic()
                backoff = 0.1
                if published:
                    continue
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self._recovering = True
                log.warning("outbox relay failed, retrying", error=type(error).__name__, detail=str(error)[:200],
                            retry_in=backoff)
                await self._reset_producer()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)
            except TimeoutError:
                # Idle: look in the table too, for rows no hand-over announced.
                self._recovering = True

    async def _reset_producer(self) -> None:
        # A producer that lost the broker may hold sends in an unknown state; a fresh
        # one re-reads unsent rows from the table, so nothing is lost (duplicates are
        # absorbed by consumers' inboxes through the unchanged ce_id).
        producer, self._producer = self._producer, None
        self._partitions.clear()  # partition counts may have changed meanwhile
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), timeout=5)
            except Exception:
                pass

    async def drain(self, timeout: float = 10.0) -> None:
        """Publish what is pending before shutdown, within a bound."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            try:
                if await self.publish_pending() == 0:
                    return
            except Exception:
                return

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        await self._reset_producer()
