"""What collections was told of each account: its delinquency_state row, the
reported state of an aged day with the episode (domain.Episode) as decide() left it.

The daily aging records the states of each page of a day in bulk (StateRecorder); a
handler records one account's (record_state)."""

from __future__ import annotations

from sqlalchemy import select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from collections_core.inbox import driver_connection
from overdue_detector.domain import DayState, Episode
from overdue_detector.tables import day_number, delinquency_state, from_day_number

_STATE_COLUMNS = ("account_id", "as_of_day", "dpd", "bucket", "past_due_minor", "cycles_past_due", "oldest_due_day",
                  "balance_minor", "charged_off", "episode_open", "cured_on_day")
_RECORD_STATES = f"""
INSERT INTO delinquency_state ({", ".join(_STATE_COLUMNS)})
SELECT {", ".join(_STATE_COLUMNS)} FROM aging_states WHERE 1 = 1
ON CONFLICT (account_id) DO UPDATE SET
    {", ".join(f"{c} = excluded.{c}" for c in _STATE_COLUMNS[1:])}
"""


def state_row(state: DayState, episode: Episode) -> tuple:
    """A delinquency_state row (in _STATE_COLUMNS order): `state` as reported, with `episode`."""
    return (state.account_id, day_number(state.as_of), state.dpd, state.bucket.value, state.past_due_amount,
            state.cycles_past_due, day_number(state.oldest_due_date) if state.oldest_due_date else None,
            state.balance, state.charged_off, episode.open,
            day_number(episode.cured_on) if episode.cured_on else None)


class StateRecorder:
    """Records the states a page of the aging decided, in bulk: rows go to a temporary
    table (binary COPY on PostgreSQL), then one upsert writes them all."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection
        self.postgres = connection.dialect.name == "postgresql"
        self.created = False

    async def add(self, rows: list[tuple]) -> None:
        if not rows:
            return
        if not self.created:
            await self.connection.execute(text(
                "CREATE TEMPORARY TABLE aging_states (LIKE delinquency_state) ON COMMIT DROP" if self.postgres
                else "CREATE TEMPORARY TABLE aging_states AS SELECT * FROM delinquency_state WHERE 0"))
            self.created = True
        raw = await driver_connection(self.connection)
        if self.postgres:
            await raw.copy_records_to_table("aging_states", columns=_STATE_COLUMNS, records=rows)
        else:
            await raw.executemany(f"INSERT INTO aging_states ({', '.join(_STATE_COLUMNS)}) "
                                  f"VALUES ({', '.join('?' * len(_STATE_COLUMNS))})", rows)

    async def write(self) -> None:
        if not self.created:
            return
        await self.connection.execute(text(_RECORD_STATES))
        if not self.postgres:
            await self.connection.execute(text("DROP TABLE aging_states"))


async def load_state(connection: AsyncConnection, account_id: str):
    """The account's recorded row (None: collections was never told about it) and its episode."""
    row = (await connection.execute(
        select(delinquency_state).where(delinquency_state.c.account_id == account_id))).first()
    if row is None:
        return None, Episode()
    return row, Episode(bool(row.episode_open), from_day_number(row.cured_on_day) if row.cured_on_day else None)


async def record_state(connection: AsyncConnection, state: DayState, episode: Episode) -> None:
    """Write one account's row: `state` as reported, with `episode`."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(delinquency_state).values(**dict(zip(_STATE_COLUMNS, state_row(state, episode))))
    columns = {c: statement.excluded[c] for c in _STATE_COLUMNS[1:]}
    await connection.execute(statement.on_conflict_do_update(index_elements=["account_id"], set_=columns))


async def record_episode(connection: AsyncConnection, account_id: str, episode: Episode) -> None:
    """Change only the episode of a recorded row (its reported state stays as of its day)."""
    await connection.execute(update(delinquency_state).where(delinquency_state.c.account_id == account_id).values(
        episode_open=episode.open, cured_on_day=day_number(episode.cured_on) if episode.cured_on else None))
