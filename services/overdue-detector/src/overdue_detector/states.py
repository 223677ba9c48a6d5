"""What collections was told of each account: its delinquency_state row, the
reported state of an aged day with the episode (domain.Episode) as decide() left it.

An account without a row was never told anything. The daily aging records the
states of a page of accounts, a run of postings those of its accounts
(record_states), and a posting that only moves an episode changes that alone
(record_episodes); each with one statement."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from collections_core.inbox import driver_connection
from collections_core.queries import among
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
_RECORD_EPISODES_POSTGRESQL = (
    "UPDATE delinquency_state SET episode_open = v.episode_open, cured_on_day = v.cured_on_day "
    "FROM unnest($1::varchar[], $2::boolean[], $3::integer[]) AS v(account_id, episode_open, cured_on_day) "
    "WHERE delinquency_state.account_id = v.account_id")
_RECORD_EPISODES_SQLITE = update(delinquency_state).where(
    delinquency_state.c.account_id == bindparam("account")).values(
    episode_open=bindparam("open"), cured_on_day=bindparam("cured_on"))


def state_row(state: DayState, episode: Episode) -> tuple:
    """A delinquency_state row (in _STATE_COLUMNS order): `state` as reported, with `episode`."""
    return (state.account_id, day_number(state.as_of), state.dpd, state.bucket.value, state.past_due_amount,
            state.cycles_past_due, day_number(state.oldest_due_date) if state.oldest_due_date else None,
            state.balance, state.charged_off, episode.open, _day(episode.cured_on))


async def record_states(connection: AsyncConnection, rows: list[tuple]) -> None:
    """Record the states decided for many accounts (state_row()s), in one statement."""
    if not rows:
        return
    raw = await driver_connection(connection)
    if connection.dialect.name == "postgresql":
        await raw.execute(_RECORD_STATES_POSTGRESQL, *(list(column) for column in zip(*rows)))
    else:
        await raw.executemany(_RECORD_STATES_SQLITE, rows)


async def load_episodes(connection: AsyncConnection, account_ids: Iterable[str]) -> dict[str, Episode]:
    """The episode of each of `account_ids` that has a recorded row (the others were never told anything)."""
    rows = await connection.execute(select(
        delinquency_state.c.account_id, delinquency_state.c.episode_open, delinquency_state.c.cured_on_day).where(
        among(connection, delinquency_state.c.account_id, account_ids)))
    return {account_id: Episode(bool(episode_open), from_day_number(cured_on_day) if cured_on_day else None)
            for account_id, episode_open, cured_on_day in rows}


async def record_episodes(connection: AsyncConnection, episodes: dict[str, Episode]) -> None:
    """Change only the episodes of recorded rows (their reported states stay as of their days), in one statement."""
    if not episodes:
        return
    if connection.dialect.name == "postgresql":
        raw = await driver_connection(connection)
        await raw.execute(_RECORD_EPISODES_POSTGRESQL, list(episodes),
                          [episode.open for episode in episodes.values()],
                          [_day(episode.cured_on) for episode in episodes.values()])
    else:
        await connection.execute(_RECORD_EPISODES_SQLITE, [
            {"account": account_id, "open": episode.open, "cured_on": _day(episode.cured_on)}
            for account_id, episode in episodes.items()])


def _day(value):
    return day_number(value) if value else None
