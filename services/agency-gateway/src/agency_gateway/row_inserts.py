"""The partner API's hot inserts (an activity, an Idempotency-Key's answer) in one hop.

Through SQLAlchemy an INSERT on SQLite is three trips to aiosqlite's thread (cursor,
execute, close), and each trip cost ~0.1 ms of CPU on the event loop
(docs/benchmarks.md): the driver's own ``execute_fetchall`` is one. The statement is
compiled once per table with SQLAlchemy's SQLite dialect and its bind processors, so a
row is stored exactly as SQLAlchemy stores it (decision 0073). It runs in the unit of
work's transaction (SQLAlchemy has already begun it, BEGIN IMMEDIATE). PostgreSQL keeps
SQLAlchemy: asyncpg has no thread to hop to.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import Table, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from collections_core.inbox import driver_connection


class RowInsert:
    """``insert(table)`` with every column given, ready for either engine."""

    def __init__(self, table: Table) -> None:
        self._statement = insert(table)
        self._columns = [column.name for column in table.c]
        self._sqlite = None  # compiled on first use, for the engine's own dialect

    async def __call__(self, connection: AsyncConnection, row: dict) -> None:
        if connection.dialect.name != "sqlite":
            await connection.execute(self._statement, row)
            return
        if self._sqlite is None:
            compiled = self._statement.compile(dialect=connection.dialect, column_keys=self._columns)
            processors = compiled._bind_processors
            self._sqlite = compiled.string, [(name, processors.get(name)) for name in compiled.positiontup]
        sql, order = self._sqlite
        values = [row[name] if process is None or row[name] is None else process(row[name])
                  for name, process in order]
        raw = await driver_connection(connection)
        try:
            await raw.execute_fetchall(sql, values)
        except sqlite3.IntegrityError as error:  # what callers of SQLAlchemy catch, as before
            raise IntegrityError(sql, None, error) from error
