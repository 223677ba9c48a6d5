"""End-to-end benchmark: newly delinquent accounts → cases → policy-checked SMS handed to
the provider, through the whole local platform (Kafka, the four services on SQLite or
PostgreSQL, the notifier's stand-ins), and the peak resident memory of every process.

    .venv/bin/python bench/e2e/delinquent_to_sms.py --accounts 2000 [--database postgresql]

Every account gets one statement already past due and grace, then one business-day close
makes all of them delinquent at once (mid-morning in Shanghai, inside the contact hours).
The figure is accounts per second from publishing the close to the last reminder SMS in the
stand-in provider's log. Payment → recall webhook latency: payment_to_recall.py.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from common import HopWatch, peak_rss, platform_at, print_peaks, settled
from local_platform import Platform

from card_simulator.bank import ACCOUNTS, BUSINESS_DAYS, CUSTOMERS, STATEMENTS, Posting, money  # noqa: E402
from card_simulator.run import Publisher  # noqa: E402
from collections_core.clock import FileClock  # noqa: E402
from collections_core.contracts.corebanking.v1 import (  # noqa: E402
    accounts_pb2, business_days_pb2, customers_pb2, statements_pb2)
from collections_core.wire import date_to_proto  # noqa: E402

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = date(2031, 3, 4)  # a Tuesday, no public holiday


def _postings(accounts: int) -> tuple[list[Posting], Posting]:
    opened, due = DAY - timedelta(days=60), DAY - timedelta(days=5)
    postings = []
    for n in range(1, accounts + 1):
        customer, account = f"BC{n:07d}", f"BA{n:07d}"
        postings.append(Posting(CUSTOMERS, customer, customers_pb2.CustomerUpserted(
            customer_id=customer, name=f"客户{n}", phone=f"+86139{n:08d}", email=f"{customer.lower()}@example.com",
            time_zone="Asia/Shanghai", language="zh-CN")))
        postings.append(Posting(ACCOUNTS, account, accounts_pb2.AccountOpened(
            account_id=account, customer_id=customer, currency="CNY", credit_limit=money(5_000_000, "CNY"),
            opened_on=date_to_proto(opened))))
    statements = [Posting(STATEMENTS, f"BA{n:07d}", statements_pb2.StatementIssued(
        account_id=f"BA{n:07d}", statement_id=f"BS{n:07d}", cycle_date=date_to_proto(due - timedelta(days=25)),
        due_date=date_to_proto(due), statement_balance=money(1_000_000, "CNY"), minimum_due=money(50_000, "CNY")))
        for n in range(1, accounts + 1)]
    close = Posting(BUSINESS_DAYS, "business-day",
                    business_days_pb2.BusinessDayClosed(business_date=date_to_proto(DAY)))
    return postings + statements, close


def _sms_count(log: Path) -> int:
    path = log / "sms.jsonl"
    return sum(1 for _ in open(path)) if path.exists() else 0


async def _run(platform: Platform, accounts: int, timeout: float, hops: HopWatch) -> float:
    setup, close = _postings(accounts)
    at = datetime.combine(DAY, datetime.min.time(), SHANGHAI).replace(hour=10)
    async with Publisher(platform.broker.bootstrap) as publisher:
        await publisher.publish(setup, at)
        await settled(platform)  # the set-up taken in everywhere before the clock starts
        await hops.start()
        started = time.monotonic()
        await publisher.publish([close], at)
    deadline = started + timeout
    try:
        while _sms_count(platform.standins_log) < accounts:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{_sms_count(platform.standins_log)} of {accounts} SMS in {timeout:.0f} s")
            await asyncio.sleep(0.2)
        return time.monotonic() - started
    finally:
        await hops.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    clock = home / "clock"
    FileClock.write(clock, datetime.combine(DAY, datetime.min.time(), SHANGHAI).replace(hour=10))
    platform = platform_at(home, args.database, {"CLOCK_FILE": str(clock), "LOG_LEVEL": "WARNING"})
    try:
        platform.start()
        hops = HopWatch(platform)
        seconds = asyncio.run(_run(platform, args.accounts, args.timeout, hops))
        peaks = peak_rss(platform)
    finally:
        platform.stop()
    print(f"{args.accounts} newly delinquent accounts → case → SMS at the provider in {seconds:.1f} s: "
          f"{args.accounts / seconds:,.0f} accounts/s ({args.database})")
    hops.report()
    print_peaks(peaks)


if __name__ == "__main__":
    main()
