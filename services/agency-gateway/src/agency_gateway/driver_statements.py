"""The partner API's hot statements in one hop to aiosqlite's thread (decision 0073).

Through SQLAlchemy a statement on SQLite is three or four trips to aiosqlite's thread
(cursor, execute, fetch, close), and each trip cost ~0.1 ms of the event loop's CPU
(docs/benchmarks.md); the driver's own ``execute_fetchall`` is one. A statement is
compiled once with the engine's SQLite dialect, its values go through SQLAlchemy's bind
processors and its rows through the result processors, so what is stored and read is
exactly what SQLAlchemy would store and read. It runs on the connection SQLAlchemy
holds, inside its transaction when there is one. PostgreSQL keeps SQLAlchemy: asyncpg
has no thread to hop to.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple

from sqlalchemy import Table, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from collections_core.inbox import driver_connection


class _Compiled:
    def __init__(self, statement, connection: AsyncConnection, column_keys: list[str] | None = None) -> None:
        dialect = connection.dialect
        self.compiled = statement.compile(dialect=dialect, column_keys=column_keys)
        processors = self.compiled._bind_processors
        self.binds = [(name, processors.get(name)) for name in self.compiled.positiontup]
        columns = self.compiled._result_columns
        self.row = namedtuple("Row", [column.keyname for column in columns]) if columns else None
        self.results = [column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns]

    async def run(self, connection: AsyncConnection, parameters: dict) -> list:
        given = self.compiled.construct_params(parameters)
        values = [given[name] if process is None or given[name] is None else process(given[name])
                  for name, process in self.binds]
        raw = await driver_connection(connection)
        try:
            rows = await raw.execute_fetchall(self.compiled.string, values)
        except sqlite3.IntegrityError as error:  # what callers of SQLAlchemy catch, as before
            raise IntegrityError(self.compiled.string, None, error) from error
        if self.row is None:
            return []
        return [self.row._make([value if process is None or value is None else process(value)
                                for process, value in zip(self.results, row)]) for row in rows]


class DriverStatement:
    """A Core statement with bound parameters; ``run`` returns its rows (attribute
    access by column label, as SQLAlchemy's rows; none for an insert)."""

    def __init__(self, statement, column_keys: list[str] | None = None) -> None:
        self._statement = statement
        self._column_keys = column_keys
        self._sqlite: _Compiled | None = None  # compiled on first use, for the engine's own dialect

    async def run(self, connection: AsyncConnection, parameters: dict) -> list:
        if connection.dialect.name != "sqlite":
            result = await connection.execute(self._statement, parameters)
            return result.all() if result.returns_rows else []
        if self._sqlite is None:
            self._sqlite = _Compiled(self._statement, connection, self._column_keys)
        return await self._sqlite.run(connection, parameters)

    async def first(self, connection: AsyncConnection, parameters: dict):
        rows = await self.run(connection, parameters)
        return rows[0] if rows else None


def row_insert(table: Table) -> DriverStatement:
    """``insert(table)`` taking every column."""
    return DriverStatement(insert(table), [column.name for column in table.c])
