"""Fetches and offset commits (issue 7, runtime item 6): a failed commit is retried until it
succeeds, and a partition whose position moved past records the consumer is never
given (a transaction's commit marker) is committed up to its position, so the
detector's close barrier (``consumed_past``) is not held back by it. And the
barrier reads and the lag observation survive rebalances (item 4)."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError
from collections_core.service import ServiceRuntime
from local_kafka import create_topic
from support import effects_per_payment, encode, payment, produce

sys.path.insert(0, str(Path(__file__).parent))
import ledger_service as ledger  # noqa: E402

pytestmark = pytest.mark.integration
PAYMENT = "corebanking.v1.PaymentPosted"


async def started(database_url: str, bootstrap: str, topics: dict, join: bool = True, **options) -> ServiceRuntime:
    settings = ledger.LedgerSettings(
        service_name=topics["service"], database_url=database_url, kafka_bootstrap_servers=bootstrap,
        input_topics=topics["input"], output_topic=topics["output"], consumer_group=topics["service"],
        retry_backoff_max_seconds=1, relay_poll_interval_seconds=0.1, **options)
    runtime = ServiceRuntime(settings, topics=[topics["input"]], handlers=ledger.handlers(topics["output"])[0],
                             migrations=Path(ledger.__file__).parent / "ledger_migrations")
    await runtime.start()
    if join:
        await until(lambda: _joined(runtime, 3), "consumer assigned its 3 partitions")
    return runtime


async def until(probe, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what} not met in {timeout}s (last: {last!r})")


async def _joined(runtime, partitions: int) -> bool:
    consumer = runtime.consumer.consumer
    return consumer is not None and len(consumer.assignment()) >= partitions


async def test_a_partition_ending_in_a_transaction_marker_does_not_hold_the_barrier_back(
        kafka, database_url, topics):
    runtime = await started(database_url, kafka.bootstrap, topics)
    try:
        producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, transactional_id=f"bank-{uuid.uuid4().hex}")
        await producer.start()
        try:
            key, value, headers = encode(payment("A-1", "P-1"), "A-1")
            async with producer.transaction():
                await producer.send_and_wait(topics["input"], value=value, key=key, headers=headers, partition=0)
        finally:
            await producer.stop()
        # The coordinator writes the commit marker just after the commit returns.
        ends = await until(lambda: _ends_at(runtime, topics["input"], 2), "the record and its commit marker")
        await until(lambda: _effects(database_url), "payment applied")
        assert await until(lambda: runtime.consumer.consumed_past(ends), "barrier passed", timeout=30)
    finally:
        await runtime.stop()


async def test_a_topic_created_after_the_service_started_is_consumed_within_seconds(kafka, database_url):
    # As when a deployment creates the topics moments after the services start: the
    # group is joined with no partition of the topic, until the metadata shows it.
    run = uuid.uuid4().hex[:8]
    topics = {"input": f"payments.{run}", "output": f"cured.{run}", "service": f"ledger-{run}"}
    for topic, partitions in ((topics["output"], 3), (f"{topics['service']}.dlq.v1", 1)):
        await create_topic(kafka.bootstrap, topic, partitions)
    runtime = await started(database_url, kafka.bootstrap, topics, join=False)
    try:
        await until(lambda: _group_joined(runtime), "group joined without the topic")
        await create_topic(kafka.bootstrap, topics["input"], 3)
        await produce(kafka.bootstrap, topics["input"], [encode(payment("A-1", "P-1"), "A-1")])
        # aiokafka's own refresh would come after 5 minutes.
        await until(lambda: _effects(database_url), "payment applied", timeout=30)
        assert len(runtime.consumer.consumer.assignment()) == 3
    finally:
        await runtime.stop()


async def _group_joined(runtime) -> bool:
    return runtime.consumer.joined


async def test_records_that_trickle_in_are_taken_as_one_batch_not_one_batch_each(kafka, database_url, topics):
    # The broker answers a fetch once CONSUMER_FETCH_MIN_BYTES wait or after the max wait
    # (decision 0015); with the old minimum of one byte these five were five batches.
    runtime = await started(database_url, kafka.bootstrap, topics, consumer_fetch_max_wait_ms=1_000)
    batches, process = [], runtime.consumer._process

    async def noted(deliveries):
        batches.append(len(deliveries))
        return await process(deliveries)

    runtime.consumer._process = noted
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
    await producer.start()
    try:
        await start_positions_committed(runtime, topics["input"])
        for n in range(5):
            key, value, headers = encode(payment("A-1", f"P-{n}"), "A-1")
            await producer.send_and_wait(topics["input"], value=value, key=key, headers=headers)
            await asyncio.sleep(0.02)
        await until(lambda: _applied(database_url, {f"P-{n}" for n in range(5)}), "five payments applied")
        # Two at most: a fetch already in flight when the first arrived may end its wait between them.
        assert sum(batches) == 5 and len(batches) <= 2, batches
    finally:
        await producer.stop()
        await runtime.stop()


async def test_a_failed_offset_commit_is_retried_until_it_succeeds(kafka, database_url, topics):
    runtime = await started(database_url, kafka.bootstrap, topics)
    try:
        consumer = await start_positions_committed(runtime, topics["input"])
        commit, failures = consumer.commit, []

        async def unreliable_commit(offsets=None):
            if len(failures) < 3:  # the coordinator is away for the first three attempts
                failures.append(dict(offsets))
                raise KafkaConnectionError("coordinator unreachable")
            return await commit(offsets)

        consumer.commit = unreliable_commit
        await produce(kafka.bootstrap, topics["input"], [encode(payment("A-1", "P-1"), "A-1")])
        await until(lambda: _effects(database_url), "payment applied")
        partition = next(tp for tp, _ in failures[0].items() if tp.topic == topics["input"])
        ends = await consumer.end_offsets([partition])
        # No further record arrives: only a retry can move the committed offset.
        assert await until(lambda: _committed_at(consumer, partition, ends[partition]), "offset committed",
                           timeout=30)
        assert len(failures) == 3
    finally:
        await runtime.stop()


async def start_positions_committed(runtime, topic: str) -> AIOKafkaConsumer:
    """The runtime's consumer, once the fresh group has committed where each of the
    topic's three partitions starts (let through before a test tampers with commits)."""
    consumer = runtime.consumer.consumer
    partitions = [TopicPartition(topic, p) for p in range(3)]
    await until(lambda: _all_committed(consumer, partitions), "start positions committed")
    return consumer


async def _ends_at(runtime, topic: str, end: int):
    ends = await runtime.consumer.log_end_offsets([topic])
    return ends if ends[f"{topic}:0"] == end else None


async def _effects(database_url: str):
    return await effects_per_payment(database_url, PAYMENT) == {"P-1": 1}


async def _all_committed(consumer, partitions) -> bool:
    return all([await consumer.committed(tp) is not None for tp in partitions])


async def _committed_at(consumer, partition: TopicPartition, offset: int) -> bool:
    return await consumer.committed(partition) == offset


async def test_barrier_reads_and_lag_survive_a_member_joining_and_leaving(kafka, database_url, topics):
    runtime = await started(database_url, kafka.bootstrap, topics)
    errors: list[BaseException] = []
    reading = True

    async def read_the_barrier_all_along() -> int:
        reads = 0
        while reading:
            try:
                ends = await runtime.consumer.log_end_offsets([topics["input"]])
                await runtime.consumer.consumed_past(ends)
                reads += 1
            except Exception as error:  # noqa: BLE001 - the point is that nothing escapes
                errors.append(error)
            await asyncio.sleep(0.05)
        return reads

    reader = asyncio.create_task(read_the_barrier_all_along())
    try:
        await produce(kafka.bootstrap, topics["input"],
                      [encode(payment(f"A-{i % 5}", f"P-{i}"), f"A-{i % 5}") for i in range(300)])
        joiner = AIOKafkaConsumer(topics["input"], bootstrap_servers=kafka.bootstrap, group_id=topics["service"],
                                  enable_auto_commit=False)
        await joiner.start()  # the group rebalances while the runtime consumes
        try:
            await until(lambda: _assigned(joiner), "the joiner took partitions over")
            await joiner.getmany(timeout_ms=500)
        finally:
            await joiner.stop()  # and again as it leaves
        await until(lambda: _count(database_url, 300), "every payment applied", timeout=90)
        ends = await runtime.consumer.log_end_offsets([topics["input"]])
        assert await until(lambda: runtime.consumer.consumed_past(ends), "barrier passed", timeout=30)
    finally:
        reading = False
        reads = await reader
        failure = runtime.supervisor.failure
        await runtime.stop()
    assert errors == [] and reads > 0
    assert failure is None, "the consumer loop survived both rebalances"


async def _assigned(consumer) -> bool:
    return bool(consumer.assignment())


async def _count(database_url: str, expected: int) -> bool:
    effects = await effects_per_payment(database_url, PAYMENT)
    assert all(n == 1 for n in effects.values()), "an effect applied twice"
    return len(effects) == expected


async def test_the_next_batch_is_decided_while_the_last_ones_offsets_are_committed(kafka, database_url, topics):
    runtime = await started(database_url, kafka.bootstrap, topics)
    release = asyncio.Event()
    try:
        consumer = await start_positions_committed(runtime, topics["input"])
        commit, committing = consumer.commit, []

        async def slow_commit(offsets=None):
            committing.append(dict(offsets))
            await release.wait()  # the coordinator answers only when the test lets it
            return await commit(offsets)

        consumer.commit = slow_commit
        await produce(kafka.bootstrap, topics["input"], [encode(payment("A-1", "P-1"), "A-1")])
        await until(lambda: _applied(database_url, {"P-1"}), "first payment applied")
        await until(lambda: _true(bool(committing)), "its offsets being committed")
        await produce(kafka.bootstrap, topics["input"], [encode(payment("A-1", "P-2"), "A-1")])
        await until(lambda: _applied(database_url, {"P-1", "P-2"}), "second payment applied meanwhile", timeout=15)
        assert len(committing) == 1, "one commit in flight at a time; the second batch's offsets wait for it"
        release.set()
        partition = TopicPartition(topics["input"], next(iter(committing[0])).partition)
        end = (await consumer.end_offsets([partition]))[partition]
        assert await until(lambda: _committed_at(consumer, partition, end), "both committed", timeout=30)
    finally:
        release.set()
        await runtime.stop()


async def _applied(database_url: str, payment_ids: set[str]) -> bool:
    return await effects_per_payment(database_url, PAYMENT) == dict.fromkeys(payment_ids, 1)


async def _true(value: bool) -> bool:
    return value
