"""The rows a run of judgements writes, with one statement per table.

On PostgreSQL the statements go to the driver directly, as the runtime's inbox and
outbox do (decision 0004): new rows by binary COPY (in the order given, so ledger ids
follow the order of the decisions), changed requests by one ``UPDATE … FROM
unnest(…)`` carrying every row as arrays. SQLAlchemy's executemany spent more CPU
building each row's parameters than the database spent on the rows (decision 0063).
SQLite gets the same statements through SQLAlchemy Core's executemany.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from collections_core.inbox import driver_connection
from notifier.tables import contact_requests

# What a judgement or a settlement may change on a request row; every change names all of them.
CHANGED = ("status", "due_at", "rule", "reason", "provider_message_id", "updated_at")

_change_requests = update(contact_requests).where(contact_requests.c.request_id == bindparam("b_request_id")).values(
    {name: bindparam(f"b_{name}") for name in CHANGED})


def _array_type(table: Table, column: str) -> str:
    return table.c[column].type.compile(dialect=postgresql.dialect()) + "[]"


_CHANGE_ARRAYS = ", ".join(f"${n}::{_array_type(contact_requests, name)}"
                           for n, name in enumerate(("request_id", *CHANGED), 1))
_CHANGE_REQUESTS_SQL = (
    f"UPDATE contact_requests SET {', '.join(f'{name} = v.{name}' for name in CHANGED)} "
    f"FROM unnest({_CHANGE_ARRAYS}) AS v(request_id, {', '.join(CHANGED)}) "
    "WHERE contact_requests.request_id = v.request_id")
# A settlement changes only the requests still in flight (a receipt may have settled one meanwhile).
_SETTLE_REQUESTS_SQL = _CHANGE_REQUESTS_SQL + " AND contact_requests.status = 'sending' RETURNING contact_requests.request_id"


async def insert_rows(connection: AsyncConnection, table: Table, rows: Sequence[dict]) -> None:
    """New rows, in the order given; every row names the same columns."""
    if not rows:
        return
    if connection.dialect.name != "postgresql":
        await connection.execute(insert(table), list(rows))
        return
    columns = list(rows[0])
    raw = await driver_connection(connection)
    await raw.copy_records_to_table(table.name, columns=columns,
                                    records=[tuple(row[column] for column in columns) for row in rows])


async def change_requests(connection: AsyncConnection, requests: Sequence[dict]) -> None:
    """Each request's ``CHANGED`` columns as the dict holds them now."""
    if not requests:
        return
    if connection.dialect.name != "postgresql":
        await connection.execute(_change_requests, [
            {"b_request_id": r["request_id"], **{f"b_{c}": r[c] for c in CHANGED}} for r in requests])
        return
    raw = await driver_connection(connection)
    await raw.execute(_CHANGE_REQUESTS_SQL, [r["request_id"] for r in requests],
                      *([r[column] for r in requests] for column in CHANGED))


async def settle_requests(connection: AsyncConnection, requests: Sequence[dict]) -> set[str]:
    """Like ``change_requests``, for the requests still ``sending`` only; returns their ids."""
    if not requests:
        return set()
    if connection.dialect.name != "postgresql":
        sending = set((await connection.execute(select(contact_requests.c.request_id).where(
            contact_requests.c.request_id.in_([r["request_id"] for r in requests]),
            contact_requests.c.status == "sending"))).scalars())
        await change_requests(connection, [r for r in requests if r["request_id"] in sending])
        return sending
    raw = await driver_connection(connection)
    settled = await raw.fetch(_SETTLE_REQUESTS_SQL, [r["request_id"] for r in requests],
                              *([r[column] for r in requests] for column in CHANGED))
    return {row[0] for row in settled}
