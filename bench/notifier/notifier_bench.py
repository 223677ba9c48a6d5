"""Notifier benchmark (issue 9): N ContactRequested for customers across time zones →
contact policy → render → SMS provider over HTTP (the stand-in, in a second process),
on PostgreSQL, with the duplicates the provider counted and the notifier's peak memory.

1. customers:  N CustomerUpserted through the notifier's handler (encrypt, upsert),
               500 events per transaction as the consumer batches them;
2. requests:   N ContactRequested through the handler (dedupe, judge, defer, or render
               and hand over to the dispatcher: decision 0065),
   dispatch:   and, at the same time, as in the service's process, the dispatcher's
               rounds, until every contact allowed today is sent (``--sequential``:
               the rounds only once every request has been judged);
3. deferred:   the service clock moves to 17:00 UTC; the deferred contacts go out.

Events go straight into the handlers (the runtime's consume → inbox → outbox path is
measured by bench/runtime); everything after that is the service's own code. The
dispatcher's rounds run as its worker runs them (``Dispatcher.dispatch_while_due``), on
uvloop with the runtime's garbage-collector tuning, as ``serve()`` runs the service.

The notifier runs as ``--replicas`` processes (default 1) on the one database, each with
its share of the customers and requests (every replicas-th, as a consumer group splits
the partitions by key) and its own dispatcher, whose rounds share the store's due
requests (``SKIP LOCKED``). The parent process starts every phase in all of them at once
and times it until the last one is done.

Besides the rates it prints the CPU seconds each side spent on the timed part (the
notifier's processes, PostgreSQL's backends, the stand-in provider) and the load average,
because on a shared machine the CPU per contact is the steadier figure.

    python bench/notifier/notifier_bench.py [--contacts 50000] [--replicas 1] [--database postgresql|sqlite]
                                            [--profile FILE]

``--profile FILE`` runs the first replica's timed part (requests, dispatch, deferred)
under cProfile, writes the stats to FILE and prints the top functions by own time.

Starts PostgreSQL under var/bench-notifier (port 35433) and stops it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import multiprocessing
import os
import pstats
import resource
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy" / "local"))

import httpx  # noqa: E402
import uvloop  # noqa: E402
from local_postgres import LocalPostgres  # noqa: E402

from collections_core.clock import ControlledClock  # noqa: E402
from collections_core.contracts.collections.v1 import contacts_pb2  # noqa: E402
from collections_core.contracts.corebanking.v1 import customers_pb2  # noqa: E402
from collections_core.migrations import upgrade  # noqa: E402
from collections_core.service import tune_garbage_collector  # noqa: E402
from collections_core.tracing import TraceContext  # noqa: E402
from notifier.main import build_runtime  # noqa: E402
from notifier.settings import NotifierSettings  # noqa: E402

ZONES = ["Asia/Shanghai", "Asia/Urumqi", "America/New_York", "America/Los_Angeles", "Europe/London",
         "Australia/Sydney", "Asia/Kolkata", "America/Chicago"]
BATCH = 500


def progress(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def as_records(runtime, messages) -> list[tuple]:
    """The messages as their producers put them on Kafka (headers, value): encoded before
    the timed part, since the notifier only receives them."""
    now = runtime.clock.now()
    return [runtime.codec.encode(message, key, now, TraceContext.new(), None) for key, message in messages]


async def through_handlers(runtime, records) -> None:
    """Every BATCH records decoded and handed in one unit of work to the batch handler, as
    the consumer hands a poll batch's run of one event type to it."""
    handlers = runtime.notifier.batch_handlers()
    for start in range(0, len(records), BATCH):
        async with runtime.unit_of_work() as work:
            events = [runtime.codec.decode(headers, value) for headers, value in records[start:start + BATCH]]
            await handlers[events[0].type](events, work)


def cpu_seconds(*pids: int, reaped: bool = False) -> float:
    """User + system CPU of the given processes so far (Linux /proc); with ``reaped``, also
    that of their children which have exited (PostgreSQL's backends and autovacuum workers
    come and go during a run)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if reaped else 0)
    return total / os.sysconf("SC_CLK_TCK")


def children_of(parent: int) -> list[int]:
    """PostgreSQL's backends: the postmaster's children."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                    found.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):
                continue
    return found


class CpuMeter:
    """CPU seconds of the notifier's replicas, PostgreSQL and the provider over a phase."""

    def __init__(self, replicas: list[int], postmaster: int | None, provider: int) -> None:
        self.replicas, self.postmaster, self.provider = replicas, postmaster, provider
        self.spent: dict[str, list[float]] = {}

    def _now(self) -> tuple[float, float, float]:
        database = (cpu_seconds(self.postmaster, reaped=True) + cpu_seconds(*children_of(self.postmaster))
                    if self.postmaster else 0.0)
        return cpu_seconds(*self.replicas), database, cpu_seconds(self.provider)

    def start(self) -> None:
        self._started = self._now()

    def stop(self, phase: str) -> None:
        self.spent[phase] = [end - start for start, end in zip(self._started, self._now(), strict=True)]

    def total(self) -> list[float]:
        return [sum(column) for column in zip(*self.spent.values(), strict=True)]


async def dispatch_all(runtime, arriving: asyncio.Task | None = None) -> None:
    """Rounds, as the dispatcher's worker runs them (resting its interval when nothing is
    due, or until the consumer hands contacts over), until one finds nothing due once
    ``arriving`` is over (a re-deferred contact is no longer due)."""
    while True:
        if arriving is None or arriving.done():
            if not await runtime.dispatcher.dispatch_while_due(runtime):
                return
        else:
            await runtime.dispatcher.dispatch_and_rest(runtime)


def replica(pipe, index: int, replicas: int, url: str, provider_url: str, n: int, options: dict) -> None:
    """One notifier process: its share of the customers and requests (as a consumer group
    would split the partitions), its own dispatcher; the parent says when each phase begins."""
    # As serve() runs the service: uvicorn's event loop (uvloop) and the runtime's collector tuning.
    tune_garbage_collector()
    uvloop.run(_replica(pipe, index, replicas, url, provider_url, n, options))


async def _replica(pipe, index: int, replicas: int, url: str, provider_url: str, n: int, options: dict) -> None:
    async def told() -> str:
        return await asyncio.to_thread(pipe.recv)

    # Tuesday 3 Nov 2026, 06:00 UTC: daytime in Asia and Europe, night in the Americas.
    clock = ControlledClock(datetime(2026, 11, 3, 6, tzinfo=UTC))
    settings = NotifierSettings(database_url=url, sms_provider_url=provider_url, default_pack="US",
                                dispatch_concurrency=options["concurrency"], sms_batch_size=options["sms_batch"],
                                dispatch_batch_size=options["dispatch_batch"], sms_receipts=False,
                                sms_breaker_failures=1000, kafka_bootstrap_servers="127.0.0.1:9")
    runtime = build_runtime(settings, topics=[], clock=clock)
    mine = range(index, n, replicas)
    customers = as_records(runtime, [(f"C-{i}", customers_pb2.CustomerUpserted(
        customer_id=f"C-{i}", name="李雷", phone=f"+86138{i:08d}", email=f"c{i}@example.cn",
        time_zone=ZONES[i % len(ZONES)], language="zh-CN" if i % 2 else "en")) for i in mine])
    requests = as_records(runtime, [(f"C-{i}", contacts_pb2.ContactRequested(
        request_id=f"R-{i}", account_id=f"A-{i}", customer_id=f"C-{i}", case_id=f"K-{i}",
        channel=contacts_pb2.CHANNEL_SMS, template="overdue.sms",
        parameters={"amount_minor": str(10_000 + i), "currency": "CNY", "card_last4": f"{i % 10_000:04d}"}))
        for i in mine])
    started = time.monotonic()
    await through_handlers(runtime, customers)
    pipe.send(time.monotonic() - started)
    await told()  # go
    profiler = cProfile.Profile() if options["profile"] and index == 0 else None
    if profiler:
        profiler.enable()
    arriving = asyncio.create_task(through_handlers(runtime, requests))
    if options["sequential"]:
        await arriving
    dispatching = asyncio.create_task(dispatch_all(runtime, arriving))
    await arriving
    judged = time.monotonic()
    await dispatching
    pipe.send((judged, time.monotonic()))
    await told()  # 17:00 UTC: daytime in every zone above, so every deferred contact is due and allowed
    clock.set(datetime(2026, 11, 3, 17, tzinfo=UTC))
    await dispatch_all(runtime)
    ended = time.monotonic()
    if profiler:
        profiler.disable()
        profiler.dump_stats(options["profile"])
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(40)
    await runtime.database.dispose()
    await runtime.batch_database.dispose()
    pipe.send((ended, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=50_000)
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--replicas", type=int, default=1, help="notifier processes sharing the database")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--sms-batch", type=int, default=100, help="SMS per request to the provider (1: one each)")
    parser.add_argument("--profile", metavar="FILE", help="run the first replica's timed part under cProfile, "
                        "stats to FILE")
    parser.add_argument("--dispatch-batch", type=int, default=1000, help="requests claimed per dispatch round")
    parser.add_argument("--sequential", action="store_true",
                        help="dispatch rounds only after every request was judged (as before decision 0064)")
    args = parser.parse_args()
    n = args.contacts
    base = ROOT / "var" / "bench-notifier"
    postgres = None
    if args.database == "postgresql":
        postgres = LocalPostgres(base / "postgres", port=35433)
        postgres.start()
        url = postgres.dsn(postgres.create_database(f"notifier_{int(time.time())}"))
    else:
        base.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{base / f'notifier-{int(time.time())}.db'}"
    postmaster = int((postgres.data / "postmaster.pid").read_text().split()[0]) if postgres else None
    port = free_port()
    provider = subprocess.Popen([sys.executable, "-m", "notifier.standins.sms_provider", "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    provider_url = f"http://127.0.0.1:{port}"
    options = {"concurrency": args.concurrency, "sms_batch": args.sms_batch, "dispatch_batch": args.dispatch_batch,
               "profile": args.profile, "sequential": args.sequential}
    processes = []
    try:
        for _ in range(100):
            try:
                httpx.get(f"{provider_url}/stats", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        schema = build_runtime(NotifierSettings(database_url=url, kafka_bootstrap_servers="127.0.0.1:9"), topics=[])
        uvloop.run(migrate(schema))
        spawn = multiprocessing.get_context("spawn")
        pipes = []
        for index in range(args.replicas):
            ours, theirs = spawn.Pipe()
            process = spawn.Process(target=replica, args=(theirs, index, args.replicas, url, provider_url, n, options))
            process.start()
            processes.append(process)
            pipes.append(ours)
        figures = {"customers": max(pipe.recv() for pipe in pipes)}
        progress(f"customers: {n} in {figures['customers']:.1f}s")
        meter = CpuMeter([process.pid for process in processes], postmaster, provider.pid)
        loads = [os.getloadavg()[0]]
        meter.start()
        started = time.monotonic()
        for pipe in pipes:
            pipe.send("go")
        ends = [pipe.recv() for pipe in pipes]
        meter.stop("sequential" if args.sequential else "requests + dispatch")
        figures["requests"] = max(judged for judged, _ in ends) - started
        figures["dispatch"] = max(dispatched for _, dispatched in ends) - started  # from the first request judged
        sent_now = httpx.get(f"{provider_url}/stats", timeout=10).json()["messages"]
        progress(f"requests: {n} in {figures['requests']:.1f}s; dispatch: {sent_now} sent in "
                 f"{figures['dispatch']:.1f}s")
        meter.start()
        started = time.monotonic()
        for pipe in pipes:
            pipe.send("deferred")
        finals = [pipe.recv() for pipe in pipes]
        figures["deferred"] = max(ended for ended, _ in finals) - started
        meter.stop("deferred")
        loads.append(os.getloadavg()[0])
        stats = httpx.get(f"{provider_url}/stats", timeout=10).json()
        sent_later = stats["messages"] - sent_now
        for process in processes:
            process.join(60)
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
        provider.terminate()
        provider.wait()
        if postgres is not None:
            postgres.stop()
    total = figures["dispatch"] + figures["deferred"]
    print(f"database={args.database} contacts={n} replicas={args.replicas} concurrency={args.concurrency} "
          f"sms_batch={args.sms_batch} dispatch_batch={args.dispatch_batch} "
          f"load average {loads[0]:.1f} → {loads[1]:.1f}")
    print(f"customers upserted (encrypt + upsert): {n / figures['customers']:,.0f}/s")
    print(f"requests judged (dedupe + policy + defer or render and hand over): {n / figures['requests']:,.0f}/s")
    print(f"sent at once: {sent_now} in {figures['dispatch']:.1f}s from the first request judged "
          f"= {sent_now / figures['dispatch']:,.0f}/s (render, provider over HTTP)"
          + (" (rounds after the judging)" if args.sequential else " (rounds beside the judging)"))
    print(f"sent after deferral: {sent_later} in {figures['deferred']:.1f}s")
    print(f"end to end (request → provider): {(sent_now + sent_later) / total:,.0f} contacts/s")
    print(f"provider: messages={stats['messages']} duplicates={stats['duplicates']} "
          f"requests={stats['requests']}")
    print("notifier peak RSS: " + ", ".join(f"{peak:.0f} MiB" for _, peak in finals)
          + (" (one per replica)" if args.replicas > 1 else ""))
    for phase, (notifier, database, provider_cpu) in meter.spent.items():
        print(f"CPU, {phase}: notifier {notifier:.2f}s, PostgreSQL {database:.2f}s, provider {provider_cpu:.2f}s")
    notifier, database, provider_cpu = meter.total()
    print(f"CPU per contact, timed part: notifier {notifier / n * 1e6:.0f} µs, "
          f"PostgreSQL {database / n * 1e6:.0f} µs, provider {provider_cpu / n * 1e6:.0f} µs")


async def migrate(runtime) -> None:
    await upgrade(runtime.database, runtime.migrations)
    await runtime.database.dispose()
    await runtime.batch_database.dispose()


if __name__ == "__main__":
    main()
