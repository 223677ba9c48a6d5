"""A case-router per test, in-process (ServiceRuntime), on the real broker and the
test's database (SQLite and PostgreSQL); its input topics are fresh per test."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

# --import-mode=importlib puts no test directory on sys.path; the harness lives here.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from local_kafka import create_topic  # noqa: E402
from router_harness import Router, start_router  # noqa: E402

from case_router.handlers import TOPICS  # noqa: E402
from collections_core.clock import ControlledClock  # noqa: E402


@pytest.fixture
async def router_topics(kafka):
    run = uuid.uuid4().hex[:8]
    topics = {name: f"{name}.{run}" for name in TOPICS}
    for name in topics.values():
        await create_topic(kafka.bootstrap, name, 3)
    probe = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, group_id=None)
    await probe.start()
    try:
        deadline = time.monotonic() + 30
        while not set(topics.values()) <= await probe.topics():
            assert time.monotonic() < deadline, "topics not visible"
            await asyncio.sleep(0.2)
    finally:
        await probe.stop()
    return run, topics


@pytest.fixture
async def router(kafka, database_url, router_topics):
    run, topics = router_topics
    clock = ControlledClock(datetime(2026, 11, 2, 2, tzinfo=UTC))
    runtime = await start_router(kafka, database_url, run, topics, clock)
    try:
        yield Router(runtime, kafka.bootstrap, topics, run, clock)
    finally:
        await runtime.stop()
