"""Runs the simulated bank against the platform, one business day at a time.

For each business day: move the shared clock (the services follow it through
``CLOCK_FILE``), publish the day's core-banking events and its close, wait until the
overdue-detector has aged the day, and record what the platform reports next to what
the bank itself knows. ``make demo`` calls ``main``; tests call ``simulate``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from aiokafka import AIOKafkaProducer

from collections_core.auth import mint_token
from collections_core.clock import FileClock
from collections_core.codec import EventCodec, TypeRegistry
from collections_core.tracing import TraceContext
from card_simulator.agencies import Agencies, PartnerFigures, write_seed
from card_simulator.agents import Desk, DeskFigures
from card_simulator.bank import CoreBanking, Posting, business_days
from card_simulator.customers import DeliveryLogs, opted_out_by_number, react
from card_simulator.figures import READER_ROLES, SERVICES, PlatformFigures, read_platform
from card_simulator.observe import settle
from card_simulator.population import generate

BANK_ZONE = ZoneInfo("Asia/Shanghai")  # where the bank closes its books
FIRST_DAY = date(2027, 1, 4)  # a Monday


@dataclass(slots=True)
class DaySnapshot:
    business_date: date
    platform_buckets: dict[str, int]  # from the detector's portfolio API
    bank_buckets: dict[str, int]  # from the simulated bank's own book
    charged_off: int


@dataclass(slots=True)
class RunResult:
    accounts: int
    days: int
    seed: int
    database: str
    days_run: list[DaySnapshot] = field(default_factory=list)
    events_published: dict[str, int] = field(default_factory=dict)
    recovered_minor: dict[str, int] = field(default_factory=dict)  # per currency
    delivered: dict[str, int] = field(default_factory=dict)  # per channel, as the stand-ins logged them
    stop_replies: int = 0
    customers_stopped: int = 0  # customers on a number that replied STOP
    desk: DeskFigures = field(default_factory=DeskFigures)
    agencies: dict[str, PartnerFigures] = field(default_factory=dict)  # per partner
    platform: PlatformFigures | None = None
    seconds: float = 0.0

    @property
    def mismatched_days(self) -> list[DaySnapshot]:
        return [d for d in self.days_run if d.platform_buckets != d.bank_buckets]


class Publisher:
    """Core banking's producer: CloudEvents binary mode, protobuf values, idempotent."""

    def __init__(self, bootstrap: str) -> None:
        self.codec = EventCodec(TypeRegistry.of_contracts(), "/corebanking")
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all",
                                         linger_ms=5, client_id="simulated-core-banking")
        self.counts: dict[str, int] = {}

    async def __aenter__(self) -> Publisher:
        await self.producer.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.producer.stop()

    async def publish(self, postings: list[Posting], at: datetime) -> None:
        sends = []
        for posting in postings:
            headers, value = self.codec.encode(posting.message, posting.subject or posting.key, at, TraceContext.new())
            sends.append(await self.producer.send(posting.topic, value, key=posting.key.encode(), headers=headers))
            kind = posting.message.DESCRIPTOR.name
            self.counts[kind] = self.counts.get(kind, 0) + 1
        await asyncio.gather(*sends)


def _non_zero(buckets: dict[str, int]) -> dict[str, int]:
    return {bucket: count for bucket, count in buckets.items() if count and bucket != "M0"}


async def _wait_until_aged(client: httpx.AsyncClient, detector: str, day: date, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = await client.get(f"{detector}/v1/portfolio")
        except httpx.TransportError as error:  # restarting after a kill (chaos run)
            response = httpx.Response(503, text=str(error))
        if response.status_code == 200 and response.json()["business_date"] == day.isoformat():
            return response.json()
        if time.monotonic() > deadline:
            raise TimeoutError(f"the detector did not age {day} within {timeout:.0f} s "
                               f"(last answer {response.status_code}: {response.text[:200]})")
        await asyncio.sleep(0.05)


def _progress(done: int, total: int, day: date, delinquent: int, started: float) -> None:
    width = 30
    filled = width * done // total
    rate = done / max(time.monotonic() - started, 1e-9)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] day {done}/{total} {day}  "
                     f"delinquent {delinquent:>6}  {rate:5.1f} days/s ")
    sys.stderr.flush()
    if done == total:
        sys.stderr.write("\n")


async def simulate(platform, *, clock_file: Path, accounts: int, days: int, seed: int, database: str = "sqlite",
                   pack: str = "CN", day_timeout: float = 120.0, progress: bool = True, history_days: int = 0,
                   disturb: Callable[[int, str], Awaitable[None]] | None = None) -> RunResult:
    """Run ``days`` business days of a seeded portfolio through ``platform`` (a running
    deploy/local ``Platform``): core banking publishes, customers react to what the
    stand-ins delivered, and the clock moves on only once the platform is quiet.
    ``history_days``: the portfolio's history before the first day (``CoreBanking``).
    ``disturb(day number, step)`` runs right after each publication (the chaos run's faults)."""
    result = RunResult(accounts=accounts, days=days, seed=seed, database=database)
    portfolio = generate(seed, accounts)
    bank = CoreBanking(portfolio, seed, history_days)
    logs = DeliveryLogs(platform.standins_log, portfolio)
    by_id = {account.account_id: account for account in portfolio}
    stopped: set[str] = set()
    urls = {name: platform.url(name) for name in SERVICES}
    provider = f"http://127.0.0.1:{platform.standin_ports['sms']}"
    token = mint_token(platform.jwt_secret(), "simulator", list(READER_ROLES), ttl_seconds=24 * 3600)
    started = time.monotonic()
    async with Publisher(platform.broker.bootstrap) as publisher, httpx.AsyncClient(
            headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        desk = Desk(client, urls["case-router"], urls["notifier"], bank, by_id, seed)
        agencies = Agencies(client, urls["agency-gateway"], bank, by_id, seed)

        async def customers_react(day: date, step: str, at: datetime) -> None:
            await settle(client, urls, logs.size, timeout=day_timeout, provider=provider)
            if await desk.work(day, step) + await agencies.work(day, at, step):
                await settle(client, urls, logs.size, timeout=day_timeout, provider=provider)
            for reaction in react(logs.read_new(), by_id, stopped):
                if reaction.kind == "reached":
                    bank.reached(reaction.account_id, day)
                else:
                    answer = await client.post(f"{provider}/v1/inbound", json={"from": reaction.phone, "text": "STOP"})
                    answer.raise_for_status()
                    result.stop_replies += 1

        for number, day in enumerate(business_days(FIRST_DAY, days), start=1):
            morning = datetime.combine(day, clock_time(9), BANK_ZONE)
            FileClock.write(clock_file, morning)
            postings = (bank.open_accounts(day) if number == 1 else []) + bank.day(day)
            await publisher.publish(postings[:-1], morning)
            if disturb:
                await disturb(number, "morning")
            await customers_react(day, "morning", morning)
            close = datetime.combine(day, clock_time(18), BANK_ZONE)
            FileClock.write(clock_file, close)
            await publisher.publish(postings[-1:], close)
            if disturb:
                await disturb(number, "close")
            aged = await _wait_until_aged(client, urls["overdue-detector"], day, day_timeout)
            await customers_react(day, "close", close)
            snapshot = DaySnapshot(day, _non_zero(portfolio_buckets(aged)), bank.delinquent_by_bucket(day),
                                   aged["charged_off_accounts"])
            result.days_run.append(snapshot)
            if progress:
                _progress(number, days, day, sum(snapshot.platform_buckets.values()), started)
        await settle(client, urls, logs.size, timeout=day_timeout, provider=provider)
        if progress:
            print(f"reading back the platform's figures, {accounts} contact histories and cases for the audit",
                  file=sys.stderr)
        result.desk = desk.figures
        result.agencies = agencies.figures
        result.platform = await read_platform(client, urls, portfolio, logs, result.days_run, pack)
    result.events_published = dict(publisher.counts)
    result.customers_stopped = opted_out_by_number({by_id[a].customer.phone for a in stopped}, portfolio)
    result.delivered = dict(Counter(item.delivery.channel for item in logs.received))
    for book in bank.books.values():
        currency = book.account.currency
        result.recovered_minor[currency] = result.recovered_minor.get(currency, 0) + book.recovered_minor
    result.seconds = time.monotonic() - started
    return result


def portfolio_buckets(portfolio: dict) -> dict[str, int]:
    return {entry["bucket"]: entry["accounts"] for entry in portfolio["buckets"]}


def main(argv: list[str] | None = None) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "deploy" / "local"))
    from local_platform import SERVICES as PLATFORM_PROCESSES
    from local_platform import VAR, Platform, free_kafka_port

    from card_simulator.report import write_report

    parser = argparse.ArgumentParser(prog="card-simulator", description="The whole platform against a simulated bank.")
    parser.add_argument("--accounts", type=int, default=5000, help="portfolio size (default 5000)")
    parser.add_argument("--days", type=int, default=200, help="business days to run (default 200)")
    parser.add_argument("--seed", type=int, default=7, help="makes a run reproducible (default 7)")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pack", choices=["CN", "US", "UK"], default="CN",
                        help="the notifier's contact-policy pack for the portfolio (default CN)")
    parser.add_argument("--history-days", type=int, default=0,
                        help="open the accounts this many days before the first day, their arrears already run up")
    parser.add_argument("--out", type=Path, default=VAR / "demo" / "report.html", help="the HTML report")
    parser.add_argument("--console", action="store_true",
                        help="after the report, keep the platform and the collections console up until Ctrl-C")
    args = parser.parse_args(argv)
    if args.accounts < 1 or args.days < 1 or args.history_days < 0:
        parser.error("--accounts and --days must be at least 1, --history-days at least 0")
    home = VAR / "demo"
    home.mkdir(parents=True, exist_ok=True)
    clock_file = home / "clock"
    FileClock.write(clock_file, datetime.combine(FIRST_DAY, clock_time(0), UTC) - timedelta(days=1))
    platform = Platform(home, kafka_port=free_kafka_port(), ports={name: _free_port() for name in PLATFORM_PROCESSES},
                        database=args.database, postgres_port=_free_port(),
                        extra_env={"CLOCK_FILE": str(clock_file), "LOG_LEVEL": "WARNING",
                                   "PARTNER_SEED_FILE": str(home / "partners.yaml"), "DEFAULT_PACK": args.pack},
                        standin_ports={name: _free_port() for name in ("sms", "smtp", "print")})
    _fresh(home)
    write_seed(home / "partners.yaml")
    print(f"starting Kafka, the four services on {args.database} and the notifier's stand-ins (state in {home})",
          file=sys.stderr)
    browsing = False
    try:
        platform.start()
        result = asyncio.run(simulate(platform, clock_file=clock_file, accounts=args.accounts, days=args.days,
                                      seed=args.seed, database=args.database, pack=args.pack,
                                      history_days=args.history_days))
        print(write_report(result, args.out))
        if args.console:
            browsing = True
            print(f"the collections console: {platform.url('console')} (sign in: pick a role and a user name); "
                  "Ctrl-C stops everything", file=sys.stderr)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        if not browsing:
            print("\ninterrupted: stopping everything", file=sys.stderr)
            raise SystemExit(130) from None
    finally:
        platform.stop()


def _fresh(home: Path) -> None:
    """A run starts from empty databases and an empty broker (jars are kept)."""
    import shutil

    for path in home.iterdir():
        if path.name not in ("clock", "dev-jwt-secret", "dev-webhook-secret"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


if __name__ == "__main__":
    main()
