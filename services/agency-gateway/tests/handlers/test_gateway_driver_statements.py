"""The driver statements (decision 0073) store and read exactly what SQLAlchemy does, on both engines."""

from datetime import UTC, date, datetime
from pathlib import Path

import agency_gateway
import pytest
from agency_gateway.driver_statements import DriverStatement, row_insert
from agency_gateway.tables import activities, idempotency_keys
from collections_core.database import Database
from collections_core.migrations import upgrade
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError

MIGRATIONS = Path(agency_gateway.__file__).parent / "migrations"
AT = datetime(2026, 11, 2, 10, 30, 15, 123456, tzinfo=UTC)


def activity(activity_id: str, **changes) -> dict:
    return {"activity_id": activity_id, "placement_id": "PL-1", "partner_id": "P-1", "kind": "promise-to-pay",
            "occurred_at": AT, "promised_amount_minor": 12_345, "promised_currency": "CNY",
            "promised_on": date(2026, 12, 1), "note": "it's \"quoted\"", "reported_at": AT, "permit_id": None,
            **changes}


async def test_a_row_through_the_driver_reads_back_as_one_through_sqlalchemy(database_url):
    database = Database(database_url)
    await upgrade(database, MIGRATIONS)
    by_driver, by_rows = row_insert(activities), DriverStatement(
        select(activities).where(activities.c.placement_id == bindparam("placement_id"))
        .order_by(activities.c.activity_id))
    try:
        async with database.transaction() as connection:
            await by_driver.run(connection, activity("A-driver"))
            await by_driver.run(connection, activity("A-nulls", promised_amount_minor=None, promised_currency=None,
                                                     promised_on=None, note=None, kind="note"))
            await connection.execute(insert(activities), activity("A-sqlalchemy"))
        async with database.reading() as connection:
            stored = {row.activity_id: row._asdict() for row in (await connection.execute(
                select(activities).order_by(activities.c.activity_id))).all()}
            read = await by_rows.run(connection, {"placement_id": "PL-1"})
        assert {k: v for k, v in stored["A-driver"].items() if k != "activity_id"} == \
            {k: v for k, v in stored["A-sqlalchemy"].items() if k != "activity_id"}
        assert stored["A-nulls"]["note"] is None and stored["A-nulls"]["promised_on"] is None
        assert [row._asdict() for row in read] == list(stored.values())
    finally:
        await database.dispose()


async def test_a_duplicate_is_sqlalchemys_integrity_error_and_writes_nothing(database_url):
    database = Database(database_url)
    await upgrade(database, MIGRATIONS)
    store = row_insert(idempotency_keys)
    key = {"owner": "P-1", "key": "k-1", "request_hash": "h", "status_code": 201, "body": "{}", "created_at": AT}
    try:
        async with database.transaction() as connection:
            await store.run(connection, key)
        with pytest.raises(IntegrityError):
            async with database.transaction() as connection:
                await store.run(connection, {**key, "key": "k-2"})
                await store.run(connection, {**key, "body": '{"second": true}'})
        async with database.reading() as connection:
            kept = (await connection.execute(select(idempotency_keys.c.key, idempotency_keys.c.body))).all()
        assert [tuple(row) for row in kept] == [("k-1", "{}")]  # k-2 rolled back with the failed transaction
    finally:
        await database.dispose()
