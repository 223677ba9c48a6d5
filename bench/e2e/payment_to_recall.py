"""End-to-end benchmark: a payment posted on an account placed with an agency → the
detector cures it → the router closes the case and asks for a recall → the gateway
recalls the placement → the agency's recall webhook arrives, through the whole local
platform, and the peak resident memory of every process.

    .venv/bin/python bench/e2e/payment_to_recall.py --accounts 600 [--rate 200] [--database postgresql]

The accounts get there through the platform: each has one statement 100 days past due, so
one business-day close makes them delinquent at 97 days past due, the router's strategy
places them with an agency and the gateway picks one (every partner's webhook URL points at
a small HTTP receiver in this process). Then a payment clearing each account is published
at ``--rate`` events/s, and each payment's latency runs from handing it to the producer to
its placement's ``placement.recalled`` webhook reaching the receiver. ``--warm-up`` more
accounts (600 by default) are placed and paid the same way first, untimed. It prints where
the time went, hop by hop, from the records' own timestamps.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from common import HopWatch, free_port, peak_rss, platform_at, print_peaks, settled

from card_simulator.agencies import PARTNERS
from card_simulator.bank import ACCOUNTS, BUSINESS_DAYS, CUSTOMERS, PAYMENTS, STATEMENTS, Posting, money
from card_simulator.run import Publisher
from collections_core.clock import FileClock
from collections_core.contracts.corebanking.v1 import (
    accounts_pb2,
    business_days_pb2,
    customers_pb2,
    payments_pb2,
    statements_pb2,
)
from collections_core.tracing import TraceContext
from collections_core.wire import date_to_proto

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = date(2031, 3, 4)  # a Tuesday
BALANCE_MINOR = 1_000_000


class Receiver:
    """The partners' webhook endpoint: when each (event type, account) first arrived.

    A minimal HTTP/1.1 keep-alive server on this bench's event loop, not http.server: the
    receiver shares the two cores with the platform it measures, and http.server's
    per-request thread hand-offs and header parsing cost several times as much CPU."""

    def __init__(self) -> None:
        self.port = free_port()
        self.arrived: dict[tuple[str, str], float] = {}  # monotonic seconds
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks"

    async def start(self) -> None:
        # The gateway keeps up to 16 connections; a roomy backlog for its first round.
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, backlog=256)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._connections):
            writer.close()  # its reader then ends: nothing is left to cancel
        await asyncio.sleep(0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                body = json.loads(await reader.readexactly(length))
                key = (body["type"], body["data"]["account_id"])
                self.arrived.setdefault(key, time.monotonic())
                writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the gateway closed the connection
        finally:
            self._connections.discard(writer)
            writer.close()

    def count(self, kind: str) -> int:
        return sum(1 for (k, _) in self.arrived if k == kind)

    def at(self, kind: str, account_id: str) -> float | None:
        return self.arrived.get((kind, account_id))

    def wall_times(self, kind: str) -> dict[str, float]:
        """When each account's ``kind`` arrived, in epoch seconds (beside the records' timestamps)."""
        offset = time.time() - time.monotonic()
        return {account: at + offset for (k, account), at in self.arrived.items() if k == kind}


def _seed(path: Path, url: str) -> Path:
    path.write_text(yaml.safe_dump({"partners": [
        {"partner_id": p.partner_id, "name": p.name, "kind": p.kind, "regions": ["*"], "capacity": 100_000,
         "commission_bps": p.commission_bps, "contract_id": f"CT-BENCH-{n:03d}", "client_secret": p.client_secret,
         "webhook_url": url, "webhook_secret": f"bench-webhook-{p.partner_id}", "rate_limit_per_second": 1000}
        for n, p in enumerate(PARTNERS, start=1)]}, allow_unicode=True))
    return path


def _accounts(n: int, first: int = 1) -> list[str]:
    return [f"RA{i:07d}" for i in range(first, first + n)]


def _postings(accounts: list[str]) -> list[Posting]:
    opened, due = DAY - timedelta(days=160), DAY - timedelta(days=100)
    postings = []
    for account in accounts:
        customer = account.replace("RA", "RC")
        postings.append(Posting(CUSTOMERS, customer, customers_pb2.CustomerUpserted(
            customer_id=customer, name=f"客户{customer}", phone=f"+86138{account[2:]:0>8}",
            email=f"{customer.lower()}@example.com", time_zone="Asia/Shanghai", language="zh-CN")))
        postings.append(Posting(ACCOUNTS, account, accounts_pb2.AccountOpened(
            account_id=account, customer_id=customer, currency="CNY", credit_limit=money(5_000_000, "CNY"),
            opened_on=date_to_proto(opened))))
    return postings + [Posting(STATEMENTS, account, statements_pb2.StatementIssued(
        account_id=account, statement_id=account.replace("RA", "RS"),
        cycle_date=date_to_proto(due - timedelta(days=25)), due_date=date_to_proto(due),
        statement_balance=money(BALANCE_MINOR, "CNY"), minimum_due=money(BALANCE_MINOR, "CNY")))
        for account in accounts]


async def _wait(what: str, done, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {timeout:.0f} s")
        await asyncio.sleep(0.2)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


async def _run(platform, receiver: Receiver, accounts: list[str], warm_up: list[str], rate: float, timeout: float,
               hops: HopWatch) -> dict:
    at = datetime.combine(DAY, datetime.min.time(), SHANGHAI).replace(hour=10)
    await receiver.start()
    try:
        return await _measure(platform, receiver, accounts, warm_up, rate, timeout, hops, at)
    finally:
        await receiver.stop()


async def _measure(platform, receiver: Receiver, accounts: list[str], warm_up: list[str], rate: float,
                   timeout: float, hops: HopWatch, at: datetime) -> dict:
    placed = warm_up + accounts
    async with Publisher(platform.broker.bootstrap) as publisher:
        await publisher.publish(_postings(placed), at)
        await settled(platform)  # the set-up taken in everywhere before the clock starts
        placing = time.monotonic()
        await publisher.publish([Posting(BUSINESS_DAYS, "business-day", business_days_pb2.BusinessDayClosed(
            business_date=date_to_proto(DAY)))], at)
        await _wait(f"{len(placed)} placements", lambda: receiver.count("placement.created") >= len(placed),
                    timeout)
        placed_in = time.monotonic() - placing
        await settled(platform)  # the placements' own traffic done before the payments start
        if warm_up:
            # The same traffic once, untimed: the broker's JIT compiles its hot paths during
            # the first seconds of a new load (C2 threads were half its CPU), which a
            # platform that has been running has long done.
            await _pay(publisher, warm_up, rate, at)
            await _wait(f"{len(warm_up)} warm-up recalls", lambda: receiver.count("placement.recalled") >= len(warm_up),
                        timeout)
            await settled(platform)
        await hops.start()
        published, offered = await _pay(publisher, accounts, rate, at)
    await _wait(f"{len(placed)} recall webhooks", lambda: receiver.count("placement.recalled") >= len(placed),
                timeout)
    await hops.stop()
    latencies = [receiver.at("placement.recalled", a) - published[a] for a in accounts]
    return {"placed_in": placed_in, "offered": offered, "latencies": latencies}


async def _pay(publisher: Publisher, accounts: list[str], rate: float, at: datetime) -> tuple[dict[str, float], float]:
    """A payment clearing each account, at ``rate`` per second: when each was handed to
    the producer, and the rate achieved."""
    published: dict[str, float] = {}
    sends = []
    started = time.monotonic()
    for n, account in enumerate(accounts):
        await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
        message = payments_pb2.PaymentPosted(account_id=account, payment_id=f"RP-{account}",
                                             amount=money(BALANCE_MINOR, "CNY"), posted_on=date_to_proto(DAY),
                                             value_date=date_to_proto(DAY))
        headers, value = publisher.codec.encode(message, account, at, TraceContext.new())
        published[account] = time.monotonic()
        sends.append(await publisher.producer.send(PAYMENTS, value, key=account.encode(), headers=headers))
    await asyncio.gather(*sends)
    return published, len(accounts) / max(time.monotonic() - started, 1e-9)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=600)
    parser.add_argument("--rate", type=float, default=200.0, help="payments per second (default 200)")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--webhook-poll", type=float, default=1.0,
                        help="the gateway's webhook_poll_seconds (default: its own default, 1.0; new deliveries "
                             "ring its doorbell and do not wait for the poll)")
    parser.add_argument("--webhook-concurrency", type=int, default=16,
                        help="the gateway's webhook_concurrency (its default is 16)")
    parser.add_argument("--warm-up", type=int, default=600,
                        help="accounts placed and paid the same way before the timed ones, untimed (default 600)")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="bench-e2e-recall-"))
    clock = home / "clock"
    FileClock.write(clock, datetime.combine(DAY, datetime.min.time(), SHANGHAI).replace(hour=10))
    receiver = Receiver()
    platform = platform_at(home, args.database, {
        "CLOCK_FILE": str(clock), "LOG_LEVEL": "WARNING", "PARTNER_SEED_FILE": str(_seed(home / "partners.yaml",
                                                                                          receiver.url)),
        "WEBHOOK_POLL_SECONDS": str(args.webhook_poll), "WEBHOOK_CONCURRENCY": str(args.webhook_concurrency)})
    warm_up = _accounts(args.warm_up)
    accounts = _accounts(args.accounts, first=args.warm_up + 1)
    try:
        platform.start()
        hops = HopWatch(platform)
        figures = asyncio.run(_run(platform, receiver, accounts, warm_up, args.rate, args.timeout, hops))
        peaks = peak_rss(platform)
    finally:
        platform.stop()
    latencies = [1000 * s for s in figures["latencies"]]
    print(f"{len(warm_up) + len(accounts)} accounts placed with agencies through the platform in "
          f"{figures['placed_in']:.1f} s; {len(warm_up)} of them paid first as a warm-up, untimed")
    print(f"payment posted → case closed → placement.recalled webhook at the agency ({args.database}, "
          f"{figures['offered']:.0f} payments/s offered, gateway webhook poll {args.webhook_poll} s): "
          f"count {len(latencies)}, p50 {_quantile(latencies, 0.5):.0f} ms, p99 {_quantile(latencies, 0.99):.0f} ms, "
          f"max {max(latencies):.0f} ms")
    hops.report()
    topic_times = {topic: {a: hops.first_at(topic, a) for a in accounts if hops.first_at(topic, a)}
                   for topic in (PAYMENTS, "collections.delinquency.v1", "collections.case-events.v1",
                                 "collections.placements.v1", "collections.agency-events.v1")}
    hops.print_lags([
        ("payment", topic_times[PAYMENTS]), ("AccountCured (detector)", topic_times["collections.delinquency.v1"]),
        ("case event (router)", topic_times["collections.case-events.v1"]),
        ("RecallRequested (router)", topic_times["collections.placements.v1"]),
        ("PlacementRecalled (gateway)", topic_times["collections.agency-events.v1"]),
        ("recall webhook at the agency", receiver.wall_times("placement.recalled"))])
    print_peaks(peaks)


if __name__ == "__main__":
    main()
