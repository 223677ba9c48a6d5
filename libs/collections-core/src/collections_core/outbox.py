"""The transactional outbox: events are inserted in the handler's transaction and
published afterwards by the relay, in insertion order, with an idempotent producer.

After a commit the writer hands the new rows (with their ids) to the relay, which
publishes them straight from memory; the table is read only to recover rows that
were committed but not published — after a start, after a failed publish, when the
bounded hand-over queue overflowed, or rows another replica committed.

Per key, order holds under partial failure: a partition's batches are sent one
after the other, each acknowledged before the next, and the first failure stops
that partition for the round, so a later batch never overtakes an earlier one.
A row the broker refuses for good (too large, unknown topic, not authorised) is
counted, and after N refusals set aside (``set_aside_at``) with a metric and a log
line, so that it cannot wedge the rows behind it.
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
from aiokafka.errors import (
    InvalidTopicError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)
from aiokafka.partitioner import DefaultPartitioner
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from collections_core import metrics
from collections_core.clock import Clock
from collections_core.database import Database
from collections_core.faults import BEFORE_PUBLISH, crash_point
from collections_core.inbox import driver_connection, sqlite_insert_many, sqlite_instant
from collections_core.leases import Lease
from collections_core.logs import get_logger
from collections_core.rest import rest
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
    try:
        body = _BETWEEN.join([k + _WITHIN + v.decode("latin-1") for k, v in headers])
    except AttributeError:
        # Kafka allows a null header value (a dead letter keeps its record's); only JSON can say null.
        return json.dumps([[k, None if v is None else v.decode("latin-1")] for k, v in headers])
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
    if len(records) == 1:
        return await _insert_one(connection, records[0], now)
    if connection.dialect.name == "postgresql":
        return await _insert_postgresql(connection, records, now)
    # SQLite: the transaction began IMMEDIATE, so it holds the only write lock and
    # the next ids are known; giving them explicitly keeps the rows in order.
    first = (await connection.execute(select(func.coalesce(func.max(outbox.c.id), 0)))).scalar_one() + 1
    created_at = sqlite_instant(connection, outbox.c.created_at)(now)
    await sqlite_insert_many(connection, outbox, _COPY_COLUMNS, [
        (first + i, r.topic, r.key, r.value, _pack_headers(r.headers), created_at) for i, r in enumerate(records)])
    return list(enumerate(records, start=first))


async def _insert_one(connection: AsyncConnection, record: OutboxRecord, now: datetime) -> list[StoredRecord]:
    # One event (an API write's usual case): one INSERT ... RETURNING id on the driver is
    # one round trip, where the batch paths take two (SQLite: max(id) then the insert;
    # PostgreSQL: nextval then COPY). The ids come as before: on SQLite the next after the
    # largest, under the write lock BEGIN IMMEDIATE took; on PostgreSQL from the sequence.
    raw = await driver_connection(connection)
    values = (record.topic, record.key, record.value, _pack_headers(record.headers))
    if connection.dialect.name == "postgresql":
        row_id = await raw.fetchval(_INSERT_ONE_POSTGRESQL, *values, now)
    else:
        created_at = sqlite_instant(connection, outbox.c.created_at)(now)
        row_id = (await raw.execute_fetchall(_INSERT_ONE_SQLITE, (*values, created_at)))[0][0]
    return [(row_id, record)]


_INSERT_ONE = "INSERT INTO outbox (topic, record_key, record_value, headers, created_at) VALUES ({}) RETURNING id"
_INSERT_ONE_SQLITE = _INSERT_ONE.format("?, ?, ?, ?, ?")
_INSERT_ONE_POSTGRESQL = _INSERT_ONE.format("$1, $2, $3, $4, $5")


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


# What the broker answers about a record itself: trying again cannot succeed.
REFUSED_FOR_GOOD = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError, InvalidTopicError,
                    TopicAuthorizationFailedError, UnknownTopicOrPartitionError)

Partition = tuple[str, int]
# A partition's send that stopped: the rows of the batch the broker did not take, and why.
Stopped = tuple[Partition, list[StoredRecord], BaseException]


def waiting_to_publish():
    """Outbox rows the relay still has to publish: not published, not set aside."""
    return outbox.c.published_at.is_(None) & outbox.c.set_aside_at.is_(None)


class PartlyUnpublished(Exception):
    """Some rows of a round were not published; they stay in the table for the next one."""


class OutboxRelay:
    """Publishes outbox rows. One relay per database publishes at a time: where
    replicas share one, the holder of ``lease`` (decision 0020)."""

    def __init__(self, database: Database, bootstrap_servers: str, service: str, clock: Clock,
                 batch_size: int = 2_000, poll_interval: float = 0.5, max_backoff: float = 10.0,
                 attempts_before_set_aside: int = 5, queue_limit: int = 250_000, lease: Lease | None = None) -> None:
        self.database = database
        self.bootstrap_servers = bootstrap_servers
        self.service = service
        self.clock = clock
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.attempts_before_set_aside = attempts_before_set_aside
        self.queue_limit = queue_limit
        self.lease = lease
        self._handed_over: deque[StoredRecord] = deque()
        self._recovering = True  # until a read of the table finds nothing left to publish
        self._next_sweep = 0.0
        self._published_from_table: dict[int, None] = {}  # an insertion-ordered set
        self._remember_at_most = max(100_000, 50 * batch_size)
        self._one_at_a_time: set[Partition] = set()
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
        if len(self._handed_over) + len(committed) > self.queue_limit:
            # Bounded memory: every one of these rows is in the table, read them from there.
            self._handed_over.clear()
            self._recovering = True
        else:
            self._handed_over.extend(committed)
        # At once, not when the relay next looks: a quiet check must not read 0 meanwhile.
        metrics.OUTBOX_BACKLOG.labels(self.service).set(len(self._handed_over))
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
                 .where(waiting_to_publish()).order_by(outbox.c.id).limit(self.batch_size))
        if self._handed_over:
            # Rows from the first handed-over one on are in memory already: reading
            # them again would publish them twice and cost a table scan per batch.
            query = query.where(outbox.c.id < self._handed_over[0][0])
        # A plain read: on SQLite it must not wait for the write lock that a long
        # batch transaction (a day's aging) holds for minutes.
        async with self.database.reading() as connection:
            rows = (await connection.execute(query)).all()
        return [(r.id, OutboxRecord(r.topic, r.record_key, r.record_value, _unpack_headers(r.headers))) for r in rows]

    async def publish_pending(self) -> int:
        """Publish up to one batch; returns how many rows were published."""
        if self.lease is not None and not await self.lease.hold():
            # Another replica publishes, and finds this one's rows in the table.
            self._handed_over.clear()
            self._recovering = True
            return 0
        if self.lease is not None and time.monotonic() >= self._next_sweep:
            # Busy with its own rows, the holder still looks for other replicas' now and then.
            self._recovering = True
        if self._recovering:
            batch = await self._unpublished_in_table()
            if batch:
                await self._publish(batch, from_table=True)
                return len(batch)
            self._recovering = False
            self._next_sweep = time.monotonic() + self.poll_interval
        batch = self._next_handed_over()
        if batch:
            try:
                await self._publish(batch, from_table=False)
            except BaseException:
                # The rows are still unpublished in the table: read them back from there.
                self._recovering = True
                raise
        metrics.OUTBOX_BACKLOG.labels(self.service).set(len(self._handed_over))
        return len(batch)

    def _remember_published_from_table(self, row_ids: list[int]) -> None:
        # A writer's commit is visible before its hand-over arrives (SQLite returns
        # from a big commit only after checkpointing), so a read can publish rows that
        # are handed over moments later: remember the latest ones and skip them then.
        remembered = self._published_from_table
        remembered.update((row_id, None) for row_id in row_ids)
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

    async def _publish(self, batch: list[StoredRecord], from_table: bool) -> None:
        """Send every partition's rows in order; mark what the broker acknowledged;
        count refusals; raise PartlyUnpublished when anything was left behind."""
        crash_point(BEFORE_PUBLISH)
        producer = await self._ensure_producer()
        grouped, refused = await self._by_partition(producer, batch)
        outcomes = await asyncio.gather(*(self._send_in_order(producer, partition, rows)
                                          for partition, rows in grouped.items()))
        published = [row for sent, _ in outcomes for row in sent]
        if published:
            await self._mark_published(published)
            if from_table:
                self._remember_published_from_table([row_id for row_id, _ in published])
        stopped = [stop for _, stop in outcomes if stop is not None]
        for partition, rows, error in stopped:
            if isinstance(error, REFUSED_FOR_GOOD):
                if len(rows) == 1:
                    refused.append((rows[0], error))
                else:
                    # Which of them? Send them one at a time until the refused one is alone.
                    self._one_at_a_time.add(partition)
        if refused:
            await self._count_refusals(refused)
        if stopped or refused:
            first = stopped[0][2] if stopped else refused[0][1]
            raise PartlyUnpublished(f"{len(batch) - len(published)} of {len(batch)} rows left for the next round "
                                    f"({type(first).__name__}: {first})") from first

    async def _send_in_order(self, producer: AIOKafkaProducer, partition: Partition, rows: list[StoredRecord]
                             ) -> tuple[list[StoredRecord], Stopped | None]:
        """Whole record batches (far less per-record work than one send() each), each
        acknowledged before the next is sent; stops at the first failure."""
        topic, number = partition
        alone = partition in self._one_at_a_time
        sent: list[StoredRecord] = []
        pending: list[StoredRecord] = []
        builder = producer.create_batch()

        async def send() -> BaseException | None:
            nonlocal builder
            try:
                await (await producer.send_batch(builder, topic, partition=number))
            except asyncio.CancelledError:
                raise
            except Exception as error:
                return error
            sent.extend(pending)
            pending.clear()
            builder = producer.create_batch()
            return None

        for row in rows:
            record = row[1]
            if (alone and pending) or builder.append(
                    key=record.key, value=record.value, timestamp=None, headers=record.headers) is None:
                if (error := await send()) is not None:
                    return sent, (partition, pending, error)
                builder.append(key=record.key, value=record.value, timestamp=None, headers=record.headers)
            pending.append(row)
        if pending and (error := await send()) is not None:
            return sent, (partition, pending, error)
        self._one_at_a_time.discard(partition)
        return sent, None

    async def _mark_published(self, published: list[StoredRecord]) -> None:
        ids = [row_id for row_id, _ in published]
        first, last = min(ids), max(ids)
        # Usually one writer's rows, consecutive: a range is far cheaper than a list of ids.
        which = outbox.c.id.between(first, last) if last - first + 1 == len(ids) else outbox.c.id.in_(ids)
        async with self.database.transaction() as connection:
            await connection.execute(update(outbox).where(which).values(published_at=self.clock.now()))
        for topic, count in Counter(r.topic for _, r in published).items():
            metrics.EVENTS_PUBLISHED.labels(self.service, topic).inc(count)

    async def _count_refusals(self, refused: list[tuple[StoredRecord, BaseException]]) -> None:
        now = self.clock.now()
        async with self.database.transaction() as connection:
            for (row_id, record), error in refused:
                refusal = f"{type(error).__name__}: {error}"[:500]
                attempts = (await connection.execute(
                    update(outbox).where(outbox.c.id == row_id)
                    .values(attempts=outbox.c.attempts + 1, refusal=refusal).returning(outbox.c.attempts)
                )).scalar_one()
                if attempts < self.attempts_before_set_aside:
                    continue
                await connection.execute(update(outbox).where(outbox.c.id == row_id).values(set_aside_at=now))
                metrics.OUTBOX_SET_ASIDE.labels(self.service, record.topic, type(error).__name__).inc()
                # No key, value or headers: they may carry customer data.
                log.error("outbox row set aside: the broker refused it for good", outbox_id=row_id,
                          topic=record.topic, attempts=attempts, refusal=type(error).__name__)

    async def _by_partition(self, producer: AIOKafkaProducer, batch: list[StoredRecord]
                            ) -> tuple[dict[Partition, list[StoredRecord]], list[tuple[StoredRecord, BaseException]]]:
        """Rows grouped by the partition Kafka's default partitioner gives their key,
        in order; and the rows of topics the broker does not have or lets us write."""
        grouped: dict[Partition, list[StoredRecord]] = {}
        refused: list[tuple[StoredRecord, BaseException]] = []
        unknown: dict[str, BaseException] = {}
        chosen: dict[tuple[str, bytes | None], int] = {}  # an account's events often travel together
        for row in batch:
            record = row[1]
            if record.topic in unknown:
                refused.append((row, unknown[record.topic]))
                continue
            partition = chosen.get((record.topic, record.key))
            if partition is None:
                partitions = self._partitions.get(record.topic)
                if partitions is None:
                    try:
                        partitions = await self._partitions_of(producer, record.topic)
                    except REFUSED_FOR_GOOD as error:
                        unknown[record.topic] = error
                        refused.append((row, error))
                        continue
                partition = chosen[record.topic, record.key] = self._partitioner(record.key, partitions, partitions)
            grouped.setdefault((record.topic, partition), []).append(row)
        return grouped, refused

    async def _partitions_of(self, producer: AIOKafkaProducer, topic: str) -> list[int]:
        try:
            partitions = self._partitions[topic] = sorted(await producer.partitions_for(topic))
            return partitions
        except UnknownTopicOrPartitionError:
            # The same error when the broker is away: unknown for good only if the
            # cluster answers and lists no such topic (raises otherwise: transient).
            cluster = await producer.client.fetch_all_metadata()
            if topic in cluster.topics():
                raise PartlyUnpublished(f"no partitions yet for topic {topic}") from None
            raise

    async def backlog(self) -> int:
        """Rows waiting to be published (set-aside rows are not waiting)."""
        async with self.database.reading() as connection:
            return (await connection.execute(select(func.count()).select_from(outbox).where(waiting_to_publish()))
                    ).scalar_one()

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
            if not await rest(self._wake, self.poll_interval):
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
