"""The inbox: which event ids this service has already handled or dead-lettered.

The hot path talks to the driver directly (asyncpg ``= ANY`` and binary COPY on
PostgreSQL, executemany on SQLite): SQLAlchemy's per-row parameter processing cost
more CPU than the rest of the runtime's per-event work together (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import Column, Table, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from collections_core.storage import inbox

COLUMNS = ("event_id", "ce_type", "topic", "kafka_partition", "kafka_offset", "outcome", "received_at")
HANDLED = "handled"
# A dead-lettered id is let through again when its record is redriven (see consumer).
DEAD_LETTERED = "dead-lettered"


async def driver_connection(connection: AsyncConnection):
    """The driver's own connection, inside `connection`'s transaction when it has one.
    SQLAlchemy's asyncpg adapter sends BEGIN only with its first statement: a statement
    sent straight to the driver before any other would otherwise run on its own and
    stay committed when the unit of work rolls back."""
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    if connection.in_transaction() and connection.dialect.name == "postgresql" and not driver.is_in_transaction():
        # The BEGIN the adapter would send with SQLAlchemy's next statement, sent now
        # (SQLAlchemy is pinned; tests/runtime/test_database.py fails if this stops holding).
        await raw.dbapi_connection._start_transaction()
    return driver


async def sqlite_insert_many(connection: AsyncConnection, table: Table, columns: Sequence[str],
                             rows: Sequence[tuple]) -> None:
    """SQLite: the driver's executemany, in the connection's own transaction."""
    raw = await driver_connection(connection)
    await raw.executemany(
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", rows)


def sqlite_instant(connection: AsyncConnection, column: Column) -> Callable[[datetime], str]:
    """An instant as SQLAlchemy's SQLite DateTime stores it, for rows written through the driver."""
    dialect = connection.dialect
    return column.type.dialect_impl(dialect).bind_processor(dialect)


async def already_seen(connection: AsyncConnection, event_ids: Sequence[str]) -> dict[str, str]:
    """The outcome recorded for each of ``event_ids`` the inbox holds."""
    if connection.dialect.name == "postgresql":
        raw = await driver_connection(connection)
        rows = await raw.fetch("SELECT event_id, outcome FROM inbox WHERE event_id = ANY($1::text[])",
                               list(event_ids))
        return {row[0]: row[1] for row in rows}
    rows = await connection.execute(
        select(inbox.c.event_id, inbox.c.outcome).where(inbox.c.event_id.in_(event_ids)))
    return {row.event_id: row.outcome for row in rows}


async def forget(connection: AsyncConnection, event_ids: Sequence[str]) -> None:
    """Drop dead-lettered ids whose redriven records are being handled again."""
    if event_ids:
        await connection.execute(delete(inbox).where(
            inbox.c.event_id.in_(event_ids), inbox.c.outcome == DEAD_LETTERED))


async def record(connection: AsyncConnection, rows: Sequence[tuple]) -> None:
    """Rows are tuples in COLUMNS order."""
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        raw = await driver_connection(connection)
        await raw.copy_records_to_table("inbox", records=rows, columns=COLUMNS)
        return
    instant = sqlite_instant(connection, inbox.c.received_at)
    await sqlite_insert_many(connection, inbox, COLUMNS, [(*row[:-1], instant(row[-1])) for row in rows])
