"""Two replicas of the overdue-detector, one PostgreSQL database, one consumer
group, through business days with closes and payments, and a SIGKILL of the
replica that publishes: every event once, in order per account (read from the
output topic). The business-day aging and the outbox relay run under leases, so
the replicas split the partitions and the work that must happen once happens once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from datetime import date

import pytest
from local_kafka import create_topic

from collections_core.codec import EventCodec, TypeRegistry
from collections_core.contracts.corebanking.v1 import (
    accounts_pb2,
    business_days_pb2,
    statements_pb2,
)
from collections_core.money import Money
from collections_core.wire import date_from_proto, date_to_proto
from support import ServiceProcess, encode, free_port, payment, produce, read_topic, scalar

pytestmark = pytest.mark.integration
DECODER = EventCodec(TypeRegistry.of_contracts(), "/test")
OUTPUT = "collections.delinquency.v1"
DAYS = [date(2026, 10, 29), date(2026, 10, 30), date(2026, 10, 31), date(2026, 11, 1), date(2026, 11, 2)]


def replica(name: str, tmp_path, database_url: str, bootstrap: str, group: str, topics: list[str]) -> ServiceProcess:
    env = {"DETECTOR_DATABASE_URL": database_url, "DETECTOR_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
           "DETECTOR_HTTP_PORT": str(free_port()), "DETECTOR_CONSUMER_GROUP": group,
           "DETECTOR_CONSUMER_BATCH_SIZE": "20", "DETECTOR_RELAY_POLL_INTERVAL_SECONDS": "0.1",
           "DETECTOR_RETRY_BACKOFF_MAX_SECONDS": "1", "DETECTOR_LEASE_TTL_SECONDS": "3",
           "REPLICA_TOPICS": ",".join(topics)}
    return ServiceProcess([sys.executable, os.path.join(os.path.dirname(__file__), "detector_replica.py")], env,
                          tmp_path / f"{name}.log", http_port=int(env["DETECTOR_HTTP_PORT"]))


async def count_until(database_url: str, sql: str, expect: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while await scalar(database_url, sql) < expect:
        assert time.monotonic() < deadline, f"{sql} did not reach {expect}"
        await asyncio.sleep(0.3)


async def story(bootstrap: str, accounts: list[str], expect: int, timeout: float = 180) -> dict[str, list]:
    """Each account's events on the output topic, in log order, a redelivered copy
    (same ce_id) counted once; once at least ``expect`` events of these accounts arrived."""
    deadline = time.monotonic() + timeout
    while True:
        records = await read_topic(bootstrap, OUTPUT, expect=10**9, timeout=3, settle=0)
        mine = [r for r in sorted(records, key=lambda r: (r.partition, r.offset)) if r.key.decode() in accounts]
        seen, stories = set(), {account: [] for account in accounts}
        for record in mine:
            event = DECODER.decode(record.headers, record.value)
            if event.id in seen:
                continue
            seen.add(event.id)
            stories[record.key.decode()].append((event.type.rsplit(".", 1)[1],
                                                 date_from_proto(event.message.business_date)))
        if sum(map(len, stories.values())) >= expect or time.monotonic() > deadline:
            return stories


async def test_two_replicas_and_a_kill_give_every_event_once_in_order_per_account(kafka, postgres, tmp_path):
    run = uuid.uuid4().hex[:8]
    topics = {kind: f"corebanking.{kind}.{run}" for kind in ("accounts", "statements", "payments", "business-days")}
    for kind, name in topics.items():
        await create_topic(kafka.bootstrap, name, 1 if kind == "business-days" else 3)
    database_url = postgres.dsn(postgres.create_database(f"replicas_{run}"))
    replicas = [replica(f"detector-{i}", tmp_path, database_url, kafka.bootstrap, f"detector-{run}",
                        list(topics.values())) for i in (1, 2)]
    accounts = [f"ACC-{run}-{i:02d}" for i in range(12)]
    payers, unpaid = accounts[:4], accounts[4:]

    async def close(day: date) -> None:
        await produce(kafka.bootstrap, topics["business-days"], [encode(
            business_days_pb2.BusinessDayClosed(business_date=date_to_proto(day)), "business-day")])

    try:
        for process in replicas:
            process.start()
        for process in replicas:
            process.wait_healthy()
        await produce(kafka.bootstrap, topics["accounts"], [encode(accounts_pb2.AccountOpened(
            account_id=account, customer_id=f"CUS-{account}", currency="CNY",
            credit_limit=Money(5_000_000, "CNY").to_proto(), opened_on=date_to_proto(date(2026, 1, 5))), account)
            for account in accounts])
        # Postings for an account not yet opened are another item (the detector's); here they follow it.
        await count_until(database_url, f"SELECT count(*) FROM ledger_accounts WHERE account_id LIKE 'ACC-{run}-%'",
                          len(accounts))
        await produce(kafka.bootstrap, topics["statements"], [encode(statements_pb2.StatementIssued(
            account_id=account, statement_id=f"ST-{account}", cycle_date=date_to_proto(date(2026, 10, 1)),
            due_date=date_to_proto(date(2026, 10, 25)), statement_balance=Money(1_000_000, "CNY").to_proto(),
            minimum_due=Money(50_000, "CNY").to_proto()), account) for account in accounts])
        await count_until(database_url, "SELECT count(*) FROM ledger_statement_cycles", len(accounts))
        # Due 25 Oct, grace 3 days: delinquent from the 29th on.
        await close(DAYS[0])
        await close(DAYS[1])
        await story(kafka.bootstrap, accounts, expect=3 * len(accounts))
        await produce(kafka.bootstrap, topics["payments"], [
            encode(payment(account, f"PAY-{account}", 50_000, on=DAYS[2]), account) for account in payers])
        await close(DAYS[2])
        relay_holder = await scalar(database_url, "SELECT holder FROM leases WHERE name = 'outbox-relay'")
        killed = next(p for p in replicas if f":{p.process.pid}:" in relay_holder)
        os.kill(killed.process.pid, signal.SIGKILL)
        killed.process.wait(10)
        await close(DAYS[3])
        await close(DAYS[4])
        expected = {account: [("AccountBecameDelinquent", DAYS[0])] + [("DelinquencyUpdated", day) for day in DAYS]
                    for account in unpaid}
        expected |= {account: [("AccountBecameDelinquent", DAYS[0]), ("DelinquencyUpdated", DAYS[0]),
                               ("DelinquencyUpdated", DAYS[1]), ("AccountCured", DAYS[2])] for account in payers}
        stories = await story(kafka.bootstrap, accounts, expect=sum(map(len, expected.values())))
        survivor = next(p for p in replicas if p is not killed)
        assert survivor.process.poll() is None, "the other replica kept running"
    finally:
        for process in replicas:
            process.stop()
    assert stories == expected
