"""Alembic, run programmatically on the service's own async engine.

Each service keeps its migrations in ``<package>/migrations`` with an ``env.py``
that only calls :func:`run_env`; the same migrations run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData

from collections_core.database import Database


def run_env(target_metadata: MetaData) -> None:
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def upgrade(database: Database, script_location: Path, revision: str = "head") -> None:
    config = Config()
    config.set_main_option("script_location", str(script_location))

    def _upgrade(connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with database.engine.begin() as connection:
        await connection.run_sync(_upgrade)
