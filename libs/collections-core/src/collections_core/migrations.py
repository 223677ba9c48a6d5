"""Alembic, run programmatically on the service's own async engine.

Each service keeps its migrations in ``<package>/migrations`` with an ``env.py``
that only calls :func:`run_env`; the same migrations run on SQLite and PostgreSQL.
The runtime's own tables change through the runtime's own chain
(``collections_core/runtime_migrations``, version table ``collections_runtime_version``),
which :func:`upgrade` applies after the service's, so a service's chain never
carries the runtime's changes and the two never compete for a revision number.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text

from collections_core.database import Database

RUNTIME_MIGRATIONS = Path(__file__).parent / "runtime_migrations"
RUNTIME_VERSION_TABLE = "collections_runtime_version"


def run_env(target_metadata: MetaData, version_table: str = "alembic_version") -> None:
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      version_table=version_table)
    with context.begin_transaction():
        context.run_migrations()


async def upgrade(database: Database, script_location: Path, revision: str = "head") -> None:
    """The service's chain up to ``revision``, then the runtime's to its head (its
    first step needs the inbox and outbox that a service's first migration creates)."""
    await _upgrade(database, script_location, revision)
    await _upgrade(database, RUNTIME_MIGRATIONS, "head")


async def _upgrade(database: Database, script_location: Path, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(script_location))

    def run(connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with database.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Replicas starting together: one migrates, the others wait and find it done.
            # (SQLite's BEGIN IMMEDIATE already lets one writer in at a time.)
            await connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('collections_core.migrations'))"))
        await connection.run_sync(run)
