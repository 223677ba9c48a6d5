"""A gateway per test, in-process (ServiceRuntime), on the real broker and the
test's database; its input topics are fresh per test so no other test's events
reach it. Its outputs go to the shared collections.agency-events.v1, read back
by this test's account ids."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest
from agency_gateway.handlers import AGENCY_EVENTS, TOPICS
from agency_gateway.main import build_runtime, create_app
from aiokafka import AIOKafkaConsumer
from collections_core.clock import ControlledClock
from collections_core.codec import EventCodec, TypeRegistry
from collections_core.logs import configure_logging
from collections_core.storage import inbox
from gateway_testkit import Gateway, gateway_settings
from local_kafka import create_topic
from sqlalchemy import func, select
from support import encode, produce

DECODER = EventCodec(TypeRegistry.of_contracts(), "/test")


@dataclass
class LiveGateway(Gateway):
    bootstrap: str = ""
    topics: dict[str, str] = field(default_factory=dict)
    run: str = ""
    clock: ControlledClock | None = None
    sent: int = 0

    def id(self, name: str) -> str:
        return f"{name}-{self.run}"

    async def send(self, topic: str, message, key: str) -> None:
        await produce(self.bootstrap, self.topics[topic], [encode(message, key, uuid.uuid4().hex)])
        self.sent += 1

    async def settle(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        handled = 0
        while time.monotonic() < deadline:
            async with self.runtime.database.reading() as connection:
                handled = (await connection.execute(select(func.count()).select_from(inbox))).scalar_one()
            if handled >= self.sent and await self.runtime.relay.backlog() == 0:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"only {handled} of {self.sent} events handled in {timeout}s")

    async def events(self, account: str, expected: int, timeout: float = 60.0) -> list[tuple[str, object]]:
        """(type, message) of the gateway's events keyed by `account`, once `expected` of them are on Kafka."""
        await self.settle()
        consumer = AIOKafkaConsumer(AGENCY_EVENTS, bootstrap_servers=self.bootstrap, group_id=None,
                                    auto_offset_reset="earliest", enable_auto_commit=False,
                                    isolation_level="read_committed")
        await consumer.start()
        found = []
        try:
            deadline = time.monotonic() + timeout
            while len(found) < expected and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    found += [r for r in records if r.key == account.encode()]
        finally:
            await consumer.stop()
        found.sort(key=lambda r: (r.partition, r.offset))
        return [(e.type.rsplit(".", 1)[1], e.message) for e in (DECODER.decode(r.headers, r.value) for r in found)]


@pytest.fixture
async def live_gateway(kafka, database_url):
    run = uuid.uuid4().hex[:8]
    topics = {name: f"{name}.{run}" for name in TOPICS}
    for name in topics.values():
        await create_topic(kafka.bootstrap, name, 2)
    # No challenger split here: the scenarios name the partner each placement must reach.
    settings = gateway_settings(
        database_url, kafka_bootstrap_servers=kafka.bootstrap, consumer_group=f"gateway-{run}",
        relay_poll_interval_seconds=0.1, consumer_batch_size=50, retry_backoff_max_seconds=1,
        expiry_check_seconds=0.2, webhook_poll_seconds=0.2, challenger_percent=0)
    await _visible(kafka.bootstrap, topics.values())
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    clock = ControlledClock(datetime(2026, 11, 2, 2, tzinfo=UTC))
    runtime = build_runtime(settings, topics=list(topics.values()), clock=clock)
    await runtime.start()
    try:
        await _ready(runtime, partitions=len(topics) * 2)
        app = create_app(settings, runtime)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
            yield LiveGateway(runtime, client, app, bootstrap=kafka.bootstrap, topics=topics, run=run, clock=clock)
    finally:
        await runtime.stop()


async def _visible(bootstrap: str, names, timeout: float = 30.0) -> None:
    """New topics take a moment to reach the broker's metadata."""
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await probe.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            known = await probe.topics()
            if all(name in known for name in names):
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"topics {list(names)} not visible in {timeout}s")
    finally:
        await probe.stop()


async def _ready(runtime, partitions: int, timeout: float = 60.0) -> None:
    """Assigned every input partition, and holding a signing key for partner tokens."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        consumer = runtime.consumer.consumer
        if consumer is not None and len(consumer.assignment()) >= partitions and runtime.tokens.jwks()["keys"]:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"gateway not ready (partitions, signing key) in {timeout}s")
