"""The gateway's event handlers against a real SQLite database with its migrations."""

from datetime import UTC, date, datetime
from pathlib import Path

import agency_gateway
import pytest
from agency_gateway.cipher import Keyring
from agency_gateway.handlers import Gateway
from agency_gateway.partners import PartnerTerms, load_seed, register, secret_matches
from agency_gateway.settings import GatewaySettings
from agency_gateway.tables import customers, partners, payment_attributions, placements, webhook_deliveries
from collections_core.clock import ControlledClock
from collections_core.codec import EventCodec, Rejected, TypeRegistry
from collections_core.contracts.collections.v1 import placements_pb2
from collections_core.contracts.corebanking.v1 import customers_pb2, payments_pb2
from collections_core.money import Money
from collections_core.unit_of_work import UnitOfWork
from collections_core.wire import date_to_proto
from sqlalchemy import select

MIGRATIONS = Path(agency_gateway.__file__).parent / "migrations"
KEYRING = Keyring(None)
GATEWAY = Gateway(GatewaySettings(challenger_percent=0), KEYRING)
HANDLERS = GATEWAY.handlers()


def requested(placement_id="PL-1", account="A-1", kind=placements_pb2.PLACEMENT_KIND_AGENCY, region="Shanghai",
              amount=100_000):
    return placements_pb2.PlacementRequested(
        placement_id=placement_id, case_id="K-1", account_id=account, customer_id="C-1", kind=kind,
        amount=Money(amount, "CNY").to_proto(), dpd=95, region=region)


async def database_with(migrated_database, *partners_):
    database = await migrated_database(MIGRATIONS)
    async with database.transaction() as connection:
        for terms in partners_:
            await register(connection, KEYRING, terms, datetime(2026, 11, 1, tzinfo=UTC))
    return database


def agency(partner_id, capacity=10, regions=("Shanghai",), webhook=True):
    return PartnerTerms(partner_id, f"{partner_id} Ltd", "agency", regions, capacity, 1_500, f"CT-{partner_id}",
                        webhook_url="http://127.0.0.1:9/hook" if webhook else None)


async def rows(database, table):
    async with database.reading() as connection:
        return (await connection.execute(select(table))).all()


async def test_a_placement_goes_to_an_eligible_partner_once(migrated_database, handle):
    database = await database_with(migrated_database, agency("AG-1"), agency("AG-2", regions=("Beijing",)))
    emitted = await handle(database, HANDLERS, requested(), key="A-1")
    again = await handle(database, HANDLERS, requested(), key="A-1", event_id="redelivered")
    [placed] = await rows(database, placements)
    assert (placed.partner_id, placed.status, placed.arm, placed.commission_bps, placed.expires_on) == (
        "AG-1", "placed", "champion", 1_500, date(2027, 1, 31))
    assert [r.topic for r in emitted] == ["collections.agency-events.v1"] and again == []
    [webhook] = await rows(database, webhook_deliveries)
    assert webhook.event_type == "placement.created" and webhook.partner_id == "AG-1"
    assert "Li Wei" not in webhook.body and '"placement_id":"PL-1"' in webhook.body


async def test_a_partner_at_capacity_is_skipped_and_with_none_left_the_case_comes_back(migrated_database, handle):
    database = await database_with(migrated_database, agency("AG-1", capacity=1), agency("AG-2", capacity=1))
    await handle(database, HANDLERS, requested("PL-1", "A-1"), key="A-1")
    await handle(database, HANDLERS, requested("PL-2", "A-2"), key="A-2")
    emitted = await handle(database, HANDLERS, requested("PL-3", "A-3"), key="A-3")
    by_id = {r.placement_id: r for r in await rows(database, placements)}
    assert {by_id["PL-1"].partner_id, by_id["PL-2"].partner_id} == {"AG-1", "AG-2"}
    assert by_id["PL-3"].status == "unplaced" and "capacity" in by_id["PL-3"].rule
    decoded = placements_pb2.PlacementReturned.FromString(emitted[0].value)
    assert decoded.reason == "no-eligible-partner" and decoded.placement_id == "PL-3"


async def test_an_account_has_at_most_one_open_placement(migrated_database, handle):
    database = await database_with(migrated_database, agency("AG-1"), agency("AG-2"))
    await handle(database, HANDLERS, requested("PL-1", "A-1"), key="A-1")
    [second] = await handle(database, HANDLERS, requested("PL-2", "A-1"), key="A-1")
    returned = placements_pb2.PlacementReturned.FromString(second.value)
    assert (returned.placement_id, returned.reason) == ("PL-2", "account-already-placed")
    await handle(database, HANDLERS, placements_pb2.RecallRequested(placement_id="PL-1", account_id="A-1",
                                                                    reason="operations"), key="A-1")
    await handle(database, HANDLERS, requested("PL-3", "A-1"), key="A-1")
    by_id = {r.placement_id: r.status for r in await rows(database, placements)}
    assert by_id == {"PL-1": "recalled", "PL-2": "unplaced", "PL-3": "placed"}


async def test_recall_ends_an_open_placement_once(migrated_database, handle):
    database = await database_with(migrated_database, agency("AG-1"))
    await handle(database, HANDLERS, requested(), key="A-1")
    recall = placements_pb2.RecallRequested(placement_id="PL-1", account_id="A-1", reason="cured")
    first = await handle(database, HANDLERS, recall, key="A-1")
    second = await handle(database, HANDLERS, recall, key="A-1", event_id="another-recall")
    [placement] = await rows(database, placements)
    assert (placement.status, placement.end_reason) == ("recalled", "cured")
    assert len(first) == 1 and second == []
    assert [w.event_type for w in await rows(database, webhook_deliveries)] == [
        "placement.created", "placement.recalled"]


async def test_a_recall_of_an_unknown_placement_is_rejected(migrated_database, handle):
    database = await database_with(migrated_database)
    with pytest.raises(Rejected):
        await handle(database, HANDLERS, placements_pb2.RecallRequested(placement_id="PL-X", account_id="A",
                                                                        reason="cured"), key="A")


async def test_customer_pii_is_sealed_at_rest(migrated_database, handle):
    database = await database_with(migrated_database)
    customer = customers_pb2.CustomerUpserted(customer_id="C-1", name="Li Wei", phone="+8613800138000",
                                              email="li@example.com",
                                              address=customers_pb2.PostalAddress(lines=["1 Nanjing Road"],
                                                                                  city="Shanghai", country="CN"))
    await handle(database, HANDLERS, customer, key="C-1")
    customer.phone = "+8613900139000"
    await handle(database, HANDLERS, customer, key="C-1")
    [row] = await rows(database, customers)
    assert "Li Wei" not in row.name and "139" not in row.phone and row.name.startswith("dev:")
    async with database.reading() as connection:
        record = await GATEWAY.customer(connection, "C-1")
    assert (record.name, record.phone, record.address.lines) == ("Li Wei", "+8613900139000", ("1 Nanjing Road",))


def posted(payment_id, amount, account="A-1"):
    return payments_pb2.PaymentPosted(account_id=account, payment_id=payment_id,
                                      amount=Money(amount, "CNY").to_proto(),
                                      posted_on=date_to_proto(date(2026, 11, 2)),
                                      value_date=date_to_proto(date(2026, 11, 2)))


async def test_payments_during_a_placement_are_attributed_and_reversals_clawed_back(migrated_database, handle):
    database = await database_with(migrated_database, agency("AG-1"))
    await handle(database, HANDLERS, posted("PAY-0", 500), key="A-1")  # before the placement: nobody's
    await handle(database, HANDLERS, requested(), key="A-1")
    await handle(database, HANDLERS, posted("PAY-1", 20_000), key="A-1")
    await handle(database, HANDLERS, posted("PAY-1", 20_000), key="A-1", event_id="replayed-with-new-id")
    reversal = payments_pb2.PaymentReversed(account_id="A-1", payment_id="PAY-1",
                                            reversed_on=date_to_proto(date(2026, 11, 3)), reason="returned")
    await handle(database, HANDLERS, reversal, key="A-1")
    await handle(database, HANDLERS, reversal, key="A-1", event_id="reversal-again")
    attributed = await rows(database, payment_attributions)
    assert [(a.payment_id, a.entry, a.partner_id, a.amount_minor, a.booked_on) for a in attributed] == [
        ("PAY-1", "payment", "AG-1", 20_000, date(2026, 11, 2)),
        ("PAY-1", "reversal", "AG-1", -20_000, date(2026, 11, 3))]
    assert [w.event_type for w in await rows(database, webhook_deliveries)] == [
        "placement.created", "payment.posted"]


async def test_expired_placements_are_recalled(migrated_database, handle):
    database = await database_with(migrated_database, agency("AG-1"))
    message = requested()
    message.expires_on.CopyFrom(date_to_proto(date(2026, 11, 20)))
    await handle(database, HANDLERS, message, key="A-1")
    codec = EventCodec(TypeRegistry.of_contracts(), "/test")
    for day, expected in ((20, 0), (21, 1), (22, 0)):
        async with database.transaction() as connection:
            work = UnitOfWork(connection, codec, ControlledClock(datetime(2026, 11, day, 3, tzinfo=UTC)))
            assert await GATEWAY.recall_expired(work) == expected
            await work.flush()
    [placement] = await rows(database, placements)
    assert (placement.status, placement.end_reason) == ("recalled", "expired")


async def test_seed_partners_are_registered_once_and_can_sign_in(migrated_database):
    database = await migrated_database(MIGRATIONS)
    seed = Path(agency_gateway.__file__).parents[2] / "partners.example.yaml"
    now = datetime(2026, 11, 1, tzinfo=UTC)
    async with database.transaction() as connection:
        assert await load_seed(connection, KEYRING, seed, now) == 3
        assert await load_seed(connection, KEYRING, seed, now) == 0
    by_id = {r.partner_id: r for r in await rows(database, partners)}
    assert sorted(by_id) == ["huadong-collections", "national-recovery", "zhonglun-law"]
    huadong = by_id["huadong-collections"]
    assert secret_matches("dev-huadong-client-secret", huadong.client_secret_hash)
    assert "dev-huadong" not in huadong.client_secret_hash and "dev-huadong" not in huadong.webhook_secret
    assert KEYRING.open(huadong.webhook_secret, "huadong-collections") == "dev-huadong-webhook-secret"
    assert by_id["zhonglun-law"].kind == "legal" and by_id["national-recovery"].regions == "*"
