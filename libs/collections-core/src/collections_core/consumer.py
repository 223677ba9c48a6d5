"""The consumer runner: at-least-once delivery from Kafka, exactly-once effects.

For each poll batch: decode every record, open ONE database transaction, skip
events the inbox has already seen, run each handler, record every event id in the
inbox and every emitted event in the outbox, commit, and only then commit the
Kafka offsets. A crash anywhere redelivers the batch and the inbox makes the
replay a no-op. See docs/decisions/0001-one-transaction-per-poll-batch.md.

Failures:
- poison (undecodable, unknown ce_type, ``Rejected`` by a handler): dead-lettered
  through the outbox with its reason in headers; the partition moves on.
- transient (database or network down): the batch is retried with backoff, never
  skipped; readiness reports the dependency down meanwhile.
- anything else (a bug): the batch is re-run one event per transaction to isolate
  the event; it is retried a few times and then dead-lettered, so one bad event
  cannot stall a partition forever, and it is kept for replay in the DLQ.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from collections_core import inbox, metrics
from collections_core.clock import Clock
from collections_core.codec import Event, EventCodec, PoisonRecord
from collections_core.database import Database, is_transient
from collections_core.faults import AFTER_DB_COMMIT, crash_point
from collections_core.logs import current_event, get_logger
from collections_core.outbox import OutboxRecord, StoredRecord
from collections_core.unit_of_work import UnitOfWork

Handler = Callable[[Event, UnitOfWork], Awaitable[None]]
log = get_logger(__name__)


@dataclass(slots=True)
class Delivery:
    record: ConsumerRecord
    event: Event | None
    poison: PoisonRecord | None

    @property
    def event_id(self) -> str:
        # A record too broken to carry a ce_id is still deduplicated by its log position.
        if self.event is not None:
            return self.event.id
        r = self.record
        return f"kafka:{r.topic}:{r.partition}:{r.offset}"

    @property
    def type(self) -> str:
        return self.event.type if self.event else "unknown"


@dataclass(slots=True)
class _Instruments:
    consumed: object
    latency: object

    def observe(self, seconds: float) -> None:
        self.consumed.inc()
        self.latency.observe(seconds)


class _HandlerFailed(Exception):
    """A handler raised something that is neither transient nor a rejection."""


class _HandlerRejected(Exception):
    """A handler rejected its event; its partial writes must be rolled back."""

    def __init__(self, poison: PoisonRecord) -> None:
        super().__init__(poison.reason)
        self.poison = poison


class _WaitForBatch(ConsumerRebalanceListener):
    """Hand partitions over only after the batch in flight has committed."""

    def __init__(self, lock: asyncio.Lock) -> None:
        self._lock = lock

    async def on_partitions_revoked(self, revoked) -> None:
        async with self._lock:
            pass

    async def on_partitions_assigned(self, assigned) -> None:
        pass


class ConsumerRunner:
    def __init__(
        self,
        *,
        service: str,
        bootstrap_servers: str,
        group_id: str,
        topics: Sequence[str],
        handlers: Mapping[str, Handler],
        database: Database,
        codec: EventCodec,
        clock: Clock,
        dead_letter_topic: str,
        on_commit: Callable[[list[StoredRecord]], None] = lambda stored: None,
        batch_size: int = 500,
        max_backoff: float = 10.0,
        attempts_before_dead_letter: int = 3,
        between_batches: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.service = service
        self.topics = list(topics)
        self.handlers = dict(handlers)
        self.database = database
        self.codec = codec
        self.clock = clock
        self.dead_letter_topic = dead_letter_topic
        self.on_commit = on_commit
        self.batch_size = batch_size
        self.max_backoff = max_backoff
        self.attempts_before_dead_letter = attempts_before_dead_letter
        self.between_batches = between_batches
        self.database_healthy = True
        self._stopping = False
        self._processing = asyncio.Lock()
        self._children: dict[tuple[str, str], _Instruments] = {}
        self._consumer_options = dict(
            bootstrap_servers=bootstrap_servers, group_id=group_id, enable_auto_commit=False,
            auto_offset_reset="earliest", isolation_level="read_committed", client_id=f"{service}-consumer",
            max_poll_records=batch_size, max_poll_interval_ms=600_000, session_timeout_ms=30_000,
        )
        self.consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(**self._consumer_options)
        try:
            await consumer.start()
        except BaseException:
            await consumer.stop()
            raise
        consumer.subscribe(self.topics, listener=_WaitForBatch(self._processing))
        self.consumer = consumer

    async def run(self) -> None:
        while not self._stopping:
            try:
                batches = await self.consumer.getmany(timeout_ms=500, max_records=self.batch_size)
            except KafkaError as error:
                log.warning("poll failed, retrying", error=type(error).__name__)
                await asyncio.sleep(1)
                continue
            if not batches:
                await self._between_batches()
                continue
            async with self._processing:
                deliveries = [self._decode(r) for records in batches.values() for r in records]
                if not await self._process(deliveries):
                    return  # stopping while the database was down: the batch will be redelivered
                crash_point(AFTER_DB_COMMIT)
                await self._commit_offsets({tp: records[-1].offset + 1 for tp, records in batches.items()})
            await self._between_batches()
            self._observe_lag(batches)

    async def stop(self) -> None:
        """Finish the batch in flight, commit it, leave the group."""
        self._stopping = True
        async with self._processing:
            if self.consumer is not None:
                await self.consumer.stop()

    async def _between_batches(self) -> None:
        """Work that must not interleave with this consumer's batches (e.g. the
        detector's ageing, which waits for postings to be applied first)."""
        if self.between_batches is None or self._stopping:
            return
        async with self._processing:
            try:
                await self.between_batches()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("work between batches failed, will retry", error=type(error).__name__,
                            detail=str(error)[:200])

    async def log_end_offsets(self, topics: Sequence[str]) -> dict[str, int]:
        """The end of each partition's log now, as {"topic:partition": offset}."""
        partitions = [TopicPartition(topic, p) for topic in topics
                      for p in sorted(self.consumer.partitions_for_topic(topic) or ())]
        ends = await self.consumer.end_offsets(partitions)
        return {f"{tp.topic}:{tp.partition}": offset for tp, offset in ends.items()}

    async def consumed_past(self, positions: Mapping[str, int]) -> bool:
        """Whether the group (every instance, not only this one) has committed
        offsets at or past ``positions`` — i.e. their events' effects are stored."""
        for name, target in positions.items():
            topic, _, partition = name.rpartition(":")
            if target == 0:
                continue
            committed = await self.consumer.committed(TopicPartition(topic, int(partition)))
            if committed is None or committed < target:
                return False
        return True

    def _decode(self, record: ConsumerRecord) -> Delivery:
        try:
            return Delivery(record, self.codec.decode(record.headers, record.value), None)
        except PoisonRecord as poison:
            return Delivery(record, None, poison)

    async def _process(self, deliveries: list[Delivery]) -> bool:
        backoff = 0.1
        isolate = False
        attempts: dict[str, int] = {}
        while not self._stopping:
            try:
                if isolate:
                    for delivery in deliveries:
                        await self._process_alone(delivery, attempts)
                else:
                    async with self.database.transaction() as connection:
                        stored = await self._apply(connection, deliveries)
                    self.on_commit(stored)
                self.database_healthy = True
                return True
            except (_HandlerFailed, _HandlerRejected):
                isolate = True
            except asyncio.CancelledError:
                raise
            except Exception as error:
                transient = is_transient(error)
                self.database_healthy = not transient
                # Not transient and not from a handler (e.g. another consumer
                # recorded the same event id during a rebalance): re-run in
                # isolation, where the inbox sees what was done.
                isolate = isolate or not transient
                kind = "transient" if transient else "unexpected"
                metrics.EVENTS_FAILED.labels(self.service, deliveries[0].record.topic, "batch", kind).inc()
                log.warning("batch failed, will be retried", kind=kind, error=type(error).__name__,
                            detail=str(error)[:200], retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
        return False

    async def _process_alone(self, delivery: Delivery, attempts: dict[str, int]) -> None:
        while True:
            try:
                async with self.database.transaction() as connection:
                    stored = await self._apply(connection, [delivery])
                self.on_commit(stored)
                return
            except _HandlerRejected as rejection:
                delivery.poison = rejection.poison
            except _HandlerFailed as failure:
                count = attempts[delivery.event_id] = attempts.get(delivery.event_id, 0) + 1
                if count < self.attempts_before_dead_letter:
                    await asyncio.sleep(0.05 * count)
                    continue
                cause = failure.__cause__
                delivery.poison = PoisonRecord(
                    f"handler error after {count} attempts: {type(cause).__name__}: {cause}"[:500], "handler-error")
            async with self.database.transaction() as connection:
                stored = await self._apply(connection, [delivery])
            self.on_commit(stored)
            return

    async def _apply(self, connection, deliveries: list[Delivery]) -> list[StoredRecord]:
        seen = await inbox.already_seen(connection, [d.event_id for d in deliveries])
        now = self.clock.now()
        inbox_rows, outbox_rows = [], []
        for delivery in deliveries:
            record = delivery.record
            if delivery.event_id in seen:
                metrics.EVENTS_DUPLICATE.labels(self.service, record.topic).inc()
                continue
            seen.add(delivery.event_id)
            outcome = "handled"
            poison = delivery.poison
            if poison is None:
                outbox_rows += await self._handle(connection, delivery, now)
            if poison is not None:
                outcome = "dead-lettered"
                outbox_rows.append(self._dead_letter(record, poison))
                metrics.EVENTS_DEAD_LETTERED.labels(self.service, record.topic, delivery.type, poison.code).inc()
                log.warning("dead-lettered", ce_id=delivery.event_id, topic=record.topic, partition=record.partition,
                            offset=record.offset, code=poison.code, reason=poison.reason)
            inbox_rows.append((delivery.event_id, delivery.type, record.topic, record.partition, record.offset,
                               outcome, now))
        await inbox.record(connection, inbox_rows)
        if not outbox_rows:
            return []
        work = UnitOfWork(connection, self.codec, self.clock, now=now)
        work.records = outbox_rows
        return await work.flush()

    async def _handle(self, connection, delivery: Delivery, now) -> list[OutboxRecord]:
        event = delivery.event
        assert event is not None
        handler = self.handlers.get(event.type)
        if handler is None:
            return []  # a known type this service does not act on
        work = UnitOfWork(connection, self.codec, self.clock, cause=event, now=now)
        started = time.perf_counter()
        token = current_event.set((event.id, event.trace.trace_id))
        try:
            await handler(event, work)
        except PoisonRecord as rejected:
            raise _HandlerRejected(rejected) from rejected
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if is_transient(error):
                raise
            metrics.EVENTS_FAILED.labels(self.service, delivery.record.topic, event.type, "handler").inc()
            log.error("handler failed", ce_type=event.type, error=type(error).__name__)
            raise _HandlerFailed() from error
        finally:
            current_event.reset(token)
        self._instruments(delivery.record.topic, event.type).observe(time.perf_counter() - started)
        return work.records

    def _instruments(self, topic: str, ce_type: str) -> _Instruments:
        # labels() costs more than the observation itself; keep one child per (topic, type).
        key = (topic, ce_type)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = _Instruments(
                metrics.EVENTS_CONSUMED.labels(self.service, topic, ce_type),
                metrics.HANDLER_LATENCY.labels(self.service, ce_type))
        return found

    def _dead_letter(self, record: ConsumerRecord, poison: PoisonRecord) -> OutboxRecord:
        headers = list(record.headers or ())
        headers += [
            ("dlq-reason", poison.reason.encode()),
            ("dlq-code", poison.code.encode()),
            ("dlq-service", self.service.encode()),
            ("dlq-original-topic", record.topic.encode()),
            ("dlq-original-partition", str(record.partition).encode()),
            ("dlq-original-offset", str(record.offset).encode()),
            ("dlq-time", self.clock.now().isoformat().encode()),
        ]
        return OutboxRecord(self.dead_letter_topic, record.key, record.value, headers)

    async def _commit_offsets(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as error:
            # The group rebalanced: the next owner re-reads from the last committed
            # offset and the inbox turns those replays into no-ops.
            log.info("offset commit skipped after rebalance", error=type(error).__name__)
        except KafkaError as error:
            log.warning("offset commit failed; batch will be redelivered and deduplicated", error=type(error).__name__)

    def _observe_lag(self, batches) -> None:
        for tp, records in batches.items():
            highwater = self.consumer.highwater(tp)
            if highwater is not None:
                metrics.CONSUMER_LAG.labels(self.service, tp.topic, str(tp.partition)).set(
                    max(0, highwater - records[-1].offset - 1))
