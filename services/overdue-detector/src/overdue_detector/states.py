"""What collections was told of each account: its delinquency_state row, the
reported state of an aged day with the episode (domain.Episode) as decide() left it.

The daily aging records the states of each page of a day in bulk (record_states); a
handler records one account's (record_state)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from collections_core.inbox import driver_connection
from overdue_detector.domain import DayState, Episode
from overdue_detector.tables import day_number, delinquency_state, from_day_number

_STATE_COLUMNS = ("account_id", "as_of_day", "dpd", "bucket", "past_due_minor", "cycles_past_due", "oldest_due_day",
                  "balance_minor", "charged_off", "episode_open", "cured_on_day")
_UPSERT = f"ON CONFLICT (account_id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in _STATE_COLUMNS[1:])}"
# PostgreSQL takes a page's rows as one array per column: one statement, one round trip.
_RECORD_STATES_POSTGRESQL = (
    f"INSERT INTO delinquency_state ({', '.join(_STATE_COLUMNS)}) SELECT * FROM unnest("
    "$1::varchar[], $2::integer[], $3::integer[], $4::varchar[], $5::bigint[], $6::integer[], $7::integer[], "
    f"$8::bigint[], $9::boolean[], $10::boolean[], $11::integer[]) {_UPSERT}")
_RECORD_STATES_SQLITE = (f"INSERT INTO delinquency_state ({', '.join(_STATE_COLUMNS)}) "
                         f"VALUES ({', '.join('?' * len(_STATE_COLUMNS))}) {_UPSERT}")


def state_row(state: DayState, episode: Episode) -> tuple:
    """A delinquency_state row (in _STATE_COLUMNS order): `state` as reported, with `episode`."""
    return (state.account_id, day_number(state.as_of), state.dpd, state.bucket.value, state.past_due_amount,
            state.cycles_past_due, day_number(state.oldest_due_date) if state.oldest_due_date else None,
            state.balance, state.charged_off, episode.open,
            day_number(episode.cured_on) if episode.cured_on else None)


async def record_states(connection: AsyncConnection, rows: list[tuple]) -> None:
    """Record the states a page of the aging decided (state_row()s), in one statement."""
    if not rows:
        return
    raw = await driver_connection(connection)
    if connection.dialect.name == "postgresql":
        await raw.execute(_RECORD_STATES_POSTGRESQL, *(list(column) for column in zip(*rows)))
    else:
        await raw.executemany(_RECORD_STATES_SQLITE, rows)


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
