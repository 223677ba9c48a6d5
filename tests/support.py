"""Helpers for tests that drive real processes, a real broker and real databases."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text

from collections_core.codec import EventCodec, TypeRegistry
from collections_core.consumer import runs
from collections_core.contracts.corebanking.v1 import payments_pb2
from collections_core.database import Database
from collections_core.money import Money
from collections_core.tracing import TraceContext
from collections_core.wire import date_to_proto

ROOT = Path(__file__).resolve().parents[1]
# uvicorn shuts down gracefully on SIGTERM and then re-raises the signal.
CLEAN_EXIT = (0, -signal.SIGTERM)
CORE_BANKING = EventCodec(TypeRegistry.of_contracts(), "/corebanking")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def payment(account_id: str, payment_id: str, amount_minor: int = 10_000, currency: str = "CNY",
            on: date = date(2026, 11, 28)) -> payments_pb2.PaymentPosted:
    return payments_pb2.PaymentPosted(
        account_id=account_id, payment_id=payment_id, amount=Money(amount_minor, currency).to_proto(),
        posted_on=date_to_proto(on), value_date=date_to_proto(on))


def events_by_key(records: Iterable, codec: EventCodec) -> dict:
    """Outbox records per (topic, key) in emission order, as (type, message) without their
    random ce_id: what a run at once and one event at a time must both emit."""
    found = defaultdict(list)
    for record in records:
        event = codec.decode(record.headers, record.value)
        found[record.topic, record.key].append((event.type, str(event.message)))
    return dict(found)


def runs_as_consumed(events: list, batch_handlers: dict) -> list[list]:
    """A poll batch cut as the consumer cuts it."""
    return list(runs(events, lambda event: batch_handlers.get(event.type)))


def encode(message, key: str, event_id: str | None = None) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    headers, value = CORE_BANKING.encode(message, key, datetime.now(UTC), TraceContext.new(), event_id)
    return key.encode(), value, headers


async def produce(bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes | None, list]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, value=v, key=k, headers=h) for k, v, h in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def read_topic(bootstrap: str, topic: str, expect: int, timeout: float = 60.0, settle: float = 1.0):
    """Every record of ``topic`` once at least ``expect`` arrived (plus a short settle
    so extra, duplicated records would be seen too), or whatever came by the timeout."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                                enable_auto_commit=False, isolation_level="read_committed")
    await consumer.start()
    records = []
    deadline = time.monotonic() + timeout
    try:
        reached_at = None
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for part in batch.values():
                records.extend(part)
            if len(records) >= expect:
                reached_at = reached_at or time.monotonic()
                if time.monotonic() - reached_at >= settle:
                    break
    finally:
        await consumer.stop()
    return records


def header(record, name: str) -> str:
    return dict(record.headers)[name].decode()


async def scalar(database_url: str, sql: str):
    database = Database(database_url)
    try:
        async with database.engine.connect() as connection:
            return (await connection.execute(text(sql))).scalar()
    finally:
        await database.dispose()


async def effects_per_payment(database_url: str, ce_type: str) -> Counter:
    database = Database(database_url)
    try:
        async with database.engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT payment_id FROM effects WHERE ce_type = :t"), {"t": ce_type})
            return Counter(row.payment_id for row in rows)
    finally:
        await database.dispose()


class ServiceProcess:
    """One service as its own OS process, with its log captured to a file."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path, http_port: int | None = None) -> None:
        self.argv, self.env, self.log_path, self.http_port = argv, env, log, http_port
        self.process: subprocess.Popen | None = None

    def start(self, extra_env: dict[str, str] | None = None) -> ServiceProcess:
        self.log = open(self.log_path, "a")
        env = {**os.environ, **self.env, **(extra_env or {})}
        self.process = subprocess.Popen(self.argv, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                        cwd=ROOT, start_new_session=True)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def wait_healthy(self, timeout: float = 120.0) -> None:
        """Until /readyz answers 200: the first consumer group on a fresh broker
        waits for the broker's offsets topic, which takes a while on a busy machine."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.argv} exited with {self.process.returncode}; see {self.log_path}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.argv} not ready in {timeout}s; see {self.log_path}")

    def wait_exit(self, timeout: float = 60.0) -> int:
        return self.process.wait(timeout)

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()
        finally:
            self.log.close()


def ledger_service(tmp: Path, database_url: str, bootstrap: str, inputs: str, output: str = "",
                   name: str | None = None) -> ServiceProcess:
    """Its dead-letter topic is ``<name>.dlq.v1``; the caller creates it."""
    name = name or f"ledger-{uuid.uuid4().hex[:6]}"
    port = free_port()
    env = {"LEDGER_SERVICE_NAME": name, "LEDGER_DATABASE_URL": database_url, "LEDGER_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
           "LEDGER_INPUT_TOPICS": inputs, "LEDGER_OUTPUT_TOPIC": output, "LEDGER_CONSUMER_GROUP": name,
           "LEDGER_HTTP_PORT": str(port), "LEDGER_CONSUMER_BATCH_SIZE": "50",
           "LEDGER_RETRY_BACKOFF_MAX_SECONDS": "1", "LEDGER_RELAY_POLL_INTERVAL_SECONDS": "0.1"}
    return ServiceProcess([sys.executable, str(ROOT / "tests/runtime/ledger_service.py")], env,
                          tmp / f"{name}.log", http_port=port)
