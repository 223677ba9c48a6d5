"""The skeleton gateway's placement handler and listing against a real SQLite database."""

from pathlib import Path

import agency_gateway
import pytest
from agency_gateway.handlers import HANDLERS
from agency_gateway.tables import placements
from collections_core.codec import Rejected
from collections_core.contracts.collections.v1 import placements_pb2
from collections_core.money import Money
from sqlalchemy import select

MIGRATIONS = Path(agency_gateway.__file__).parent / "migrations"


def requested(placement_id: str = "PL-1", kind=placements_pb2.PLACEMENT_KIND_AGENCY):
    return placements_pb2.PlacementRequested(placement_id=placement_id, case_id="K-1", account_id="A-1",
                                             kind=kind, amount=Money(123_400, "CNY").to_proto(), dpd=95)


async def test_a_placement_is_recorded_once(migrated_database, handle):
    database = await migrated_database(MIGRATIONS)
    await handle(database, HANDLERS, requested(), key="A-1")
    await handle(database, HANDLERS, requested(), key="A-1", event_id="redelivered")
    async with database.engine.connect() as connection:
        rows = (await connection.execute(select(placements))).all()
    assert [(r.placement_id, r.kind, r.amount_minor, r.currency, r.status) for r in rows] == [
        ("PL-1", "agency", 123_400, "CNY", "requested")]


async def test_a_placement_without_a_kind_is_rejected(migrated_database, handle):
    database = await migrated_database(MIGRATIONS)
    with pytest.raises(Rejected):
        await handle(database, HANDLERS, requested(kind=placements_pb2.PLACEMENT_KIND_UNSPECIFIED), key="A-1")
