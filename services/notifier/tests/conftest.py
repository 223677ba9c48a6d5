"""Fixtures for the notifier's tests: a stand-in SMS provider as a real HTTP server,
and a notifier runtime on a real database whose dispatcher the test drives."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime

import httpx
import pytest
import uvicorn
from collections_core.clock import ControlledClock
from collections_core.codec import EventCodec, TypeRegistry
from collections_core.migrations import upgrade
from collections_core.outbox import _unpack_headers
from collections_core.storage import outbox
from collections_core.tracing import TraceContext
from notifier.main import build_runtime
from notifier.settings import NotifierSettings
from notifier.standins.sms_provider import create_app
from sqlalchemy import select

SECRET = "test-webhook-secret"
JWT_SECRET = "notifier-test-secret-of-32-bytes!!"
DECODER = EventCodec(TypeRegistry.of_contracts(), "/test")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Provider:
    def __init__(self, url: str) -> None:
        self.url = url

    async def control(self, **plan) -> None:
        async with httpx.AsyncClient() as client:
            (await client.post(f"{self.url}/control", json=plan)).raise_for_status()

    async def stats(self) -> dict:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{self.url}/stats")).json()

    async def messages(self) -> list[dict]:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{self.url}/messages")).json()


@pytest.fixture
async def sms_provider():
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(SECRET), host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    yield Provider(f"http://127.0.0.1:{port}")
    server.should_exit = True
    await task


def settings_for(database_url: str, provider_url: str, **overrides) -> NotifierSettings:
    values = dict(database_url=database_url, sms_provider_url=provider_url, sms_webhook_secret=SECRET,
                  sms_attempts=3, sms_backoff_seconds=0.01, sms_breaker_failures=100,
                  sms_provider_timeout_seconds=1.0, sms_receipts_url="http://127.0.0.1:9/unused",
                  auth_jwt_secret=JWT_SECRET, kafka_bootstrap_servers="127.0.0.1:9")
    values.update(overrides)
    return NotifierSettings(**values)


@pytest.fixture
def clock():
    # 2026-11-02 01:00 UTC: 09:00 in Shanghai, 01:00 in London, 20:00 (EST) the day before in New York.
    return ControlledClock(datetime(2026, 11, 2, 1, tzinfo=UTC))


@pytest.fixture
async def notifier_runtime(database_url, sms_provider, clock):
    """A notifier runtime whose consumer and relay are not started: the test drives
    handlers and dispatch rounds itself and reads emitted events from the outbox."""
    runtimes = []

    async def make(**overrides):
        url = overrides.pop("database_url", database_url)
        runtime = build_runtime(settings_for(url, sms_provider.url, **overrides), topics=[], clock=clock)
        await upgrade(runtime.database, runtime.migrations)
        runtimes.append(runtime)
        return runtime

    yield make
    for runtime in runtimes:
        await runtime.database.dispose()
        await runtime.batch_database.dispose()


async def read_emitted(runtime) -> list[tuple[str, object]]:
    """(type, message) of every event the runtime wrote to its outbox, in order."""
    async with runtime.database.reading() as connection:
        rows = (await connection.execute(select(outbox).order_by(outbox.c.id))).all()
    decoded = [DECODER.decode(_unpack_headers(row.headers), row.record_value) for row in rows]
    return [(event.type.rsplit(".", 1)[1], event.message) for event in decoded]


def as_event(runtime, message, key: str):
    headers, value = runtime.codec.encode(message, key, runtime.clock.now(), TraceContext.new(), None)
    return runtime.codec.decode(headers, value)


async def deliver_event(runtime, message, key: str = "K") -> None:
    """Run one event through the notifier's handler in its own unit of work, as the consumer would."""
    await deliver_run(runtime, [(message, key)])


async def deliver_run(runtime, messages: list[tuple[object, str]]) -> None:
    """Events of one type through the notifier in one unit of work, as the consumer hands
    a run of them to a batch handler (or one by one to a per-event handler)."""
    events = [as_event(runtime, message, key) for message, key in messages]
    notifier = runtime.notifier
    async with runtime.unit_of_work() as work:
        batch = notifier.batch_handlers().get(events[0].type)
        if batch is not None:
            await batch(events, work)
        else:
            for event in events:
                await notifier.handlers()[event.type](event, work)


@pytest.fixture
def deliver():
    return deliver_event


@pytest.fixture
def event_for():
    """A message as the handlers receive it (encoded and decoded by the runtime's codec)."""
    return as_event


@pytest.fixture
def deliver_together():
    return deliver_run


@pytest.fixture
def emitted():
    return read_emitted
