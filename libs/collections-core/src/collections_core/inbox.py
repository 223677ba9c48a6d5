"""The inbox: which event ids this service has already handled or dead-lettered.

On PostgreSQL the hot path talks to asyncpg directly (``= ANY`` and binary COPY):
SQLAlchemy's per-row parameter processing cost more CPU than the rest of the
runtime's per-event work together (see docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from collections_core.storage import inbox

COLUMNS = ("event_id", "ce_type", "topic", "kafka_partition", "kafka_offset", "outcome", "received_at")


async def driver_connection(connection: AsyncConnection):
    return (await connection.get_raw_connection()).driver_connection


async def already_seen(connection: AsyncConnection, event_ids: Sequence[str]) -> set[str]:
    if connection.dialect.name == "postgresql":
        raw = await driver_connection(connection)
        rows = await raw.fetch("SELECT event_id FROM inbox WHERE event_id = ANY($1::text[])", list(event_ids))
        return {row[0] for row in rows}
    return set((await connection.execute(select(inbox.c.event_id).where(inbox.c.event_id.in_(event_ids)))).scalars())


async def record(connection: AsyncConnection, rows: Sequence[tuple]) -> None:
    """Rows are tuples in COLUMNS order."""
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        raw = await driver_connection(connection)
        await raw.copy_records_to_table("inbox", records=rows, columns=COLUMNS)
        return
    await connection.execute(insert(inbox), [dict(zip(COLUMNS, row, strict=True)) for row in rows])
