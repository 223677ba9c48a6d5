"""Runtime passthrough benchmark (DESIGN.md §9), all in one run on one broker.

1. raw:    aiokafka consume → produce, no database (the ceiling);
2. sqlite: the runtime — consume → one transaction with inbox + outbox → relay publish;
3. postgresql: the same on PostgreSQL.

Each leg reads the same N input events (~300-byte values, CloudEvents headers) from
the beginning with its own consumer group and is timed from its start until its
N-th output event is acknowledged by the broker. Each runtime leg runs in its own
process, as a service would, and its peak resident memory is reported.

    python bench/runtime/passthrough.py [--events 200000] [--partitions 3]

Starts its own Kafka broker and PostgreSQL server under var/bench/ (free ports; the
Kafka jars from $CC_KAFKA_HOME or var/kafka) and stops them at the end. Prints
progress to stderr, figures to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import resource
import socket
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy" / "local"))

import uvloop  # noqa: E402
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402
from local_kafka import KafkaBroker, create_topic  # noqa: E402
from local_postgres import LocalPostgres  # noqa: E402
from sqlalchemy import text  # noqa: E402

from collections_core import metrics, storage  # noqa: E402
from collections_core.clock import SystemClock  # noqa: E402
from collections_core.codec import EventCodec, TypeRegistry, type_of  # noqa: E402
from collections_core.consumer import ConsumerRunner  # noqa: E402
from collections_core.contracts.collections.v1 import contacts_pb2  # noqa: E402
from collections_core.database import Database  # noqa: E402
from collections_core.leases import Lease, this_process  # noqa: E402
from collections_core.outbox import OutboxRelay  # noqa: E402
from collections_core.service import tune_garbage_collector  # noqa: E402
from collections_core.settings import ServiceSettings  # noqa: E402
from collections_core.tracing import TraceContext  # noqa: E402


BATCH = int(os.environ.get("BENCH_BATCH", "2000"))


def progress(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def sample_event(i: int) -> contacts_pb2.ContactRequested:
    return contacts_pb2.ContactRequested(
        request_id=str(uuid.UUID(int=i)), account_id=f"ACC-{i % 50_000:08d}", customer_id=f"CUS-{i % 50_000:08d}",
        case_id=str(uuid.UUID(int=i + 1)), channel=contacts_pb2.CHANNEL_SMS, template="reminder.sms",
        parameters={"dpd": "12", "past_due_minor": "123456", "currency": "CNY", "note": "x" * 80})


async def produce_input(bootstrap: str, topic: str, count: int) -> int:
    codec = EventCodec(TypeRegistry.of_contracts(), "/corebanking")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=512 * 1024,
                                enable_idempotence=True)
    await producer.start()
    size = 0
    try:
        pending = []
        for i in range(count):
            message = sample_event(i)
            headers, value = codec.encode(message, message.account_id, datetime.now(UTC), TraceContext.new())
            size = len(value)
            pending.append(await producer.send(topic, value=value, key=message.customer_id.encode(), headers=headers))
            if len(pending) >= 10_000:
                await asyncio.gather(*pending)
                pending.clear()
                if (i + 1) % 50_000 == 0:
                    progress(f"produced {i + 1:,} input events")
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return size


async def raw_passthrough(bootstrap: str, source: str, sink: str, count: int) -> float:
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, group_id=f"raw-{uuid.uuid4().hex[:6]}",
                                auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=2000)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=5,
                                max_batch_size=256 * 1024)
    await consumer.start()
    await producer.start()
    started = time.perf_counter()
    seen = 0
    try:
        while seen < count:
            batches = await consumer.getmany(timeout_ms=500, max_records=2000)
            sends = [await producer.send(sink, value=r.value, key=r.key, headers=list(r.headers))
                     for records in batches.values() for r in records]
            await asyncio.gather(*sends)
            await consumer.commit()
            seen += len(sends)
    finally:
        elapsed = time.perf_counter() - started
        await producer.stop()
        await consumer.stop()
    return elapsed


async def runtime_passthrough(bootstrap: str, database_url: str, source: str, sink: str, count: int,
                              service: str) -> float:
    database = Database(database_url)
    async with database.transaction() as connection:
        await connection.run_sync(storage.metadata.create_all)
    clock = SystemClock()
    codec = EventCodec(TypeRegistry.of_contracts(), f"/card-collections/{service}")

    async def forward(event, work) -> None:
        work.emit(sink, event.message, key=event.message.customer_id, subject=event.subject)

    # As a service runs it: the relay publishes while it holds its lease, and looks
    # in the table for rows no hand-over announced at the services' default interval.
    relay = OutboxRelay(database, bootstrap, service, clock, batch_size=5_000,
                        poll_interval=ServiceSettings.model_fields["relay_poll_interval_seconds"].default,
                        lease=Lease(database, "outbox-relay", this_process()))
    consumer = ConsumerRunner(
        service=service, bootstrap_servers=bootstrap, group_id=service, topics=[source],
        handlers={type_of(contacts_pb2.ContactRequested): forward}, database=database, codec=codec, clock=clock,
        dead_letter_topic=f"{service}.dlq.v1", on_commit=relay.hand_over, batch_size=BATCH)
    await consumer.start()
    tune_garbage_collector()  # as collections_core.service.serve does
    started, cpu_started = time.perf_counter(), time.process_time()
    tasks = [asyncio.create_task(consumer.run()), asyncio.create_task(relay.run())]
    labels = {"service": service, "topic": sink}

    def published() -> float:
        # This one metric, not the whole registry: collecting every metric (the process
        # collector reads /proc) 20 times a second cost the service process 1-2% of its CPU.
        return next((sample.value for metric in metrics.EVENTS_PUBLISHED.collect() for sample in metric.samples
                     if sample.name.endswith("_total") and sample.labels == labels), 0)

    next_report = 50_000
    try:
        while published() < count:
            await asyncio.sleep(0.05)
            if tasks[0].done() or tasks[1].done():
                raise RuntimeError(f"runtime task ended early: {[t.exception() for t in tasks if t.done()]}")
            published_so_far = published()
            if published_so_far >= next_report:
                progress(f"{service}: {int(published_so_far):,} published")
                next_report += 50_000
        elapsed = time.perf_counter() - started
        progress(f"{service}: process CPU {time.process_time() - cpu_started:.1f} s over {elapsed:.1f} s wall")
    finally:
        await consumer.stop()
        await relay.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    async with database.engine.connect() as connection:
        handled = (await connection.execute(text("SELECT count(*) FROM inbox"))).scalar()
    await database.dispose()
    if handled != count:
        raise RuntimeError(f"{service}: inbox holds {handled} events, expected {count}")
    return elapsed


def _service_process(arguments: tuple) -> tuple[float, int]:
    """One runtime leg as its own process: (seconds, peak resident memory in bytes)."""
    elapsed = uvloop.run(runtime_passthrough(*arguments))
    return elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_as_service(*arguments) -> tuple[float, int]:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_service_process, (arguments,))


async def run(args: argparse.Namespace, broker: KafkaBroker, postgres: LocalPostgres) -> None:
    run_id = uuid.uuid4().hex[:6]
    source = f"bench.input.{run_id}"
    sinks = {leg: f"bench.{leg}.{run_id}" for leg in ("raw", "sqlite", "postgresql")}
    for topic in (source, *sinks.values()):
        await create_topic(broker.bootstrap, topic, args.partitions)
    for leg in ("sqlite", "postgresql"):
        await create_topic(broker.bootstrap, f"bench-{leg}-{run_id}.dlq.v1", 1)
    value_size = await produce_input(broker.bootstrap, source, args.events)
    progress(f"input ready: {args.events:,} events of {value_size} bytes (value) on {args.partitions} partitions")

    results = {"raw": await raw_passthrough(broker.bootstrap, source, sinks["raw"], args.events)}
    progress(f"raw done in {results['raw']:.1f} s")
    peak_memory = {}
    sqlite_file = ROOT / "var" / "bench" / f"runtime-{run_id}.db"
    results["sqlite"], peak_memory["sqlite"] = await asyncio.to_thread(
        run_as_service, broker.bootstrap, f"sqlite:///{sqlite_file}", source, sinks["sqlite"], args.events,
        f"bench-sqlite-{run_id}")
    progress(f"sqlite done in {results['sqlite']:.1f} s")
    database = postgres.create_database(f"bench_{run_id}")
    results["postgresql"], peak_memory["postgresql"] = await asyncio.to_thread(
        run_as_service, broker.bootstrap, postgres.dsn(database), source, sinks["postgresql"], args.events,
        f"bench-postgresql-{run_id}")
    sqlite_file.unlink(missing_ok=True)

    raw_rate = args.events / results["raw"]
    print(f"runtime passthrough, {args.events:,} events of ~{value_size} bytes, {args.partitions} partitions, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{'leg':<12}{'seconds':>10}{'events/s':>12}{'vs raw':>9}{'peak RSS MiB':>14}")
    for leg, elapsed in results.items():
        rate = args.events / elapsed
        memory = f"{peak_memory[leg] / 2**20:,.0f}" if leg in peak_memory else "-"
        print(f"{leg:<12}{elapsed:>10.2f}{rate:>12,.0f}{rate / raw_rate:>9.1%}{memory:>14}")
    pg_rate = args.events / results["postgresql"]
    print(f"target: postgresql >= 10,000 events/s and >= 25% of raw -> "
          f"{'met' if pg_rate >= 10_000 and pg_rate / raw_rate >= 0.25 else 'MISSED'}")
    print(f"target: service process peak RSS <= 300 MiB -> "
          f"{'met' if max(peak_memory.values()) <= 300 * 2**20 else 'MISSED'}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=3)
    args = parser.parse_args()
    home = ROOT / "var" / "bench"
    kafka_home = Path(os.environ.get("CC_KAFKA_HOME", ROOT / "var" / "kafka"))
    broker = KafkaBroker(home / "kafka", port=free_port(), controller_port=free_port(), libs=kafka_home / "libs")
    postgres = LocalPostgres(home / "postgres", port=free_port())
    broker.start()
    postgres.start()
    try:
        broker.wait_ready()
        # uvloop, as the services get it from uvicorn; every leg runs on the same loop.
        uvloop.run(run(args, broker, postgres))
    finally:
        broker.stop()
        postgres.stop()


if __name__ == "__main__":
    main()
