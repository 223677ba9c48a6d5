"""A rebalance during consumption (issue 7): a second replica of the ledger joins
the group mid-stream, on the same database. Every event takes effect once and each
account's effects keep the order its events were sent in; the joiner did take
partitions over."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

import httpx
import pytest
from sqlalchemy import text
from support import CLEAN_EXIT, effects_per_payment, encode, ledger_service, payment, produce

from collections_core.database import Database

pytestmark = pytest.mark.integration
PAYMENT = "corebanking.v1.PaymentPosted"
ACCOUNTS = [f"A-{i}" for i in range(12)]


def payments(first: int, count: int):
    return [encode(payment(ACCOUNTS[i % 12], f"P-{i:05d}"), ACCOUNTS[i % 12]) for i in range(first, first + count)]


async def until_effects(database_url: str, at_least: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum((await effects_per_payment(database_url, PAYMENT)).values()) >= at_least:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"fewer than {at_least} effects in {timeout}s")


def consumed(process) -> float:
    lines = httpx.get(f"{process.url}/metrics", timeout=5).text.splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("cc_events_consumed_total{"))


async def test_a_replica_joining_mid_stream_changes_no_effect_and_no_order(kafka, database_url, topics, tmp_path):
    await produce(kafka.bootstrap, topics["input"], payments(0, 1500))
    first = ledger_service(tmp_path, database_url, kafka.bootstrap, topics["input"], topics["output"],
                           name=topics["service"])
    second = ledger_service(tmp_path, database_url, kafka.bootstrap, topics["input"], topics["output"],
                            name=topics["service"])
    second.log_path = tmp_path / "second.log"
    first.start()
    try:
        first.wait_healthy()
        await until_effects(database_url, 100)
        second.start()
        second.wait_healthy()  # it has joined: the group rebalanced while the first was consuming
        await produce(kafka.bootstrap, topics["input"], payments(1500, 600))
        await until_effects(database_url, 2100)
        shares = consumed(first), consumed(second)
    finally:
        codes = first.stop(), second.stop()
    assert all(code in CLEAN_EXIT for code in codes), codes
    assert shares[1] > 0, f"the second replica took partitions over (consumed {shares})"
    assert await effects_per_payment(database_url, PAYMENT) == {f"P-{i:05d}": 1 for i in range(2100)}
    database = Database(database_url)
    try:
        async with database.engine.connect() as connection:
            rows = (await connection.execute(text("SELECT payment_id FROM effects ORDER BY id"))).scalars().all()
    finally:
        await database.dispose()
    applied = defaultdict(list)
    for payment_id in rows:
        applied[ACCOUNTS[int(payment_id[2:]) % 12]].append(payment_id)
    assert applied == {account: [f"P-{i:05d}" for i in range(2100) if i % 12 == n]
                       for n, account in enumerate(ACCOUNTS)}, "each account's events applied in order"
