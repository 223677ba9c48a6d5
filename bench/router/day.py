"""The case-router's business day (issue 8's benchmark), on PostgreSQL.

A portfolio's delinquent accounts get a DelinquencyUpdated each for one business day,
with a realistic mix: DPD spread over every stage (so the day brings stage moves,
contacts, tasks, placements), 10% of cases under a promise to pay and 3% disputed.
The accounts' cases are opened the day before (not timed); the timed run is the
router — in-process, its real ServiceRuntime — from the first event of the day until
every resulting event is on Kafka. The raw aiokafka consume → produce of the same
events is measured in the same run for comparison. Peak resident memory is that of
this process (router, producer of the inputs and the raw leg together).

    python bench/router/day.py [--accounts 50000] [--profile FILE]

``--profile FILE`` runs the timed day under cProfile, writes the stats to FILE and
prints the costliest functions on stderr (profiling slows the run: take figures
from a run without it).

Starts its own Kafka broker and PostgreSQL server under var/bench-router/ (ports
39192, 35532) and stops them at the end. Progress on stderr, figures on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import resource
import sys
import time
import uuid
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy" / "local"))

import uvloop  # noqa: E402
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402
from local_kafka import KafkaBroker, create_topic, create_topics  # noqa: E402
from local_postgres import LocalPostgres  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from case_router import judgement  # noqa: E402
from case_router.casebook import business_day, open_case_of, start_hold  # noqa: E402
from case_router.domain.promises import PromiseToPay  # noqa: E402
from case_router.main import build_runtime  # noqa: E402
from case_router.settings import RouterSettings  # noqa: E402
from collections_core.clock import SystemClock  # noqa: E402
from collections_core.codec import EventCodec, TypeRegistry  # noqa: E402
from collections_core.contracts.collections.v1 import delinquency_pb2  # noqa: E402
from collections_core.logs import configure_logging  # noqa: E402
from collections_core.metrics import DATABASE_STATEMENT_SECONDS  # noqa: E402
from collections_core.service import tune_garbage_collector  # noqa: E402
from collections_core.money import Money  # noqa: E402
from collections_core.storage import inbox, outbox  # noqa: E402
from collections_core.tracing import TraceContext  # noqa: E402
from collections_core.wire import date_to_proto  # noqa: E402

DAY = date(2026, 11, 2)
# DPD on the timed day: some cross a stage boundary that day, most do not.
DPD_MIX = (1, 4, 8, 12, 20, 31, 45, 61, 75, 91, 120, 181)
FLOORS = ((181, 8), (151, 7), (121, 6), (91, 5), (61, 4), (31, 3), (1, 2))


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _statement_seconds() -> Counter:
    """Time spent waiting for the database's answers so far, per kind of statement (the
    runtime's statement histogram)."""
    return Counter({sample.labels["operation"]: sample.value for metric in DATABASE_STATEMENT_SECONDS.collect()
                    for sample in metric.samples if sample.name.endswith("_sum")})


def progress(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def update(account: int, day: date, dpd: int) -> delinquency_pb2.DelinquencyUpdated:
    return delinquency_pb2.DelinquencyUpdated(
        account_id=f"ACC-{account:08d}", customer_id=f"CUS-{account:08d}", business_date=date_to_proto(day),
        state=delinquency_pb2.DelinquencyState(
            dpd=dpd, bucket=next(v for floor, v in FLOORS if dpd >= floor),
            past_due_amount=Money(50_000 + account % 1000, "CNY").to_proto(),
            balance=Money(300_000 + (account % 7) * 200_000, "CNY").to_proto()))


async def produce_day(bootstrap: str, topic: str, accounts: int, day: date, shift: int) -> None:
    codec = EventCodec(TypeRegistry.of_contracts(), "/card-collections/overdue-detector")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=20,
                                max_batch_size=512 * 1024)
    await producer.start()
    try:
        pending = []
        for n in range(accounts):
            dpd = max(1, DPD_MIX[n % len(DPD_MIX)] - shift)
            message = update(n, day, dpd)
            headers, value = codec.encode(message, message.account_id, SystemClock().now(), TraceContext.new())
            pending.append(await producer.send(topic, value=value, key=message.account_id.encode(), headers=headers))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def wait_handled(runtime, topic: str, count: int) -> None:
    """Until the router's group has committed past every event on `topic` (its poll
    batches' transactions committed) and the outbox is empty. Progress is reported as
    batches commit; the database is asked only at the end, so the wait does not compete
    with the router for it."""
    ends = await runtime.consumer.log_end_offsets([topic])
    reported = time.monotonic()
    while not await runtime.consumer.consumed_past(ends):
        if time.monotonic() - reported > 10:
            reported = time.monotonic()
            async with runtime.database.reading() as connection:
                handled = (await connection.execute(select(func.count()).select_from(inbox))).scalar_one()
            progress(f"{handled} events handled of {count} in total, load average {os.getloadavg()[0]:.1f}")
        await asyncio.sleep(0.2)
    while await runtime.relay.backlog():
        await asyncio.sleep(0.2)


async def add_holds(runtime, accounts: int) -> None:
    """10% of cases under a promise to pay, 3% disputed."""
    strategy = runtime.strategy
    async with runtime.unit_of_work() as work:
        for n in range(0, accounts, 10):
            case = await open_case_of(work, f"ACC-{n:08d}")
            today = business_day(work, case)
            await judgement.take_promise(work, strategy, case, PromiseToPay(20_000, today + timedelta(days=10), today),
                                         "bench", f"bench-{n}")
        for n in range(3, accounts, 33):
            case = await open_case_of(work, f"ACC-{n:08d}")
            await start_hold(work, case, "dispute", business_day(work, case), None, "bench dispute")


async def visible(bootstrap: str, names: list[str]) -> None:
    """A consumer that subscribes before new topics reach the metadata waits minutes for a refresh."""
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await probe.start()
    try:
        while not set(names) <= await probe.topics():
            await asyncio.sleep(0.2)
    finally:
        await probe.stop()


async def raw_leg(bootstrap: str, source: str, sink: str, count: int) -> float:
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, group_id=f"raw-{uuid.uuid4().hex[:6]}",
                                auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=2000)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=5,
                                max_batch_size=256 * 1024)
    await consumer.start()
    await producer.start()
    started, seen = time.perf_counter(), 0
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


async def bench(broker: KafkaBroker, postgres: LocalPostgres, accounts: int, profile: str | None) -> dict:
    run = uuid.uuid4().hex[:6]
    seed_topic, day_topic = f"bench.seed.{run}", f"bench.day.{run}"
    for topic in (seed_topic, day_topic, f"bench.raw.{run}"):
        await create_topic(broker.bootstrap, topic, 6)
    await visible(broker.bootstrap, [seed_topic, day_topic])
    configure_logging("case-router", "WARNING", True)
    settings = RouterSettings(database_url=postgres.dsn(postgres.create_database(f"router_{run}")),
                              kafka_bootstrap_servers=broker.bootstrap, consumer_group=f"router-{run}",
                              consumer_batch_size=2000, relay_batch_size=5000)
    runtime = build_runtime(settings, topics=[seed_topic, day_topic])
    tune_garbage_collector()  # as collections_core.service.serve does
    await runtime.start()
    try:
        progress(f"seeding {accounts} cases (the day before, not timed)")
        await produce_day(broker.bootstrap, seed_topic, accounts, DAY - timedelta(days=1), shift=1)
        await wait_handled(runtime, seed_topic, accounts)
        await add_holds(runtime, accounts)
        progress("timed: one business day")
        profiler = cProfile.Profile() if profile else None
        loads, cpu, waited = [os.getloadavg()[0]], [_cpu_seconds()], [_statement_seconds()]
        produced = asyncio.create_task(produce_day(broker.bootstrap, day_topic, accounts, DAY, shift=0))
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        await produced
        await wait_handled(runtime, day_topic, 2 * accounts)
        elapsed = time.perf_counter() - started
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(30)
        loads.append(os.getloadavg()[0])
        cpu.append(_cpu_seconds())
        waited.append(_statement_seconds())
        async with runtime.database.reading() as connection:
            emitted = (await connection.execute(select(func.count()).select_from(outbox))).scalar_one()
            handled = (await connection.execute(select(func.count()).select_from(inbox))).scalar_one()
        assert handled == 2 * accounts, f"{handled} events in the inbox, {2 * accounts} sent"
    finally:
        await runtime.stop()
    progress("raw aiokafka leg over the same events")
    raw = await raw_leg(broker.bootstrap, day_topic, f"bench.raw.{run}", accounts)
    return {"router_seconds": elapsed, "raw_seconds": raw, "emitted_total": emitted, "loads": loads,
            "cpu_seconds": cpu[1] - cpu[0], "statement_seconds": waited[1] - waited[0]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=50_000, help="delinquent accounts (one event each)")
    parser.add_argument("--profile", metavar="FILE", help="run the timed day under cProfile, stats to FILE")
    args = parser.parse_args()
    home = ROOT / "var" / "bench-router"
    broker = KafkaBroker(home / "kafka", port=39192, controller_port=39193, libs=Path(os.environ.get("CC_KAFKA_HOME", ROOT / "var" / "kafka")) / "libs")
    postgres = LocalPostgres(home / "postgres", port=35532)
    broker.fetch()
    broker.start()
    postgres.start()
    try:
        broker.wait_ready()
        create_topics(broker.bootstrap, ROOT / "deploy" / "topics.yaml")
        figures = uvloop.run(bench(broker, postgres, args.accounts, args.profile))
    finally:
        broker.stop()
        postgres.stop()
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n = args.accounts
    router, raw = n / figures["router_seconds"], n / figures["raw_seconds"]
    print(f"accounts (DelinquencyUpdated on the day): {n}")
    print(f"router, PostgreSQL: {router:,.0f} events/s ({figures['router_seconds']:.1f} s)")
    print(f"raw aiokafka consume→produce, same events: {raw:,.0f} events/s")
    print(f"router / raw: {router / raw:.1%}")
    print(f"during the timed day: this process's CPU {figures['cpu_seconds']:.1f} s (router, input producer and "
          f"Kafka clients); waiting for PostgreSQL's answers "
          + ", ".join(f"{operation} {seconds:.1f} s"
                      for operation, seconds in figures["statement_seconds"].most_common()))
    print(f"load average (1 min) at the start and end of the timed day: "
          f"{figures['loads'][0]:.1f}, {figures['loads'][1]:.1f}")
    print(f"events emitted by the router over both days: {figures['emitted_total']}")
    print(f"peak resident memory of this process: {rss_mib:,.0f} MiB")


if __name__ == "__main__":
    main()
