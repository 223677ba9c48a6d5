"""The rows a round of the daily re-evaluation writes, saved with one statement per table.

On PostgreSQL the statements go to the driver directly, as the runtime's inbox and
outbox do (decision 0004): new rows by binary COPY, changed rows by one ``UPDATE …
FROM unnest(…)`` or ``INSERT … SELECT unnest(…) ON CONFLICT`` carrying every row as
arrays. SQLite gets the same statements through SQLAlchemy Core's executemany.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from case_router.tables import (
    case_actions,
    cases,
    contact_requests,
    credit_file,
    delinquency_days,
    holds,
    placements,
    plans,
    promises,
    tasks,
    timeline,
)
from collections_core.inbox import driver_connection

# What the day changes on a case it did not open.
_CASE_CHANGES = ("dpd", "bucket", "past_due_minor", "balance_minor", "last_evaluated_on", "stage", "promises_broken")


@dataclass(slots=True)
class Rows:
    opened: dict[str, object] = field(default_factory=dict)
    changed: dict[str, object] = field(default_factory=dict)
    days: dict[tuple[str, date], tuple[str, str]] = field(default_factory=dict)
    actions: dict[tuple[str, str], date] = field(default_factory=dict)
    promise_status: dict[str, str] = field(default_factory=dict)
    plan_status: dict[str, str] = field(default_factory=dict)
    holds_ended: dict[str, date] = field(default_factory=dict)
    timeline: list[dict] = field(default_factory=list)
    contact_requests: list[dict] = field(default_factory=list)
    tasks: list[dict] = field(default_factory=list)
    placements: list[dict] = field(default_factory=list)
    credit_file: list[dict] = field(default_factory=list)
    # casebook.Closing of the cases a completed plan closes once the rows are saved.
    closings: list = field(default_factory=list)

    def case_opened(self, case) -> None:
        self.opened[case.case_id] = case

    def case_changed(self, case) -> None:
        if case.case_id not in self.opened:
            self.changed[case.case_id] = case

    def day(self, account_id: str, on: date, bucket: str, variant: str) -> None:
        # An existing day keeps the variant it was first recorded with.
        self.days[account_id, on] = (bucket, variant)

    def action_done(self, case_id: str, key: str, on: date) -> None:
        self.actions[case_id, key] = on

    def promise_judged(self, promise_id: str, status: str) -> None:
        self.promise_status[promise_id] = status

    def plan_judged(self, plan_id: str, status: str) -> None:
        self.plan_status[plan_id] = status

    def hold_ended(self, hold_id: str, on: date) -> None:
        self.holds_ended[hold_id] = on

    async def save(self, connection: AsyncConnection) -> None:
        store = store_of(connection)
        await store.insert(cases, [vars(case) for case in self.opened.values()])
        await store.change_cases([tuple(getattr(case, c) for c in _CASE_CHANGES) + (case.case_id,)
                                  for case in self.changed.values()])
        await store.upsert(delinquency_days, ("account_id", "business_date"), ("bucket",),
                           [{"account_id": a, "business_date": d, "bucket": b, "variant": v}
                            for (a, d), (b, v) in self.days.items()])
        await store.upsert(case_actions, ("case_id", "key"), ("last_on",),
                           [{"case_id": c, "key": k, "last_on": d} for (c, k), d in self.actions.items()])
        await store.set_column(promises, "promise_id", "status", self.promise_status)
        await store.set_column(plans, "plan_id", "status", self.plan_status)
        await store.set_column(holds, "hold_id", "ended_on", self.holds_ended)
        for table, rows in ((timeline, self.timeline), (contact_requests, self.contact_requests),
                            (tasks, self.tasks), (placements, self.placements), (credit_file, self.credit_file)):
            await store.insert(table, rows)


def store_of(connection: AsyncConnection) -> _SQLite | _PostgreSQL:
    """Statements that write many rows at once, for the connection's engine."""
    return _PostgreSQL(connection) if connection.dialect.name == "postgresql" else _SQLite(connection)


class _SQLite:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def insert(self, table: Table, rows: list[dict]) -> None:
        if rows:
            await self.connection.execute(insert(table), rows)

    async def change_cases(self, rows: list[tuple]) -> None:
        if rows:
            await self.connection.execute(
                update(cases).where(cases.c.case_id == bindparam("key"))
                .values({column: bindparam(column) for column in _CASE_CHANGES}),
                [dict(zip((*_CASE_CHANGES, "key"), row, strict=True)) for row in rows])

    async def upsert(self, table: Table, keys: tuple[str, ...], changing: tuple[str, ...], rows: list[dict]) -> None:
        if rows:
            statement = sqlite.insert(table)
            await self.connection.execute(statement.on_conflict_do_update(
                index_elements=list(keys), set_={c: statement.excluded[c] for c in changing}), rows)

    async def set_column(self, table: Table, key: str, column: str, values: dict) -> None:
        if values:
            await self.connection.execute(
                update(table).where(table.c[key] == bindparam("key")).values({column: bindparam("value")}),
                [{"key": k, "value": v} for k, v in values.items()])


class _PostgreSQL:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def insert(self, table: Table, rows: list[dict]) -> None:
        if not rows:
            return
        columns = [c.name for c in table.columns if c.name in rows[0]]
        raw = await driver_connection(self.connection)
        await raw.copy_records_to_table(table.name, columns=columns,
                                        records=[tuple(row[c] for c in columns) for row in rows])

    async def change_cases(self, rows: list[tuple]) -> None:
        if rows:
            await self._update(cases, "case_id", _CASE_CHANGES, [list(column) for column in zip(*rows, strict=True)])

    async def upsert(self, table: Table, keys: tuple[str, ...], changing: tuple[str, ...], rows: list[dict]) -> None:
        if not rows:
            return
        names = list(rows[0])
        assignments = ", ".join(f"{c} = excluded.{c}" for c in changing)
        raw = await driver_connection(self.connection)
        await raw.execute(f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM {_unnest(table, names)} "
                          f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {assignments}",
                          *([row[name] for row in rows] for name in names))

    async def set_column(self, table: Table, key: str, column: str, values: dict) -> None:
        if values:
            await self._update(table, key, (column,), [list(values.values()), list(values)])

    async def _update(self, table: Table, key: str, columns: tuple[str, ...], arrays: list[list]) -> None:
        """``arrays``: one list per column, then the keys."""
        names = [*columns, key]
        assignments = ", ".join(f"{c} = v.{c}" for c in columns)
        raw = await driver_connection(self.connection)
        await raw.execute(f"UPDATE {table.name} SET {assignments} FROM {_unnest(table, names)} "
                          f"AS v({', '.join(names)}) WHERE {table.name}.{key} = v.{key}", *arrays)


def _unnest(table: Table, names: list[str]) -> str:
    dialect = postgresql.dialect()
    return "unnest(" + ", ".join(f"${n}::{table.c[name].type.compile(dialect=dialect)}[]"
                                 for n, name in enumerate(names, 1)) + ")"
