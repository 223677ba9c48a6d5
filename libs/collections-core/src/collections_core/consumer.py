"""The consumer runner: at-least-once delivery from Kafka, exactly-once effects.

For each poll batch: decode every record, open ONE database transaction, skip
events the inbox has already seen, run each handler, record every event id in the
inbox and every emitted event in the outbox, commit, and only then commit the
Kafka offsets. A crash anywhere redelivers the batch and the inbox makes the
replay a no-op. See docs/decisions/0001-one-transaction-per-poll-batch.md.

Failures (transient or not is decided by collections_core.transient):
- poison (undecodable, unknown ce_type, an envelope the inbox cannot hold,
  ``Rejected`` by a handler): dead-lettered through the outbox with its reason in
  headers; the partition moves on.
- transient (database, broker or provider down): the batch is retried with
  backoff, never skipped and never dead-lettered.
- anything else, whatever raised it (a handler's bug, or the runtime's own error on
  one record): the batch is re-run one event per transaction to isolate the
  record; it is retried a few times and then dead-lettered with the reason, so no
  single record can stall a partition, and it is kept for redrive in the DLQ.

A dead-lettered event id does not count as "already processed" when the record
comes back through ``cc-redrive`` (collections_core.redrive): the redriven event
takes effect once, and a second redrive of a handled one changes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError, KafkaTimeoutError

from collections_core import inbox, metrics
from collections_core.clock import Clock
from collections_core.codec import MAX_EVENT_ID_LENGTH, Event, EventCodec, PoisonRecord
from collections_core.database import Database
from collections_core.faults import AFTER_DB_COMMIT, crash_point
from collections_core.logs import current_event, get_logger
from collections_core.offsets import OffsetCommits
from collections_core.outbox import OutboxRecord, StoredRecord
from collections_core.redrive import DLQ_HEADER_PREFIX, REDRIVEN_FROM
from collections_core.settings import ServiceSettings
from collections_core.transient import is_transient
from collections_core.unit_of_work import UnitOfWork, run_committed

Handler = Callable[[Event, UnitOfWork], Awaitable[None]]
# Takes a run of consecutive events from a poll batch at once (of one type, or of
# types registered with the same handler), so a service can load their facts and
# write their effects set-based. It must give the same effects for [e1, ..., en] as
# for [e1], ..., [en]: a failing batch is re-run one event per transaction to find
# the record at fault.
BatchHandler = Callable[[Sequence[Event], UnitOfWork], Awaitable[None]]
log = get_logger(__name__)

# aiokafka asks again for a topic the broker did not know only when its metadata ages
# (5 min by default): a service started moments before its topics were created, or
# before the broker's metadata showed them, joined its group with no partitions and sat
# idle that long. A metadata request every few seconds costs the broker next to nothing.
METADATA_MAX_AGE_MS = 5_000
# A runner built without settings (tests, the passthrough bench) behaves as a service's defaults.
_DEFAULTS = ServiceSettings.model_fields


def in_arrival_order(batches: Mapping[TopicPartition, list[ConsumerRecord]]) -> Iterable[ConsumerRecord]:
    """A fetch's records across its partitions by their timestamps, each partition's in its
    own order. A fetch can hold records of several topics produced far apart (a customer's
    payment, then the day close that judges their promise; a backlog after an outage): taken
    partition after partition, the later could be decided before the earlier (decision 0015)."""
    if len(batches) == 1:
        return next(iter(batches.values()))
    # merge() only ever takes the head of a partition's list, so each partition's order holds
    # even where its producers' clocks disagree.
    return heapq.merge(*batches.values(), key=lambda record: record.timestamp)


T = TypeVar("T")


def runs(items: Iterable[T], handler_of: Callable[[T], object | None]) -> Iterator[list[T]]:
    """A poll batch cut into what is handled at once: consecutive items whose batch handler
    (``handler_of``) is the same one are a run, so types that share a handler (the router's
    AccountBecameDelinquent and DelinquencyUpdated) share a run; an item with none is a run
    of one."""
    run: list[T] = []
    running = None  # the handler of the run being gathered
    for item in items:
        handler = handler_of(item)
        if run and (handler is None or handler is not running):
            yield run
            run = []
        run.append(item)
        running = handler
        if handler is None:
            yield run
            run = []
    if run:
        yield run


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
        position = f"kafka:{r.topic}:{r.partition}:{r.offset}"
        if len(position) <= MAX_EVENT_ID_LENGTH:
            return position
        return f"kafka:{hashlib.sha256(r.topic.encode()).hexdigest()}:{r.partition}:{r.offset}"

    @property
    def type(self) -> str:
        return self.event.type if self.event else "unknown"

    @property
    def redriven(self) -> bool:
        return any(key == REDRIVEN_FROM for key, _ in self.record.headers or ())


@dataclass(slots=True)
class _Instruments:
    consumed: object
    latency: object

    def observe(self, seconds: float) -> None:
        self.consumed.inc()
        self.latency.observe(seconds)


class _HandlerFailed(Exception):
    """A handler raised something that is neither transient nor a rejection."""


class _DeadLetterFailed(Exception):
    """Even recording a dead letter failed: the database is not taking writes."""


class _HandlerRejected(Exception):
    """A handler rejected its event; its partial writes must be rolled back."""

    def __init__(self, poison: PoisonRecord) -> None:
        super().__init__(poison.reason)
        self.poison = poison


class _WaitForBatch(ConsumerRebalanceListener):
    """Hand partitions over only after the batch in flight has committed, and with
    their offsets committed when the broker lets us."""

    def __init__(self, runner: ConsumerRunner) -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked) -> None:
        runner = self._runner
        async with runner._processing:
            await runner._offsets.commit(runner.consumer, now=True, timeout=10)
            runner._offsets.forget(revoked)
            for tp in revoked:  # its lag is the new owner's to report now
                try:
                    metrics.CONSUMER_LAG.remove(runner.service, tp.topic, str(tp.partition))
                except KeyError:
                    pass

    async def on_partitions_assigned(self, assigned) -> None:
        self._runner.joined = True


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
        batch_handlers: Mapping[str, BatchHandler] | None = None,
        codec: EventCodec,
        clock: Clock,
        dead_letter_topic: str,
        on_commit: Callable[[list[StoredRecord]], None] = lambda stored: None,
        batch_size: int = _DEFAULTS["consumer_batch_size"].default,
        fetch_max_wait_ms: int = _DEFAULTS["consumer_fetch_max_wait_ms"].default,
        fetch_min_bytes: int = _DEFAULTS["consumer_fetch_min_bytes"].default,
        max_backoff: float = 10.0,
        attempts_before_dead_letter: int = 3,
        between_batches: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.service = service
        self.topics = list(topics)
        self.handlers = dict(handlers)
        self.batch_handlers = dict(batch_handlers or {})
        both = self.handlers.keys() & self.batch_handlers.keys()
        if both:
            raise ValueError(f"a type has a handler or a batch handler, not both: {sorted(both)}")
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
        self.joined = False  # a group assignment (possibly empty) has been received
        self._stopping = False
        self._processing = asyncio.Lock()
        self._offsets = OffsetCommits(max_backoff)
        self._children: dict[tuple[str, str], _Instruments] = {}
        self._consumer_options = dict(
            bootstrap_servers=bootstrap_servers, group_id=group_id, enable_auto_commit=False,
            auto_offset_reset="earliest", isolation_level="read_committed", client_id=f"{service}-consumer",
            max_poll_records=batch_size, max_poll_interval_ms=600_000, session_timeout_ms=30_000,
            fetch_max_wait_ms=fetch_max_wait_ms, fetch_min_bytes=fetch_min_bytes,
            metadata_max_age_ms=METADATA_MAX_AGE_MS,
        )
        self.consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(**self._consumer_options)
        try:
            await consumer.start()
        except BaseException:
            await consumer.stop()
            raise
        self.consumer = consumer
        consumer.subscribe(self.topics, listener=_WaitForBatch(self))

    async def run(self) -> None:
        while not self._stopping:
            try:
                batches = await self.consumer.getmany(timeout_ms=500, max_records=self.batch_size)
            except KafkaError as error:
                log.warning("poll failed, retrying", error=type(error).__name__)
                await asyncio.sleep(1)
                continue
            async with self._processing:
                if batches:
                    # Fetched is not handled: while a batch waits out a database outage,
                    # its records are lag, for an SRE's alert and a simulator's quiet check.
                    self._observe_lag(batches, handled=False)
                    deliveries = [self._decode(r) for r in in_arrival_order(batches)]
                    if not await self._process(deliveries):
                        return  # stopping while the database was down: the batch will be redelivered
                    crash_point(AFTER_DB_COMMIT)
                    self._offsets.add({tp: records[-1].offset + 1 for tp, records in batches.items()})
                # Every record returned so far is handled: positions are safe to commit.
                await self._offsets.include_positions(self.consumer)
                # Not awaited: the next batch is fetched and decided while the broker
                # records these (decision 0008); the inbox covers a crash meanwhile.
                self._offsets.commit_soon(self.consumer)
            await self._between_batches()
            if batches:
                self._observe_lag(batches, handled=True)

    async def stop(self) -> None:
        """Finish the batch in flight, commit it, leave the group."""
        self._stopping = True
        async with self._processing:
            if self.consumer is not None:
                await self._offsets.commit(self.consumer, now=True, timeout=10)
                await self.consumer.stop()

    async def _between_batches(self) -> None:
        """Work that must not interleave with this consumer's batches (e.g. the
        detector's aging, which waits for postings to be applied first)."""
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
        """The end of each partition's log now, as {"topic:partition": offset}.
        Raises a transient Kafka error (retried) rather than answer without a topic
        whose partitions are not known yet."""
        partitions = []
        for topic in topics:
            known = self.consumer.partitions_for_topic(topic)
            if not known:
                raise KafkaTimeoutError(f"no partition metadata for {topic} yet")
            partitions += [TopicPartition(topic, p) for p in sorted(known)]
        ends = await self.consumer.end_offsets(partitions)
        return {f"{tp.topic}:{tp.partition}": offset for tp, offset in ends.items()}

    async def consumed_past(self, positions: Mapping[str, int]) -> bool:
        """Whether the group (every instance, not only this one) has committed
        offsets at or past ``positions`` — i.e. their events' effects are stored.
        A partition with nothing new is committed up to its position (see
        collections_core.offsets), so a quiet one does not hold this back. Answers
        False, never raises, while the group rebalances or the broker is away."""
        for name, target in positions.items():
            topic, _, partition = name.rpartition(":")
            if target == 0:
                continue
            try:
                committed = await self.consumer.committed(TopicPartition(topic, int(partition)))
            except (KafkaError, TimeoutError) as error:
                log.info("committed offsets unavailable, will ask again", error=type(error).__name__)
                return False
            if committed is None or committed < target:
                return False
        return True

    def _decode(self, record: ConsumerRecord) -> Delivery:
        try:
            return Delivery(record, self.codec.decode(record.headers, record.value), None)
        except PoisonRecord as poison:
            return Delivery(record, None, poison)
        except Exception as error:  # whatever a decoder raises, it will raise it again
            return Delivery(record, None, PoisonRecord(
                f"undecodable: {type(error).__name__}: {error}"[:500], "bad-payload"))

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
                    committed: list[Callable[[], None]] = []
                    async with self.database.transaction() as connection:
                        stored = await self._apply(connection, deliveries, committed)
                    self.on_commit(stored)
                    run_committed(committed)
                self.database_healthy = True
                return True
            except (_HandlerFailed, _HandlerRejected):
                isolate = True
            except asyncio.CancelledError:
                raise
            except Exception as error:
                transient = isinstance(error, _DeadLetterFailed) or is_transient(error)
                self.database_healthy = not transient
                # Not transient and not from a handler (e.g. another consumer
                # recorded the same event id during a rebalance, or the runtime
                # failed on one record): re-run in isolation, where the inbox sees
                # what was done and a record that keeps failing is dead-lettered.
                isolate = isolate or not transient
                kind = "transient" if transient else "unexpected"
                metrics.EVENTS_FAILED.labels(self.service, deliveries[0].record.topic, "batch", kind).inc()
                log.warning("batch failed, will be retried", kind=kind, error=type(error).__name__,
                            detail=str(error)[:200], retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
        return False

    async def _process_alone(self, delivery: Delivery, attempts: dict[str, int]) -> None:
        """One record in its own transaction; transient errors propagate (the batch
        loop backs off), any other failure counts towards dead-lettering it."""
        while delivery.poison is None:
            try:
                await self._apply_alone(delivery)
                return
            except _HandlerRejected as rejection:
                delivery.poison = rejection.poison
            except asyncio.CancelledError:
                raise
            except Exception as error:
                from_handler = isinstance(error, _HandlerFailed)
                cause = error.__cause__ if from_handler else error
                if is_transient(cause):
                    raise
                count = attempts[delivery.event_id] = attempts.get(delivery.event_id, 0) + 1
                if count < self.attempts_before_dead_letter:
                    await asyncio.sleep(0.05 * count)
                    continue
                who, code = ("handler", "handler-error") if from_handler else ("runtime", "processing-error")
                if not from_handler:
                    log.error("record failed in the runtime", ce_id=delivery.event_id, error=type(cause).__name__,
                              detail=str(cause)[:200])
                delivery.poison = PoisonRecord(
                    f"{who} error after {count} attempts: {type(cause).__name__}: {cause}"[:500], code)
        await self._dead_letter_alone(delivery)

    async def _dead_letter_alone(self, delivery: Delivery) -> None:
        try:
            await self._apply_alone(delivery)
            return
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if is_transient(error):
                raise
            # What the record carries may be what the store refuses (its ce_id was
            # recorded under another outcome, say): keep it by its log position.
            log.error("dead letter refused, keeping it by its log position", ce_id=delivery.event_id,
                      error=type(error).__name__, detail=str(error)[:200])
        delivery.event = None
        try:
            await self._apply_alone(delivery)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            raise _DeadLetterFailed(f"{type(error).__name__}: {error}") from error

    async def _apply_alone(self, delivery: Delivery) -> None:
        committed: list[Callable[[], None]] = []
        async with self.database.transaction() as connection:
            stored = await self._apply(connection, [delivery], committed)
        self.on_commit(stored)
        run_committed(committed)

    async def _apply(self, connection, deliveries: list[Delivery], committed: list[Callable[[], None]]
                     ) -> list[StoredRecord]:
        """The deliveries' effects in the open transaction; the handlers' after-commit
        callbacks go to ``committed``."""
        seen = await inbox.already_seen(connection, [d.event_id for d in deliveries])
        now = self.clock.now()
        inbox_rows, outbox_rows, redriven, fresh = [], [], [], []
        for delivery in deliveries:
            record = delivery.record
            before = seen.get(delivery.event_id)
            if before == inbox.DEAD_LETTERED and delivery.redriven:
                redriven.append(delivery.event_id)
            elif before is not None:
                metrics.EVENTS_DUPLICATE.labels(self.service, record.topic).inc()
                continue
            seen[delivery.event_id] = inbox.HANDLED
            poison = delivery.poison
            inbox_rows.append((delivery.event_id, delivery.type, record.topic, record.partition, record.offset,
                               inbox.HANDLED if poison is None else inbox.DEAD_LETTERED, now))
            fresh.append(delivery)
        for run in runs(fresh, self._batch_handler_of):
            poison = run[0].poison
            if poison is None:
                outbox_rows += await self._handle(connection, run, now, committed)
                continue
            record = run[0].record
            outbox_rows.append(self._dead_letter(record, poison))
            metrics.EVENTS_DEAD_LETTERED.labels(self.service, record.topic, run[0].type, poison.code).inc()
            log.warning("dead-lettered", ce_id=run[0].event_id, topic=record.topic, partition=record.partition,
                        offset=record.offset, code=poison.code, reason=poison.reason)
        await inbox.forget(connection, redriven)
        await inbox.record(connection, inbox_rows)
        if not outbox_rows:
            return []
        work = UnitOfWork(connection, self.codec, self.clock, now=now)
        work.records = outbox_rows
        return await work.flush()

    def _batch_handler_of(self, delivery: Delivery) -> BatchHandler | None:
        return None if delivery.poison is not None else self.batch_handlers.get(delivery.type)

    async def _handle(self, connection, run: list[Delivery], now, committed: list[Callable[[], None]]
                      ) -> list[OutboxRecord]:
        """A run: all at once to its batch handler, or the one event to its handler;
        what they emitted, for the outbox."""
        events = [delivery.event for delivery in run]
        ce_type = events[0].type
        batch_handler = self.batch_handlers.get(ce_type)
        handler = self.handlers.get(ce_type) if batch_handler is None else None
        if batch_handler is None and handler is None:
            return []  # a known type this service does not act on
        alone = len(events) == 1
        work = UnitOfWork(connection, self.codec, self.clock, cause=events[0] if alone else None, now=now)
        started = time.perf_counter()
        token = current_event.set((events[0].id, events[0].trace.trace_id)) if alone else None
        try:
            await (batch_handler(events, work) if batch_handler is not None else handler(events[0], work))
        except PoisonRecord as rejected:
            raise _HandlerRejected(rejected) from rejected
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if is_transient(error):
                raise
            metrics.EVENTS_FAILED.labels(self.service, run[0].record.topic, ce_type, "handler").inc()
            log.error("handler failed", ce_type=ce_type, events=len(events), error=type(error).__name__)
            raise _HandlerFailed() from error
        finally:
            if token is not None:
                current_event.reset(token)
        each = (time.perf_counter() - started) / len(events)
        for delivery in run:
            self._instruments(delivery.record.topic, delivery.type).observe(each)
        committed += work.committed
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
        # A record dead-lettered again after a redrive sheds its earlier dlq-* headers.
        headers = [(k, v) for k, v in record.headers or () if not k.startswith(DLQ_HEADER_PREFIX)]
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

    def _observe_lag(self, batches, handled: bool) -> None:
        """Records of each partition from the first not yet handled to the partition's end."""
        assigned = self.consumer.assignment()
        for tp, records in batches.items():
            if tp not in assigned:
                continue  # revoked while the batch was handled
            try:
                highwater = self.consumer.highwater(tp)
            except KafkaError:
                continue
            if highwater is not None:
                first_unhandled = records[-1].offset + 1 if handled else records[0].offset
                metrics.CONSUMER_LAG.labels(self.service, tp.topic, str(tp.partition)).set(
                    max(0, highwater - first_unhandled))
