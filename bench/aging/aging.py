"""Daily aging benchmark of the overdue-detector (DESIGN.md: 1M accounts aged and
published within 10 s on PostgreSQL; 10M reported).

For each engine (PostgreSQL, SQLite), in one run:

1. runs the detector's Alembic migrations on a fresh database;
2. builds a portfolio of N accounts straight into the detector's own ledger tables
   (and backfills their positions with the detector's positions.refresh_all_positions)
   with set-based SQL (INSERT ... SELECT generate_series / a recursive CTE), exactly
   the rows the handlers write for AccountOpened, StatementIssued and PaymentPosted:
   1-3 monthly statement cycles per account, every 20th account (5%) delinquent
   (nothing paid), every other account paid each minimum two days before its due date;
3. times business_days.age_business_day() as the detector runs it: page by page, each
   page one transaction whose committed outbox rows go to a real OutboxRelay (running
   as a task, as in the detector), until the day's last commit, on uvloop with the
   runtime's garbage-collector tuning (as serve() runs the detector);
4. and until the relay has published every row to collections.delinquency.v1;
5. meanwhile probes the event loop every 50 ms (a timer that must fire on time, as a
   health probe or the consumer's heartbeat must be answered) and reports the worst
   lateness, and for each probe late by over 100 ms the phases it overlapped and the
   CPU the process used meanwhile (near the lateness: the process's own code held the
   loop; far below it: the machine did not run the process);
6. the yardstick: publishes the same records (keys, values, headers) straight to a
   topic with the same partitions on the same broker with a plain aiokafka producer,
   and reports the aging's time as a multiple of it (machines differ; the ratio
   travels better than seconds);
7. reports the peak resident memory of this process (the service's code runs in it).

    python bench/aging/aging.py [--accounts 1000000] [--engines postgresql,sqlite] [--profile]

Starts its own Kafka broker and PostgreSQL server under var/bench/aging/ (on free
ports; the Kafka jars from $CC_KAFKA_HOME/libs, default var/kafka/libs) and stops
them at the end. Progress on stderr, figures on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import platform
import pstats
import resource
import shutil
import socket
import sys
import time
import uuid
from collections import Counter
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy" / "local"))

import uvloop  # noqa: E402
from aiokafka import AIOKafkaProducer  # noqa: E402
from local_kafka import KafkaBroker, create_topic, create_topics  # noqa: E402
from local_postgres import LocalPostgres  # noqa: E402
from prometheus_client import REGISTRY  # noqa: E402
from sqlalchemy import select, text  # noqa: E402

import overdue_detector  # noqa: E402
from collections_core.clock import SystemClock  # noqa: E402
from collections_core.codec import EventCodec, TypeRegistry  # noqa: E402
from collections_core.database import Database  # noqa: E402
from collections_core.migrations import upgrade  # noqa: E402
from collections_core.outbox import OutboxRecord, OutboxRelay, _unpack_headers  # noqa: E402
from collections_core.service import tune_garbage_collector  # noqa: E402
from collections_core.storage import outbox  # noqa: E402
from collections_core.unit_of_work import UnitOfWork, unit_of_work_factory  # noqa: E402
from overdue_detector import aging as aging_sql  # noqa: E402
from overdue_detector import business_days, delinquency_events  # noqa: E402
from overdue_detector.domain import DelinquencyPolicy  # noqa: E402
from overdue_detector.positions import refresh_all_positions  # noqa: E402
from overdue_detector.settings import DetectorSettings  # noqa: E402
from overdue_detector.tables import day_number  # noqa: E402

SETTINGS = DetectorSettings()  # the defaults a deployment starts from
SERVICE = SETTINGS.service_name
TOPIC = delinquency_events.DELINQUENCY
YARDSTICK_TOPIC = "bench.aging.yardstick"
PROBE_INTERVAL = 0.05
STALL = 0.1  # a probe this late is listed with the phases it overlapped
MIGRATIONS = Path(overdue_detector.__file__).parent / "migrations"
BUSINESS_DATE = date(2026, 11, 27)
DELINQUENT_EVERY = 20  # 5%
CHUNK = 1_000_000  # accounts per generation statement (progress granularity)


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# -- portfolio -----------------------------------------------------------------------------------
#
# Account i (1..N): ACC-<i>, customer CUS-<i>, CNY, opened 400 days before D.
# k = 1 + i % 3 cycles; cycle j (1..k) closes on D - 25 - 30 (k - j), due 20 days later,
# so the latest due date is D - 5 (past due after the 3-day grace when unpaid).
# minimum 5,000..14,900 minor units, statement balance 20 x minimum.
# Delinquent (i % 20 = 0): no payments -> DPD 5, 35 or 65 (M1, M2, M3).
# Current: one payment per cycle, the minimum, valued and posted 2 days before the due date.


def _sql(dialect: str) -> dict[str, str]:
    if dialect == "postgresql":
        series = "FROM generate_series(CAST(:lo AS integer), CAST(:hi AS integer)) AS g(i)"
        cycles_series = f"{series} CROSS JOIN generate_series(1, 3) AS c(j)"
        acc, cus = "'ACC-' || lpad(i::text, 10, '0')", "'CUS-' || lpad(i::text, 10, '0')"
        stm = "'STM-' || lpad(i::text, 10, '0') || '-' || j"
        pay = "'PAY-' || lpad(i::text, 10, '0') || '-' || j"
        false, prefix = "false", ""
    else:
        series = "FROM g"
        cycles_series = "FROM g CROSS JOIN c"
        acc, cus = "printf('ACC-%010d', i)", "printf('CUS-%010d', i)"
        stm, pay = "printf('STM-%010d-%d', i, j)", "printf('PAY-%010d-%d', i, j)"
        false = "0"
        prefix = ("WITH RECURSIVE g(i) AS (SELECT :lo UNION ALL SELECT i + 1 FROM g WHERE i < :hi), "
                  "c(j) AS (VALUES (1), (2), (3)) ")
    k = "(1 + i % 3)"
    cycle_day = f"(CAST(:d AS integer) - 25 - 30 * ({k} - j))"
    minimum = "(5000 + (i % 100) * 100)"
    return {
        "ledger_accounts": f"""
            INSERT INTO ledger_accounts (account_id, customer_id, currency, opened_day)
            {prefix}SELECT {acc}, {cus}, 'CNY', CAST(:d AS integer) - 400 {series}""",
        "ledger_statement_cycles": f"""
            INSERT INTO ledger_statement_cycles
                (statement_id, account_id, cycle_day, due_day, minimum_due_minor, statement_balance_minor)
            {prefix}SELECT {stm}, {acc}, {cycle_day}, {cycle_day} + 20, {minimum}, 20 * {minimum}
            {cycles_series} WHERE j <= {k}""",
        "ledger_payments": f"""
            INSERT INTO ledger_payments (payment_id, account_id, amount_minor, posted_day, value_day, reversed)
            {prefix}SELECT {pay}, {acc}, {minimum}, {cycle_day} + 18, {cycle_day} + 18, {false}
            {cycles_series} WHERE j <= {k} AND i % {DELINQUENT_EVERY} <> 0""",
    }


async def build_portfolio(database: Database, accounts: int) -> dict[str, int]:
    statements = _sql(database.dialect)
    d = day_number(BUSINESS_DATE)
    started = time.perf_counter()
    for lo in range(1, accounts + 1, CHUNK):
        hi = min(lo + CHUNK - 1, accounts)
        async with database.transaction() as connection:
            for table, sql in statements.items():
                await connection.execute(text(sql), {"lo": lo, "hi": hi, "d": d})
        progress(f"{database.dialect}: built accounts {hi:,}/{accounts:,} ({time.perf_counter() - started:.1f} s)")
    # The positions the handlers keep per account, backfilled by the detector's own SQL.
    async with database.transaction() as connection:
        await refresh_all_positions(connection)
    progress(f"{database.dialect}: positions backfilled ({time.perf_counter() - started:.1f} s)")
    if database.dialect == "postgresql":
        async with database.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("VACUUM ANALYZE"))  # visibility map + planner statistics
    else:
        async with database.transaction() as connection:
            await connection.execute(text("ANALYZE"))
    async with database.engine.connect() as connection:
        counts = {table: (await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
                  for table in statements}
    progress(f"{database.dialect}: portfolio ready in {time.perf_counter() - started:.1f} s: "
             + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
    return counts


# -- phase timings (wrappers around the detector's own functions; its code is not changed) ----------


class Phases:
    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()
        self.spans: list[tuple[str, float, float]] = []  # (label, start, end) on the loop's clock

    def add(self, label: str, started: float) -> None:
        ended = time.perf_counter()
        self.seconds[label] += ended - started
        self.spans.append((label, started, ended))

    def covered(self, start: float, end: float) -> float:
        """Seconds of [start, end] during which at least one phase ran (they overlap)."""
        total, reached = 0.0, start
        for _, s, e in sorted(self.spans, key=lambda span: span[1]):
            s, e = max(s, reached), min(e, end)
            if e > s:
                total, reached = total + e - s, e
        return total

    def during(self, start: float, end: float) -> list[str]:
        """The phases that overlapped [start, end] (where a probe was late)."""
        return sorted({label for label, s, e in self.spans if s < end and e > start})

    def wrap(self, module, name: str, label: str) -> None:
        original = getattr(module, name)

        async def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                self.add(label, started)

        setattr(module, name, timed)
        self._restore.append((module, name, original))

    def __enter__(self) -> Phases:
        self._restore = []
        self.wrap(aging_sql, "candidates", "aging SQL: the day's candidates (candidates)")
        self.wrap(aging_sql, "facts_of_accounts", "aging SQL: a page's facts (facts_of_accounts)")
        self.wrap(business_days, "record_states", "a page's states upserted (record_states)")
        self.wrap(UnitOfWork, "flush", "outbox insert, page by page (work.flush)")
        self.wrap(business_days, "portfolio", "portfolio summary SQL (portfolio)")
        return self

    def __exit__(self, *_exc) -> None:
        for module, name, original in reversed(self._restore):
            setattr(module, name, original)


class Probe:
    """A timer due every PROBE_INTERVAL: how late it fires is how long the event loop
    was kept from answering a probe or a heartbeat."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.samples = 0
        self.stalls: list[tuple[float, float, float]] = []  # (due, fired, CPU seconds used), late by > STALL
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        while True:
            due, cpu = time.perf_counter() + PROBE_INTERVAL, time.process_time()
            await asyncio.sleep(PROBE_INTERVAL)
            fired = time.perf_counter()
            self.worst = max(self.worst, fired - due)
            self.samples += 1
            if fired - due > STALL:
                # CPU this process used meanwhile: near the lateness, its own code held the loop;
                # far below it, the machine did not run the process (other load).
                self.stalls.append((due, fired, time.process_time() - cpu))

    def __enter__(self) -> Probe:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *_exc) -> None:
        self._task.cancel()


async def yardstick(bootstrap: str, records: list) -> float:
    """Seconds to publish `records` straight to the broker with aiokafka (acks=all, idempotent)."""
    partitions = len(await _partitions(bootstrap, TOPIC))
    await create_topic(bootstrap, YARDSTICK_TOPIC, partitions)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                                linger_ms=5, max_batch_size=1_048_576)
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [await producer.send(YARDSTICK_TOPIC, r.value, key=r.key, headers=r.headers) for r in records]
        await asyncio.gather(*futures)
        return time.perf_counter() - started
    finally:
        await producer.stop()


async def _partitions(bootstrap: str, topic: str) -> set[int]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        return await producer.partitions_for(topic)
    finally:
        await producer.stop()


async def stored_records(database: Database) -> list[OutboxRecord]:
    """The day's events as the outbox holds them, in order (for the yardstick)."""
    async with database.reading() as connection:
        rows = (await connection.execute(select(outbox.c.topic, outbox.c.record_key, outbox.c.record_value,
                                                outbox.c.headers).order_by(outbox.c.id))).all()
    return [OutboxRecord(r.topic, r.record_key, r.record_value, _unpack_headers(r.headers)) for r in rows]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def published() -> float:
    return REGISTRY.get_sample_value("cc_events_published_total", {"service": SERVICE, "topic": TOPIC}) or 0


async def age_and_publish(database: Database, bootstrap: str, profile: bool) -> dict:
    clock = SystemClock()
    codec = EventCodec(TypeRegistry.of_contracts(), f"/card-collections/{SERVICE}")
    policy = DelinquencyPolicy()
    relay = OutboxRelay(database, bootstrap, SERVICE, clock, batch_size=SETTINGS.relay_batch_size,
                        poll_interval=SETTINGS.relay_poll_interval_seconds)
    relay_task = asyncio.create_task(relay.run())
    await asyncio.sleep(1.0)  # producer connected, first idle table read done
    baseline = published()
    profiler = cProfile.Profile() if profile else None
    result: dict = {}
    try:
        with Phases() as phases, Probe() as probe:
            progress(f"{database.dialect}: aging {BUSINESS_DATE}")
            if profiler:
                profiler.enable()
            started, cpu_started = time.perf_counter(), time.process_time()
            units = unit_of_work_factory(database, codec, clock, relay.hand_over)
            aged = await business_days.age_business_day(units, database.reading, BUSINESS_DATE, policy, SERVICE)
            emitted = sum(aged.values())
            aging_seconds = time.perf_counter() - started
            progress(f"{database.dialect}: aged in {aging_seconds:.2f} s, {emitted:,} events, "
                     f"{int(published() - baseline):,} of them published by then")
            relay_started = time.perf_counter()
            target = baseline + emitted
            next_report = baseline + 50_000
            while published() < target:
                await asyncio.sleep(0.02)
                if relay_task.done():
                    raise RuntimeError(f"relay ended early: {relay_task.exception()!r}")
                if published() >= next_report:
                    progress(f"{database.dialect}: {int(published() - baseline):,} published")
                    next_report += 50_000
            total_seconds = time.perf_counter() - started
            cpu_seconds = time.process_time() - cpu_started
            if profiler:
                profiler.disable()
        phases.spans.append(("relay publishing after the last commit", relay_started,
                             relay_started + total_seconds - aging_seconds))
        stalls = [(fired - due, cpu, phases.during(due, fired) or ["python between the phases above"])
                  for due, fired, cpu in probe.stalls]
        result = dict(emitted=emitted, aging=aging_seconds, total=total_seconds, cpu=cpu_seconds,
                      phases=dict(phases.seconds), probe_worst=probe.worst,
                      in_no_phase=aging_seconds - phases.covered(started, started + aging_seconds),
                      probe_samples=probe.samples, stalls=stalls,
                      peak_rss_mib=peak_rss_mib())  # before the yardstick reads every record back
        progress(f"{database.dialect}: yardstick, {emitted:,} records straight to the broker")
        records = await stored_records(database)
        # The day's events by type as the outbox holds them (not as the aging counted them).
        result["types"] = Counter(dict(r.headers)["ce_type"].decode().rsplit(".", 1)[-1] for r in records)
        result["stored"] = len(records)
        result["yardstick"] = await yardstick(bootstrap, records)
        if profiler:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(35)
            result["profile"] = out.getvalue()
    finally:
        await relay.stop()
        relay_task.cancel()
        await asyncio.gather(relay_task, return_exceptions=True)
    async with database.engine.connect() as connection:
        result["unpublished"] = (await connection.execute(
            text("SELECT count(*) FROM outbox WHERE published_at IS NULL"))).scalar_one()
        result["outbox_rows"] = (await connection.execute(text("SELECT count(*) FROM outbox"))).scalar_one()
    return result


async def explain(database: Database) -> str:
    """EXPLAIN ANALYZE of the aging's first page of facts (PostgreSQL), after the timed run."""
    policy = DelinquencyPolicy()
    async with database.engine.connect() as connection:
        page = (await aging_sql.candidates(connection, BUSINESS_DATE, policy, None))[:business_days.PAGE]
        rows = (await connection.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + aging_sql.page_query(policy, True)), {
            **aging_sql._parameters(BUSINESS_DATE, policy, None), "accounts": page})).all()
        await connection.rollback()
    return "\n".join(r[0] for r in rows)


async def run_engine(engine: str, url: str, bootstrap: str, accounts: int, profile: bool) -> dict:
    # As the detector's batch jobs connect (ServiceRuntime.batch_database).
    database = Database(url, command_timeout=SETTINGS.batch_statement_timeout_seconds)
    try:
        started = time.perf_counter()
        await upgrade(database, MIGRATIONS)
        progress(f"{engine}: migrated in {time.perf_counter() - started:.1f} s")
        counts = await build_portfolio(database, accounts)
        counts["build_seconds"] = time.perf_counter() - started
        result = await age_and_publish(database, bootstrap, profile)
        result["counts"] = counts
        if profile and engine == "postgresql":
            # The second run would find the day aged; EXPLAIN runs the statement on its own.
            result["explain"] = await explain(database)
        return result
    finally:
        await database.dispose()


def report(engine: str, accounts: int, r: dict) -> bool:
    delinquent = (accounts // DELINQUENT_EVERY)
    updated = r["types"].get("DelinquencyUpdated", 0)
    ok = updated == delinquent and r["unpublished"] == 0 and r["stored"] == r["emitted"]
    print(f"\n== {engine}: {accounts:,} accounts ==")
    print(f"accounts                 {accounts:>14,}")
    print(f"delinquent accounts      {delinquent:>14,}")
    print(f"events emitted           {r['emitted']:>14,}   ({', '.join(f'{t} {n:,}' for t, n in sorted(r['types'].items()))})")
    print(f"aging seconds           {r['aging']:>14.2f}   (first transaction's start to the last commit)")
    print(f"seconds until published  {r['total']:>14.2f}   (relay {r['total'] - r['aging']:.2f} s after the last commit)")
    print(f"events published/s       {r['emitted'] / r['total']:>14,.0f}   (over the whole run)")
    print(f"process CPU seconds      {r['cpu']:>14.2f}")
    print(f"yardstick seconds        {r['yardstick']:>14.2f}   (the same {r['stored']:,} records straight to the "
          f"broker with aiokafka)")
    print(f"ratio to yardstick       {r['total'] / r['yardstick']:>14.2f}   (seconds until published / yardstick)")
    print(f"peak resident memory     {r['peak_rss_mib']:>14,.0f} MiB (this process, so far in the run)")
    print(f"probe, worst lateness    {r['probe_worst'] * 1000:>14,.0f} ms  (a {PROBE_INTERVAL * 1000:.0f} ms timer, "
          f"{r['probe_samples']:,} samples while aging and publishing)")
    for lateness, cpu, during in sorted(r["stalls"], reverse=True)[:8]:
        print(f"  probe {lateness * 1000:>6,.0f} ms late, process CPU meanwhile {cpu * 1000:>6,.0f} ms, during: "
              f"{'; '.join(during)}")
    print(f"sanity: DelinquencyUpdated {updated:,} == delinquent accounts {delinquent:,}; "
          f"outbox {r['outbox_rows']:,} rows, {r['unpublished']} unpublished -> {'OK' if ok else 'FAILED'}")
    print(f"portfolio build          {r['counts']['build_seconds']:>14.1f} s  "
          f"(cycles {r['counts']['ledger_statement_cycles']:,}, payments {r['counts']['ledger_payments']:,})")
    print("aging phases (seconds; pages overlap, so they add up to more than the aging):")
    for label, seconds in sorted(r["phases"].items(), key=lambda kv: -kv[1]):
        print(f"  {label:<46}{seconds:>8.2f}")
    print(f"  {'while none of them ran: decisions and events only':<46}{r['in_no_phase']:>8.2f}")
    if engine == "postgresql":
        verdict = ("met" if r["total"] <= 10 else "MISSED") if accounts == 1_000_000 else "n/a (set for 1M accounts)"
        print(f"target: 1M accounts aged and published within 10 s on PostgreSQL -> {verdict}")
    memory_target = 1024 if accounts <= 1_000_000 else 4096
    print(f"target: peak resident memory <= {memory_target:,} MiB -> "
          f"{'met' if r['peak_rss_mib'] <= memory_target else 'MISSED'}")
    return ok


async def run(args: argparse.Namespace, broker: KafkaBroker, postgres: LocalPostgres) -> bool:
    create_topics(broker.bootstrap)
    progress(f"topics ready; {TOPIC} declared in deploy/topics.yaml")
    run_id = uuid.uuid4().hex[:6]
    results = {}
    for engine in args.engines:
        if engine == "postgresql":
            name = postgres.create_database(f"aging_{run_id}")
            url = postgres.dsn(name)
        else:
            sqlite_file = ROOT / "var" / "bench" / "aging" / f"aging-{run_id}.db"
            url = f"sqlite:///{sqlite_file}"
        try:
            results[engine] = await run_engine(engine, url, broker.bootstrap, args.accounts, args.profile)
        finally:  # the portfolio is GBs at 10M: never leave it behind
            if engine == "postgresql":
                postgres._run("dropdb", "-h", "127.0.0.1", "-p", str(postgres.port), "-U", "postgres", name,
                              check=False)
            else:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{sqlite_file}{suffix}").unlink(missing_ok=True)
    print(f"overdue-detector daily aging, business date {BUSINESS_DATE}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    ok = True
    for engine, r in results.items():
        ok &= report(engine, args.accounts, r)
    for engine, r in results.items():
        if "profile" in r:
            print(f"\n-- cProfile of the timed run, {engine} (cumulative) --\n{r['profile']}")
        if "explain" in r:
            print(f"\n-- EXPLAIN ANALYZE of the aging's first page, {engine} --\n{r['explain']}")
    return ok


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--engines", default="postgresql,sqlite",
                        type=lambda s: [e.strip() for e in s.split(",") if e.strip()])
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the timed run and EXPLAIN ANALYZE the aging statement")
    args = parser.parse_args()
    unknown = set(args.engines) - {"postgresql", "sqlite"}
    if unknown:
        parser.error(f"unknown engines {sorted(unknown)}")
    home = ROOT / "var" / "bench" / "aging"
    kafka_home = Path(os.environ.get("CC_KAFKA_HOME", ROOT / "var" / "kafka"))
    # KRaft storage remembers its controller's address: fresh storage for fresh ports.
    shutil.rmtree(home / "kafka", ignore_errors=True)
    broker = KafkaBroker(home / "kafka", port=_free_port(), controller_port=_free_port(), libs=kafka_home / "libs")
    postgres = LocalPostgres(home / "postgres", port=_free_port())
    ok = False
    tune_garbage_collector()  # as collections_core.service.serve() runs the detector
    try:
        broker.start()
        if "postgresql" in args.engines:
            postgres.start()
        broker.wait_ready()
        ok = uvloop.run(run(args, broker, postgres))
    finally:
        broker.stop()
        postgres.stop()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
