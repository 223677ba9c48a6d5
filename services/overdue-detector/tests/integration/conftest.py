"""A detector per test, in-process (ServiceRuntime), on the real broker and the
test's database; its input topics are fresh per test so that no other test's
business days or accounts reach it."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import date

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from local_kafka import create_topic
from sqlalchemy import func, select

from collections_core.codec import EventCodec, TypeRegistry
from collections_core.logs import configure_logging
from collections_core.contracts.corebanking.v1 import (
    accounts_pb2,
    business_days_pb2,
    payments_pb2,
    statements_pb2,
)
from collections_core.money import Money
from collections_core.storage import inbox
from collections_core.wire import date_to_proto
from overdue_detector.api import router
from collections_core.auth import mint_token
from overdue_detector.delinquency_events import DELINQUENCY
from overdue_detector.handlers import TOPICS
from overdue_detector.main import build_runtime
from overdue_detector.settings import DetectorSettings
from overdue_detector.tables import closed_days
from support import encode, produce

DECODER = EventCodec(TypeRegistry.of_contracts(), "/test")
SECRET = "detector-tests-secret-of-32-bytes-or-more"
DLQ = "overdue-detector.dlq.v1"


@dataclass
class Detector:
    runtime: object
    bootstrap: str
    topics: dict[str, str]
    run: str
    sent: int = 0
    _seen: dict = field(default_factory=dict)

    def account(self, name: str = "A") -> str:
        return f"{name}-{self.run}"

    async def send(self, kind: str, message, key: str, times: int = 1, event_id: str | None = None) -> str:
        """Produce `message` on this test's `kind` topic; times > 1 re-delivers the same event (same ce_id)."""
        event_id = event_id or uuid.uuid4().hex
        await produce(self.bootstrap, self.topics[kind], [encode(message, key, event_id)] * times)
        if event_id not in self._seen:
            self._seen[event_id] = True
            self.sent += 1
        return event_id

    async def open(self, account: str, currency: str = "CNY") -> None:
        await self.send("corebanking.accounts.v1", accounts_pb2.AccountOpened(
            account_id=account, customer_id=f"C-{account}", currency=currency,
            credit_limit=Money(5_000_000, currency).to_proto(), opened_on=date_to_proto(date(2026, 1, 5))), account)

    async def statement(self, account: str, statement_id: str, cycle: date, due: date, minimum: int,
                        balance: int = 1_000_000, currency: str = "CNY") -> None:
        await self.send("corebanking.statements.v1", statements_pb2.StatementIssued(
            account_id=account, statement_id=statement_id, cycle_date=date_to_proto(cycle),
            due_date=date_to_proto(due), statement_balance=Money(balance, currency).to_proto(),
            minimum_due=Money(minimum, currency).to_proto()), account)

    async def pay(self, account: str, payment_id: str, amount: int, value: date, posted: date | None = None,
                  currency: str = "CNY", times: int = 1) -> None:
        await self.send("corebanking.payments.v1", payments_pb2.PaymentPosted(
            account_id=account, payment_id=payment_id, amount=Money(amount, currency).to_proto(),
            posted_on=date_to_proto(posted or value), value_date=date_to_proto(value)), account, times=times)

    async def reverse(self, account: str, payment_id: str, on: date) -> None:
        await self.send("corebanking.payments.v1", payments_pb2.PaymentReversed(
            account_id=account, payment_id=payment_id, reversed_on=date_to_proto(on), reason="returned"), account)

    async def close(self, day: date, event_id: str | None = None) -> str:
        return await self.send("corebanking.business-days.v1", business_days_pb2.BusinessDayClosed(
            business_date=date_to_proto(day)), "business-day", event_id=event_id)

    async def settle(self, timeout: float = 30.0) -> None:
        """Wait until every event sent so far was handled (the inbox holds it), every
        closed day aged, and every output published."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            async with self.runtime.database.engine.connect() as connection:
                handled = (await connection.execute(select(func.count()).select_from(inbox))).scalar_one()
                waiting = (await connection.execute(select(func.count()).select_from(closed_days))).scalar_one()
            if handled >= self.sent and waiting == 0 and await self.runtime.relay.backlog() == 0:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"only {handled} of {self.sent} events handled in {timeout}s")

    async def events(self, account: str, topic: str = DELINQUENCY, settle: float = 1.0) -> list[tuple[str, object]]:
        """(type, message) of every record on `topic` keyed by `account`, in log order."""
        await self.settle()
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=self.bootstrap, group_id=None,
                                    auto_offset_reset="earliest", enable_auto_commit=False,
                                    isolation_level="read_committed")
        await consumer.start()
        found = []
        try:
            quiet_since = time.monotonic()
            while time.monotonic() - quiet_since < settle:
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    if records:
                        quiet_since = time.monotonic()
                    found += [r for r in records if r.key == account.encode()]
        finally:
            await consumer.stop()
        found.sort(key=lambda r: (r.partition, r.offset))
        if topic == DLQ:
            return [(dict(r.headers)["dlq-code"].decode(), r) for r in found]
        return [(e.type.rsplit(".", 1)[1], e.message) for e in (DECODER.decode(r.headers, r.value) for r in found)]

    def http(self, role: str | None = "operations") -> httpx.AsyncClient:
        """A client of the detector's API holding a token with `role` (None: no token)."""
        app = self.runtime.app("overdue-detector", routers=[router])
        headers = {"Authorization": f"Bearer {mint_token(SECRET, 'tester', [role])}"} if role else {}
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://detector", headers=headers)


@pytest.fixture
async def detector(kafka, database_url):
    run = uuid.uuid4().hex[:8]
    topics = {name: f"{name}.{run}" for name in TOPICS}
    for name in topics.values():
        await create_topic(kafka.bootstrap, name, 1 if "business-days" in name else 3)
    settings = DetectorSettings(
        database_url=database_url, kafka_bootstrap_servers=kafka.bootstrap, consumer_group=f"detector-{run}",
        relay_poll_interval_seconds=0.1, consumer_batch_size=50, retry_backoff_max_seconds=1, auth_jwt_secret=SECRET)
    await _visible(kafka.bootstrap, topics.values())
    # An earlier test may have pointed structlog at a capture stream that is closed by now.
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    runtime = build_runtime(settings, topics=list(topics.values()))
    await runtime.start()
    try:
        await _assigned(runtime, len(topics) * 3 - 2)
        yield Detector(runtime, kafka.bootstrap, topics, run)
    finally:
        await runtime.stop()


async def _visible(bootstrap: str, names, timeout: float = 30.0) -> None:
    """New topics take a moment to reach the broker's metadata; a consumer that
    subscribes before that would sit without partitions until its next refresh."""
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await probe.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            topics = await probe.topics()
            if all(name in topics for name in names):
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"topics {list(names)} not visible in {timeout}s")
    finally:
        await probe.stop()


async def _assigned(runtime, partitions: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        consumer = runtime.consumer.consumer
        if consumer is not None and len(consumer.assignment()) >= partitions:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"detector not assigned its {partitions} partitions in {timeout}s")
