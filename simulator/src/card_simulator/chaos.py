"""The chaos run (issue 11): the same seeded simulation twice, once undisturbed and once
with faults at seeded moments — SIGKILL of each service, a broker crash and restart, a
database outage — and what must come out equal.

A fault lands a seeded fraction of a second after the simulator published a step's
events, while the services are working on them. A supervisor (``Platform.revive`` every
half second, as systemd or Kubernetes would) starts again whatever process is gone, and
the simulator moves on once every service answers /readyz again.

The final state is read through the APIs only (cases from the case-router, placements
from the agency-gateway's partner API, positions from the overdue-detector), every event
on every topic is counted by its CloudEvents id, and every delivery the stand-ins logged
is counted by its idempotency key. ``make chaos`` calls ``main``; tests call ``run_pair``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sqlite3
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from card_simulator.agencies import write_seed
from card_simulator.customers import CHANNEL_LOGS, DeliveryLogs
from card_simulator.figures import READER_ROLES, SERVICES, partner_placements
from card_simulator.observe import settle
from card_simulator.population import generate
from card_simulator.run import FIRST_DAY, RunResult, simulate
from collections_core.auth import mint_token
from collections_core.clock import FileClock

STEPS = ("morning", "close")
# Events that record a judgement on the way, not an outcome: how often the notifier defers
# a request depends on the instants it judges it at (decision 0101), so they are shown, not compared.
JUDGEMENTS = ("ContactDeferred",)
# collections-core's retry_backoff_max_seconds: the longest a writer that failed (a locked or
# crashed database, a lost broker) waits before it tries again, its metrics standing still.
RETRY_BACKOFF_SECONDS = 10.0


@dataclass(frozen=True, slots=True, order=True)
class Fault:
    day: int  # business day number, from 1
    step: str  # morning | close: after which publication
    delay: float  # seconds after the publication
    kind: str  # kill | broker | database
    target: str  # the service killed; "kafka"; the database kind


def plan(seed: int, days: int, database: str, outage: bool = True) -> list[Fault]:
    """One SIGKILL of each service, one broker restart and (``outage``) one database
    outage, each at a seeded step and a seeded delay after it."""
    draw = random.Random(f"chaos:{seed}")
    moments = [(day, step) for day in range(1, days + 1) for step in STEPS]

    def at() -> tuple[int, str, float]:
        day, step = draw.choice(moments)
        return day, step, round(draw.uniform(0.0, 0.6), 3)

    faults = [Fault(*at(), "kill", name) for name in SERVICES]
    faults.append(Fault(*at(), "broker", "kafka"))
    if outage:
        faults.append(Fault(*at(), "database", database))
    return sorted(faults)


class Chaos:
    """Inflicts the planned faults from the simulator's ``disturb`` hook and supervises
    the platform's processes while it runs (``async with``)."""

    def __init__(self, platform, faults: list[Fault], down_seconds: float = 3.0, ready_timeout: float = 300.0,
                 evict: bool = False) -> None:
        self.platform, self.faults, self.evict = platform, faults, evict
        self.down_seconds, self.ready_timeout = down_seconds, ready_timeout
        self.inflicted: list[Fault] = []
        self.revived: Counter[str] = Counter()
        self._supervisor: asyncio.Task | None = None

    async def __aenter__(self) -> Chaos:
        self._supervisor = asyncio.create_task(self._supervise())
        return self

    async def __aexit__(self, *exc) -> None:
        self._supervisor.cancel()
        await asyncio.gather(self._supervisor, return_exceptions=True)

    async def _supervise(self) -> None:
        while True:
            self.revived.update(await asyncio.to_thread(self.platform.revive, self.evict))
            await asyncio.sleep(0.5)

    async def __call__(self, day: int, step: str) -> None:
        due = [fault for fault in self.faults if (fault.day, fault.step) == (day, step)]
        for fault in due:
            await asyncio.sleep(fault.delay)
            await asyncio.to_thread(self._inflict, fault)
            self.inflicted.append(fault)
        if due:
            await self._until_ready()

    def _inflict(self, fault: Fault) -> None:
        platform = self.platform
        if fault.kind == "kill":
            platform.kill(fault.target)
        elif fault.kind == "broker":
            platform.broker.kill()
            time.sleep(self.down_seconds)
            platform.broker.start()
            platform.broker.wait_ready()
        elif platform.postgres is not None:
            platform.postgres.crash()
            time.sleep(self.down_seconds)
            platform.postgres.start()
        else:
            _lock_sqlite(platform.var, self.down_seconds)

    async def _until_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while not await asyncio.to_thread(self.platform.ready):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the platform was not ready {self.ready_timeout:.0f} s after a fault "
                                   f"(see {self.platform.var / 'log'})")
            await asyncio.sleep(0.5)


def _lock_sqlite(folder: Path, seconds: float) -> None:
    """Every service's SQLite database write-locked at once for ``seconds``: each writer
    waits on its busy timeout, as behind a locked or stalled database file."""
    locks = []
    try:
        for path in sorted(folder.glob("*.db")):
            connection = sqlite3.connect(path, timeout=60, isolation_level=None)
            connection.execute("BEGIN EXCLUSIVE")
            locks.append(connection)
        time.sleep(seconds)
    finally:
        for connection in locks:
            connection.rollback()
            connection.close()


@dataclass(slots=True)
class Outcome:
    """One run's final state and its accounting, all read from outside the services."""

    result: RunResult
    state: dict[str, dict]  # account → what the detector, the router and the gateway say of it
    events: dict[str, int]  # ce_type → distinct event ids on the topics
    redelivered: int  # records on the topics beyond the first of their id
    contacts: dict[str, int]  # channel → deliveries the stand-ins logged
    duplicate_contacts: int  # deliveries logged more than once under one idempotency key or request
    faults: list[Fault] = field(default_factory=list)
    revived: dict[str, int] = field(default_factory=dict)


async def final_state(client: httpx.AsyncClient, urls: dict[str, str], account_ids: list[str]) -> dict[str, dict]:
    """Per account: the detector's position, the router's case, the gateway's placements."""
    gate = asyncio.Semaphore(8)

    async def one(account_id: str) -> tuple[str, dict]:
        async with gate:
            position = await client.get(f"{urls['overdue-detector']}/v1/accounts/{account_id}")
            case = await client.get(f"{urls['case-router']}/v1/accounts/{account_id}/case")
        position.raise_for_status()
        if case.status_code != 404:
            case.raise_for_status()
        return account_id, {"position": _position(position.json()),
                            "case": _case(case.json()) if case.status_code == 200 else None}

    state = dict(await asyncio.gather(*(one(account_id) for account_id in account_ids)))
    for p in await partner_placements(client, urls["agency-gateway"]):
        if p["account_id"] in state:
            state[p["account_id"]].setdefault("placements", []).append(
                (p["partner_id"], p["kind"], p["status"], p["dpd"], p["amount"]["amount_minor"], p["end_reason"] or ""))
    for entry in state.values():
        entry["placements"] = sorted(entry.get("placements", []))
    return state


def _position(account: dict) -> dict:
    return {"status": account["status"], "statements": len(account["statements"]),
            "payments": sorted((p["payment_id"], p["amount"]["amount_minor"], p["reversed"])
                               for p in account["payments"]),
            "past_due_cycles": account["past_due_cycles"], "delinquency": account["delinquency"]}


def _case(case: dict) -> dict:
    kept = ("status", "stage", "variant", "dpd", "bucket", "past_due_minor", "balance_minor", "opened_on",
            "closed_at", "close_reason", "promises_broken", "flags", "pre_notice_delivered_on")
    return {**{key: case[key] for key in kept},
            "timeline": sorted(Counter(entry["entry"] for entry in case["timeline"]).items()),
            "holds": sorted((hold["kind"], hold.get("status", "")) for hold in case["holds"]),
            "promises": len(case["promises"]), "plans": len(case["plans"]),
            "tasks": sorted(Counter((task["kind"], task["status"]) for task in case["tasks"]).items())}


async def topic_events(bootstrap: str, topics: list[str]) -> tuple[dict[str, int], int]:
    """Every record on ``topics`` from the beginning: distinct event ids per ce_type, and
    how many records repeat an id already seen (at-least-once redelivery)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, client_id="chaos-count")
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for topic in topics
                      for p in (consumer.partitions_for_topic(topic) or await _partitions(consumer, topic))]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        ids: dict[str, set[str]] = {}
        records = 0
        pending = {tp for tp in partitions if ends[tp] > 0}
        while pending:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for tp, batch in batches.items():
                for record in batch:
                    headers = dict(record.headers)
                    ids.setdefault(headers.get("ce_type", b"?").decode(), set()).add(headers.get("ce_id", b"").decode())
                    records += 1
                if batch and batch[-1].offset + 1 >= ends[tp]:
                    pending.discard(tp)
        distinct = {kind: len(found) for kind, found in ids.items()}
        return distinct, records - sum(distinct.values())
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # noqa: SLF001 - aiokafka has no public refresh
    return consumer.partitions_for_topic(topic) or set()


def delivered(folder: Path) -> tuple[dict[str, int], int]:
    """Deliveries per channel the stand-ins logged, and how many repeat an idempotency key
    or a request id (a customer contacted twice for one request)."""
    import json

    counts, duplicates = {}, 0
    for channel, name in CHANNEL_LOGS.items():
        path = folder / name
        entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line] \
            if path.exists() else []
        counts[channel] = len(entries)
        for key in ("key", "reference", "message_id"):
            values = [entry[key] for entry in entries if entry.get(key)]
            duplicates += len(values) - len(set(values))
    return counts, duplicates


def compare(clean: Outcome, chaos: Outcome) -> list[tuple[str, object, object, bool]]:
    """(what, clean run, chaos run, must agree and does) for everything that must be equal."""
    state = [(account, clean.state[account], chaos.state.get(account)) for account in sorted(clean.state)]
    differing = [account for account, a, b in state if a != b]

    def part(name: str) -> int:
        return sum(1 for _, a, _ in state if a.get(name))

    rows = [
        ("accounts whose final state differs (position, case, placements)", 0, len(differing), not differing),
        ("cases", part("case"), sum(1 for _, _, b in state if b and b.get("case")), None),
        ("placements", sum(len(a["placements"]) for _, a, _ in state),
         sum(len(b["placements"]) for _, _, b in state if b), None),
        ("detector's days agreeing with the bank's book",
         len(clean.result.days_run) - len(clean.result.mismatched_days),
         len(chaos.result.days_run) - len(chaos.result.mismatched_days), None),
    ]
    for kind in sorted(set(clean.events) | set(chaos.events)):
        if kind.rsplit(".", 1)[-1] in JUDGEMENTS:
            continue
        rows.append((f"events {kind.rsplit('.', 1)[-1]} (distinct ids)", clean.events.get(kind, 0),
                     chaos.events.get(kind, 0), None))
    for channel in sorted(clean.contacts):
        rows.append((f"{channel} deliveries at the stand-ins", clean.contacts[channel], chaos.contacts[channel], None))
    published = chaos.result.events_published
    on_topics = {kind.rsplit(".", 1)[-1]: n for kind, n in chaos.events.items()}
    rows.append(("core-banking events published but not on their topic (chaos run)", 0,
                 sum(max(0, n - on_topics.get(kind, 0)) for kind, n in published.items()), None))
    rows.append(("duplicate customer contacts (chaos run)", 0, chaos.duplicate_contacts, None))
    return [(what, a, b, a == b if ok is None else ok) for what, a, b, ok in rows]


def differences(clean: Outcome, chaos: Outcome, limit: int = 5) -> list[str]:
    """The first few accounts whose final state differs, field by field, for the reader."""
    lines = []
    for account in sorted(clean.state):
        a, b = clean.state[account], chaos.state.get(account) or {}
        if a != b:
            for name in sorted(set(a) | set(b)):
                if a.get(name) != b.get(name):
                    lines.append(f"{account} {name}: clean {a.get(name)!r} / chaos {b.get(name)!r}")
            if len(lines) >= limit:
                break
    return lines


async def observe(platform, result: RunResult, topics: list[str]) -> Outcome:
    token = mint_token(platform.jwt_secret(), "chaos-auditor", list(READER_ROLES), ttl_seconds=3600)
    urls = {name: platform.url(name) for name in SERVICES}
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        state = await final_state(client, urls, [a.account_id for a in generate(result.seed, result.accounts)])
    events, redelivered = await topic_events(platform.broker.bootstrap, topics)
    contacts, duplicates = delivered(platform.standins_log)
    return Outcome(result, state, events, redelivered, contacts, duplicates)


async def run_once(platform, clock_file: Path, *, accounts: int, days: int, seed: int, database: str,
                   faults: list[Fault] | None, topics: list[str], progress: bool = False,
                   down_seconds: float = 3.0, history_days: int = 0, evict: bool = False) -> Outcome:
    """One simulation on a started ``platform``; with ``faults``, under chaos (``evict``:
    the supervisor evicts a dead service's consumer from its group, ``Platform.revive``)."""
    if faults is None:
        result = await simulate(platform, clock_file=clock_file, accounts=accounts, days=days, seed=seed,
                                database=database, progress=progress, history_days=history_days)
        return await observe(platform, result, topics)
    async with Chaos(platform, faults, down_seconds, evict=evict) as chaos:
        result = await simulate(platform, clock_file=clock_file, accounts=accounts, days=days, seed=seed,
                                database=database, progress=progress, history_days=history_days, disturb=chaos)
        await chaos._until_ready()  # noqa: SLF001 - a late exit is revived before reading
    await _quiet_past_backoffs(platform)
    outcome = await observe(platform, result, topics)
    outcome.faults, outcome.revived = chaos.inflicted, dict(chaos.revived)
    return outcome


async def _quiet_past_backoffs(platform) -> None:
    """Quiet across two looks further apart than the longest retry backoff: a fault in the
    last step can leave a writer waiting to retry while every metric stands still, which the
    simulator's own short quiet check takes for done."""
    token = mint_token(platform.jwt_secret(), "chaos-auditor", list(READER_ROLES), ttl_seconds=3600)
    urls = {name: platform.url(name) for name in SERVICES}
    logged = DeliveryLogs(platform.standins_log, [])
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        await settle(client, urls, logged.size, timeout=300, gap=RETRY_BACKOFF_SECONDS + 1)


def platform_at(home: Path, database: str, pack: str = "CN"):
    """A platform of its own (broker, databases, stand-ins) under ``home``, on free ports."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "deploy" / "local"))
    from local_platform import SERVICES as PROCESSES
    from local_platform import Platform, _free_port, free_kafka_port

    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    clock_file = home / "clock"
    FileClock.write(clock_file, datetime.combine(FIRST_DAY, clock_time(0), UTC) - timedelta(days=1))
    platform = Platform(home, kafka_port=free_kafka_port(), ports={name: _free_port() for name in PROCESSES},
                        database=database, postgres_port=_free_port(),
                        extra_env={"CLOCK_FILE": str(clock_file), "LOG_LEVEL": "WARNING",
                                   "PARTNER_SEED_FILE": str(write_seed(home / "partners.yaml")),
                                   "DEFAULT_PACK": pack},
                        standin_ports={name: _free_port() for name in ("sms", "smtp", "print")})
    return platform, clock_file


def declared_topic_names() -> list[str]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "deploy" / "local"))
    from local_kafka import declared_topics

    return [topic["name"] for topic in declared_topics()]


async def run_pair(folder: Path, *, accounts: int, days: int, seed: int, database: str = "sqlite",
                   outage: bool = True, progress: bool = False, down_seconds: float = 3.0,
                   history_days: int = 0, evict: bool = False) -> tuple[Outcome, Outcome]:
    """The clean run, then the chaos run, each on a platform of its own under ``folder``.
    The chaos run's platform starts while the clean run works: the two share nothing, and
    the clean run spends most of its time waiting for its platform to go quiet."""
    common = dict(accounts=accounts, days=days, seed=seed, database=database, topics=declared_topic_names(),
                  progress=progress, down_seconds=down_seconds, history_days=history_days, evict=evict)
    (clean, clean_clock), (chaos, chaos_clock) = (platform_at(folder / name, database) for name in ("clean", "chaos"))
    chaos_started = None
    try:
        await asyncio.to_thread(clean.start)
        chaos_started = asyncio.ensure_future(asyncio.to_thread(chaos.start))
        undisturbed = await run_once(clean, clean_clock, faults=None, **common)
        await asyncio.to_thread(clean.stop)
        await chaos_started
        return undisturbed, await run_once(chaos, chaos_clock, faults=plan(seed, days, database, outage), **common)
    finally:
        if chaos_started is not None:
            await asyncio.gather(chaos_started, return_exceptions=True)  # a start under way ends before the stop
        for platform in (clean, chaos):
            await asyncio.to_thread(platform.stop)


def report(clean: Outcome, chaos: Outcome) -> str:
    rows = compare(clean, chaos)
    width = max(len(what) for what, *_ in rows)
    lines = [f"chaos run: {clean.result.accounts} accounts x {clean.result.days} business days, seed "
             f"{clean.result.seed}, {clean.result.database}; clean {clean.result.seconds:.0f} s, "
             f"chaos {chaos.result.seconds:.0f} s",
             "faults: " + "; ".join(f"day {f.day} {f.step} +{f.delay:.2f} s {f.kind} {f.target}"
                                    for f in chaos.faults),
             "processes started again by the supervisor: "
             + (", ".join(f"{name} {n}" for name, n in sorted(chaos.revived.items())) or "none"),
             f"records published twice on the topics (same event id again, dropped by the inboxes): "
             f"clean {clean.redelivered}, chaos {chaos.redelivered}",
             f"{'':<{width}}  {'clean':>8}  {'chaos':>8}"]
    lines += [f"{what:<{width}}  {a!s:>8}  {b!s:>8}  {'ok' if ok else 'DIFFERS'}" for what, a, b, ok in rows]
    lines += [f"not compared, {kind.rsplit('.', 1)[-1]} (a judgement on the way): clean {clean.events.get(kind, 0)}, "
              f"chaos {chaos.events.get(kind, 0)}" for kind in sorted(set(clean.events) | set(chaos.events))
              if kind.rsplit(".", 1)[-1] in JUDGEMENTS]
    lines += differences(clean, chaos)
    agree = all(ok for *_, ok in rows)
    lines.append("same final state, no event lost, no customer contacted twice" if agree else "THE RUNS DIFFER")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="card-simulator-chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--days", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--down-seconds", type=float, default=5.0, help="how long the broker and database stay down")
    parser.add_argument("--history-days", type=int, default=0,
                        help="open the accounts this many days before the first day, their arrears already run up")
    parser.add_argument("--evict", action="store_true",
                        help="evict a killed service's consumer from its group instead of waiting out its session")
    args = parser.parse_args(argv)
    folder = Path(__file__).resolve().parents[3] / "var" / "chaos"
    clean, chaos = asyncio.run(run_pair(folder, accounts=args.accounts, days=args.days, seed=args.seed,
                                        database=args.database, progress=True, down_seconds=args.down_seconds,
                                        history_days=args.history_days, evict=args.evict))
    text = report(clean, chaos)
    print(text)
    if "THE RUNS DIFFER" in text:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
