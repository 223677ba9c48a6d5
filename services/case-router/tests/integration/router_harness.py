"""Drives an in-process case-router on the real broker: sends its inputs, reads its outputs."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import date

import httpx
from aiokafka import AIOKafkaConsumer
from sqlalchemy import func, select

from case_router.api import ROUTERS
from case_router.main import build_runtime
from case_router.settings import RouterSettings
from collections_core.auth import mint_token
from collections_core.clock import ControlledClock
from collections_core.codec import EventCodec, TypeRegistry
from collections_core.contracts.collections.v1 import delinquency_pb2
from collections_core.logs import configure_logging
from collections_core.money import Money
from collections_core.storage import inbox
from collections_core.wire import date_to_proto
from support import encode, produce

DECODER = EventCodec(TypeRegistry.of_contracts(), "/test")
SECRET = "router-tests-secret-0123456789abcdef"
OUTPUTS = ("collections.case-events.v1", "collections.contact-requests.v1", "collections.placements.v1")
BUCKET_FLOORS = ((181, 8), (151, 7), (121, 6), (91, 5), (61, 4), (31, 3), (1, 2), (0, 1))


def bucket(dpd: int) -> int:
    return next(value for floor, value in BUCKET_FLOORS if dpd >= floor)


def token(subject: str = "agent-1", roles=("agent",), **options) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SECRET, subject, roles, **options)}"}


@dataclass
class Router:
    runtime: object
    bootstrap: str
    topics: dict[str, str]
    run: str
    clock: ControlledClock
    sent: int = 0
    _seen: set = field(default_factory=set)

    def account(self, name: str = "A", variant: str | None = "champion") -> str:
        """A fresh account id; by default one the strategy puts in the champion variant,
        so a scenario's expected days follow the champion's rules."""
        for n in range(1000):
            account = f"{name}{n}-{self.run}"
            if variant is None or self.runtime.strategy.variant_of(account) == variant:
                return account
        raise AssertionError(f"no account in variant {variant}")

    async def send(self, kind: str, message, key: str, times: int = 1, event_id: str | None = None) -> str:
        event_id = event_id or uuid.uuid4().hex
        await produce(self.bootstrap, self.topics[kind], [encode(message, key, event_id)] * times)
        if event_id not in self._seen:
            self._seen.add(event_id)
            self.sent += 1
        return event_id

    async def day(self, account: str, on: date, dpd: int, past_due: int = 50_000, balance: int = 1_000_000,
                  correction: bool = False, times: int = 1) -> None:
        """The detector's DelinquencyUpdated for `account` on business date `on`."""
        await self.send("collections.delinquency.v1", delinquency_pb2.DelinquencyUpdated(
            account_id=account, customer_id=f"C-{account}", business_date=date_to_proto(on), correction=correction,
            state=delinquency_pb2.DelinquencyState(dpd=dpd, bucket=bucket(dpd),
                                                   past_due_amount=Money(past_due, "CNY").to_proto(),
                                                   balance=Money(balance, "CNY").to_proto())), account, times=times)

    async def settle(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            async with self.runtime.database.reading() as connection:
                handled = (await connection.execute(select(func.count()).select_from(inbox))).scalar_one()
            if handled >= self.sent and await self.runtime.relay.backlog() == 0:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"only {handled} of {self.sent} events handled in {timeout}s")

    async def events(self, account: str, topics=OUTPUTS, settle: float = 1.0) -> list[tuple[str, object]]:
        """(type, message) of every record the router published about `account`, in log order per topic."""
        await self.settle()
        consumer = AIOKafkaConsumer(*topics, bootstrap_servers=self.bootstrap, group_id=None,
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
                    found += [r for r in records if dict(r.headers).get("ce_subject") == account.encode()]
        finally:
            await consumer.stop()
        found.sort(key=lambda r: (r.timestamp, r.topic, r.partition, r.offset))
        return [(e.type.rsplit(".", 1)[1], e.message) for e in (DECODER.decode(r.headers, r.value) for r in found)]

    def http(self) -> httpx.AsyncClient:
        app = self.runtime.app("case-router", ROUTERS)
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://router")


async def start_router(kafka, database_url: str, run: str, topics: dict[str, str], clock: ControlledClock,
                       **settings) -> object:
    options = dict(database_url=database_url, kafka_bootstrap_servers=kafka.bootstrap, consumer_group=f"router-{run}",
                   relay_poll_interval_seconds=0.1, consumer_batch_size=50, retry_backoff_max_seconds=1,
                   auth_jwt_secret=SECRET, gauges_refresh_seconds=0.5)
    options.update(settings)
    configure_logging("case-router", "WARNING", True)
    runtime = build_runtime(RouterSettings(**options), topics=list(topics.values()), clock=clock)
    await runtime.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        consumer = runtime.consumer.consumer
        if consumer is not None and len(consumer.assignment()) >= len(topics) * 3:
            return runtime
        await asyncio.sleep(0.1)
    await runtime.stop()
    raise AssertionError("router not assigned its partitions in 60s")


