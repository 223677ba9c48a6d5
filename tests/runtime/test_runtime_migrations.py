"""The runtime migrates its own tables in every service's database, after the
service's chain and with its own version table; a service's first migration still
creates exactly the first release's inbox and outbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from collections_core.database import Database
from collections_core.migrations import RUNTIME_VERSION_TABLE, upgrade

pytestmark = pytest.mark.integration
LEDGER_MIGRATIONS = Path(__file__).parent / "ledger_migrations"
FIRST_RELEASE = {
    "inbox": ["event_id", "ce_type", "topic", "kafka_partition", "kafka_offset", "outcome", "received_at"],
    "outbox": ["id", "topic", "record_key", "record_value", "headers", "created_at", "published_at"],
}


def _schema(connection):
    inspector = inspect(connection)
    return {table: ([c["name"] for c in inspector.get_columns(table)],
                    sorted(i["name"] for i in inspector.get_indexes(table)))
            for table in inspector.get_table_names()}


async def test_a_services_first_migration_creates_the_first_releases_tables(database_url):
    from collections_core.migrations import _upgrade

    database = Database(database_url)
    try:
        await _upgrade(database, LEDGER_MIGRATIONS, "head")  # the service's chain alone
        async with database.engine.connect() as connection:
            schema = await connection.run_sync(_schema)
    finally:
        await database.dispose()
    assert {table: schema[table][0] for table in FIRST_RELEASE} == FIRST_RELEASE
    assert "leases" not in schema


async def test_upgrade_applies_the_runtimes_own_chain_after_the_services_once(database_url):
    database = Database(database_url)
    try:
        await upgrade(database, LEDGER_MIGRATIONS)
        await upgrade(database, LEDGER_MIGRATIONS)  # a restart: nothing left to do
        async with database.engine.connect() as connection:
            schema = await connection.run_sync(_schema)
            runtime_version = (await connection.execute(text(f"SELECT version_num FROM {RUNTIME_VERSION_TABLE}"))
                               ).scalar_one()
            service_version = (await connection.execute(text("SELECT version_num FROM alembic_version"))
                               ).scalar_one()
    finally:
        await database.dispose()
    assert schema["outbox"][0] == FIRST_RELEASE["outbox"] + ["attempts", "set_aside_at", "refusal"]
    assert "outbox_published_at" in schema["outbox"][1] and "inbox_received_at" in schema["inbox"][1]
    assert schema["leases"][0] == ["name", "holder", "expires_at"]
    assert "effects" in schema, "the service's own tables are there too"
    assert (runtime_version, service_version) == ("r0001", "0001")
