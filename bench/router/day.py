"""The case-router's business day (issue 8's benchmark), on PostgreSQL.

A portfolio's delinquent accounts get a DelinquencyUpdated each for one business day,
with a realistic mix: DPD spread over every stage (so the day brings stage moves,
contacts, tasks, placements), 10% of cases under a promise to pay and 3% disputed.
The accounts' cases are opened the day before (not timed), and the database's
planner statistics are refreshed as autovacuum would have done for a book that grew
over months. The day's events are on the topic before the router starts on them, as
after the detector's end-of-day run, and as the raw leg finds them.

The timed run is the router — its real ServiceRuntime, started afresh on the day's
topic — from its start until every resulting event is on Kafka, once per replica
count given (default: one replica, then two, each on a database and topic of its
own). Replicas share one consumer group and one database, as a bank runs them
(decision 0020); the first is in this process, the others are spawned processes.
Both legs must emit the same number of events. The raw aiokafka consume → produce of
the same events is measured in the same run for comparison. Each leg prints every
replica's CPU and peak resident memory, and the CPU the whole machine, the broker and
PostgreSQL used meanwhile: on two cores, the machine's CPU is what bounds the day.

    python bench/router/day.py [--accounts 50000] [--replicas 1,2] [--profile FILE]

``--profile FILE`` runs the timed day under cProfile (this process only), writes the
stats to FILE and prints the costliest functions on stderr (profiling slows the run:
take figures from a run without it).

Starts its own Kafka broker and PostgreSQL server under var/bench-router/ (ports
39192, 35532) and stops them at the end. Progress on stderr, figures on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import multiprocessing
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

import psutil  # noqa: E402
import uvloop  # noqa: E402
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402
from local_kafka import KafkaBroker, create_topic, create_topics  # noqa: E402
from local_postgres import LocalPostgres  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402

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


def _machine_cpu() -> Counter:
    """CPU seconds so far: the whole machine's busy time, and the broker's and PostgreSQL's
    processes (a backend that ended meanwhile is not counted)."""
    times = psutil.cpu_times()
    seconds = Counter({"machine": sum(times) - times.idle - getattr(times, "iowait", 0.0)})
    for process in psutil.process_iter(["name", "cpu_times"]):
        name, used = process.info["name"] or "", process.info["cpu_times"]
        if used is not None and name in ("java", "postgres"):
            seconds["Kafka" if name == "java" else "PostgreSQL"] += used.user + used.system
    return seconds


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
    while not runtime.consumer.joined:  # a runtime just started: the topic's partitions are known once it joined
        await asyncio.sleep(0.01)
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


async def analyse(runtime) -> None:
    """Planner statistics as autovacuum keeps them on a portfolio that grew over months: the
    set-up wrote the whole book moments ago, before autovacuum's next round, and a plan made
    on an empty table's statistics (a sequential scan filtered by an array of thousands of
    ids) is not what a live router would be running."""
    async with runtime.unit_of_work() as work:
        await work.connection.execute(text("ANALYZE"))


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


def router_settings(database_url: str, bootstrap: str, group: str) -> RouterSettings:
    return RouterSettings(database_url=database_url, kafka_bootstrap_servers=bootstrap, consumer_group=group,
                          consumer_batch_size=2000, relay_batch_size=5000)


def replica(database_url: str, bootstrap: str, group: str, topic: str, go, stop, figures) -> None:
    """Another replica of the router, in its own process (spawned): built, then started on
    `go`, stopped on `stop`; it sends back its CPU seconds and peak resident memory."""
    configure_logging("case-router", "WARNING", True)
    tune_garbage_collector()

    async def serve() -> None:
        runtime = build_runtime(router_settings(database_url, bootstrap, group), topics=[topic])
        await asyncio.to_thread(go.wait)
        cpu = _cpu_seconds()
        await runtime.start()
        try:
            while not stop.is_set():
                await asyncio.sleep(0.05)
        finally:
            await runtime.stop()
        figures.put((_cpu_seconds() - cpu, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))

    uvloop.run(serve())


async def seed(broker: KafkaBroker, settings: RouterSettings, topic: str, accounts: int) -> None:
    runtime = build_runtime(settings, topics=[topic])
    await runtime.start()
    try:
        progress(f"seeding {accounts} cases (the day before, not timed)")
        await produce_day(broker.bootstrap, topic, accounts, DAY - timedelta(days=1), shift=1)
        await wait_handled(runtime, topic, accounts)
        await add_holds(runtime, accounts)
        await analyse(runtime)
    finally:
        await runtime.stop()


async def day_leg(broker: KafkaBroker, postgres: LocalPostgres, accounts: int, replicas: int,
                  profile: str | None) -> dict:
    """One business day handled by `replicas` routers in one consumer group on one
    database: this process and replicas - 1 spawned ones."""
    run = uuid.uuid4().hex[:6]
    seed_topic, day_topic = f"bench.seed.{run}", f"bench.day.{run}"
    for topic in (seed_topic, day_topic):
        await create_topic(broker.bootstrap, topic, 6)
    await visible(broker.bootstrap, [seed_topic, day_topic])
    database_url, group = postgres.dsn(postgres.create_database(f"router_{run}")), f"router-{run}"
    settings = router_settings(database_url, broker.bootstrap, group)
    await seed(broker, settings, seed_topic, accounts)
    progress("the day's events onto the topic (not timed)")
    await produce_day(broker.bootstrap, day_topic, accounts, DAY, shift=0)
    spawn = multiprocessing.get_context("spawn")
    go, stop, reports = spawn.Event(), spawn.Event(), spawn.Queue()
    others = [spawn.Process(target=replica, args=(database_url, broker.bootstrap, group, day_topic, go, stop, reports))
              for _ in range(replicas - 1)]
    for process in others:
        process.start()
    await asyncio.sleep(3 if others else 0)  # the spawned replicas import and build before `go`
    progress(f"timed: one business day, {replicas} replica(s)")
    runtime = build_runtime(settings, topics=[day_topic])
    profiler = cProfile.Profile() if profile else None
    loads, cpu, waited, machine = [os.getloadavg()[0]], [_cpu_seconds()], [_statement_seconds()], [_machine_cpu()]
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    go.set()
    await runtime.start()
    try:
        await wait_handled(runtime, day_topic, 2 * accounts)
        elapsed = time.perf_counter() - started
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(30)
        loads.append(os.getloadavg()[0])
        cpu.append(_cpu_seconds())
        waited.append(_statement_seconds())
        machine.append(_machine_cpu())
        async with runtime.database.reading() as connection:
            emitted = (await connection.execute(select(func.count()).select_from(outbox))).scalar_one()
            handled = (await connection.execute(select(func.count()).select_from(inbox))).scalar_one()
        assert handled == 2 * accounts, f"{handled} events in the inbox, {2 * accounts} sent"
    finally:
        stop.set()
        await runtime.stop()
        others_figures = [await asyncio.to_thread(reports.get, True, 60) for _ in others]
        for process in others:
            process.join(30)
    return {"replicas": replicas, "router_seconds": elapsed, "emitted_total": emitted, "loads": loads,
            "cpu_seconds": [cpu[1] - cpu[0]] + [c for c, _ in others_figures],
            "rss_mib": [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024] + [r for _, r in others_figures],
            "statement_seconds": waited[1] - waited[0], "machine_seconds": machine[1] - machine[0],
            "day_topic": day_topic}


async def bench(broker: KafkaBroker, postgres: LocalPostgres, accounts: int, replica_counts: list[int],
                profile: str | None) -> dict:
    configure_logging("case-router", "WARNING", True)
    tune_garbage_collector()  # as collections_core.service.serve does
    legs = [await day_leg(broker, postgres, accounts, replicas, profile) for replicas in replica_counts]
    progress("raw aiokafka leg over the same events")
    raw_topic = f"bench.raw.{uuid.uuid4().hex[:6]}"
    await create_topic(broker.bootstrap, raw_topic, 6)
    raw = await raw_leg(broker.bootstrap, legs[-1]["day_topic"], raw_topic, accounts)
    emitted = {leg["emitted_total"] for leg in legs}
    assert len(emitted) == 1, f"the legs emitted different numbers of events: {emitted}"
    return {"legs": legs, "raw_seconds": raw}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=50_000, help="delinquent accounts (one event each)")
    parser.add_argument("--replicas", default="1,2",
                        help="comma-separated replica counts, one timed day each (default 1,2)")
    parser.add_argument("--profile", metavar="FILE", help="run the timed day under cProfile, stats to FILE")
    args = parser.parse_args()
    replica_counts = [int(n) for n in args.replicas.split(",")]
    if not replica_counts or min(replica_counts) < 1:
        parser.error("--replicas takes counts of 1 or more, e.g. 1,2")
    home = ROOT / "var" / "bench-router"
    broker = KafkaBroker(home / "kafka", port=39192, controller_port=39193,
                         libs=Path(os.environ.get("CC_KAFKA_HOME", ROOT / "var" / "kafka")) / "libs")
    postgres = LocalPostgres(home / "postgres", port=35532)
    broker.fetch()
    broker.start()
    postgres.start()
    try:
        broker.wait_ready()
        create_topics(broker.bootstrap, ROOT / "deploy" / "topics.yaml")
        figures = uvloop.run(bench(broker, postgres, args.accounts, replica_counts, args.profile))
    finally:
        broker.stop()
        postgres.stop()
    n = args.accounts
    raw = n / figures["raw_seconds"]
    print(f"accounts (DelinquencyUpdated on the day): {n}")
    print(f"raw aiokafka consume→produce, same events: {raw:,.0f} events/s")
    for leg in figures["legs"]:
        router = n / leg["router_seconds"]
        print(f"router, PostgreSQL, {leg['replicas']} replica(s): {router:,.0f} events/s "
              f"({leg['router_seconds']:.1f} s), {router / raw:.1%} of raw")
        print("  CPU during the timed day, per replica: "
              + ", ".join(f"{seconds:.1f} s" for seconds in leg["cpu_seconds"])
              + " (the first is this process: router and Kafka clients)")
        print("  this process waiting for PostgreSQL's answers: "
              + ", ".join(f"{operation} {seconds:.1f} s" for operation, seconds in leg["statement_seconds"].most_common()))
        used = leg["machine_seconds"]
        print(f"  CPU of the whole machine ({psutil.cpu_count()} cores) during the timed day: {used['machine']:.1f} s "
              f"of {psutil.cpu_count() * leg['router_seconds']:.1f} s; Kafka broker {used['Kafka']:.1f} s, "
              f"PostgreSQL {used['PostgreSQL']:.1f} s")
        print(f"  load average (1 min) at the start and end: {leg['loads'][0]:.1f}, {leg['loads'][1]:.1f}")
        print(f"  events emitted by the router over both days: {leg['emitted_total']}")
        print("  peak resident memory per replica: " + ", ".join(f"{mib:,.0f} MiB" for mib in leg["rss_mib"])
              + " (the first includes the input producer and, after the last leg, the raw leg)")


if __name__ == "__main__":
    main()
