"""The rows a run of postings writes (postings.py), each table with one statement.

New ledger rows go by binary COPY on PostgreSQL, straight to the driver as the
runtime's inbox and outbox do (decision 0004), and by SQLAlchemy Core's executemany
on SQLite. Positions are refreshed once for the run's accounts after their cycles and
payments are written; states and episodes last, as states.py writes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Table, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from collections_core.codec import Event
from collections_core.inbox import driver_connection
from collections_core.queries import among
from collections_core.unit_of_work import UnitOfWork
from overdue_detector import held
from overdue_detector.domain import DayState, Episode
from overdue_detector.positions import refresh_positions
from overdue_detector.states import record_episodes, record_states, state_row
from overdue_detector.tables import cycles, payments, status_changes


@dataclass(slots=True)
class Rows:
    statements: list[dict] = field(default_factory=list)
    # New payments by id: one the run also reverses is written reversed.
    payments: dict[str, dict] = field(default_factory=dict)
    reversed: list[str] = field(default_factory=list)  # payments recorded before the run, reversed in it
    status_changes: list[dict] = field(default_factory=list)  # in the order received (their ids keep it)
    held: list[tuple[Event, date | None]] = field(default_factory=list)
    positions: dict[str, None] = field(default_factory=dict)  # accounts whose cycles or payments changed
    states: dict[str, tuple[DayState, Episode]] = field(default_factory=dict)
    episodes: dict[str, Episode] = field(default_factory=dict)

    def state(self, account_id: str, state: DayState, episode: Episode) -> None:
        """Record `state` as reported, with `episode` (what record_states writes)."""
        self.states[account_id] = (state, episode)
        self.episodes.pop(account_id, None)

    def episode(self, account_id: str, episode: Episode) -> None:
        """Change only the episode of the account's recorded state."""
        if account_id in self.states:
            self.states[account_id] = (self.states[account_id][0], episode)
        else:
            self.episodes[account_id] = episode

    async def save(self, work: UnitOfWork) -> None:
        connection = work.connection
        await insert_rows(connection, cycles, self.statements)
        await insert_rows(connection, payments, list(self.payments.values()))
        if self.reversed:
            await connection.execute(update(payments).where(
                among(connection, payments.c.payment_id, self.reversed)).values(reversed=True))
        await insert_rows(connection, status_changes, self.status_changes)
        await held.hold(work, self.held)
        await refresh_positions(connection, list(self.positions))
        await record_states(connection, [state_row(state, episode) for state, episode in self.states.values()])
        await record_episodes(connection, self.episodes)


async def insert_rows(connection: AsyncConnection, table: Table, rows: list[dict]) -> None:
    """Insert `rows` (dicts with the same keys) in order, in one statement."""
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        columns = list(rows[0])
        raw = await driver_connection(connection)
        await raw.copy_records_to_table(table.name, columns=columns,
                                        records=[tuple(row[c] for c in columns) for row in rows])
    else:
        await connection.execute(insert(table), rows)
