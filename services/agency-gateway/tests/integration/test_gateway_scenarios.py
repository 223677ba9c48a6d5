"""Scenarios through the real broker and database (SQLite and PostgreSQL), read
back only through the gateway's public outputs: its events, its APIs."""

from __future__ import annotations

import asyncio
import time
from datetime import date, timedelta

import pytest
from collections_core.contracts.collections.v1 import placements_pb2
from collections_core.contracts.corebanking.v1 import customers_pb2, payments_pb2
from collections_core.money import Money
from collections_core.wire import date_to_proto
from gateway_testkit import staff

pytestmark = pytest.mark.integration


def requested(placement_id, account, customer, expires_on=None):
    message = placements_pb2.PlacementRequested(
        placement_id=placement_id, case_id=f"K-{placement_id}", account_id=account, customer_id=customer,
        kind=placements_pb2.PLACEMENT_KIND_AGENCY, amount=Money(240_000, "CNY").to_proto(), dpd=93,
        region="Shanghai")
    if expires_on is not None:
        message.expires_on.CopyFrom(date_to_proto(expires_on))
    return message


async def test_placement_to_recall(live_gateway):
    gw = live_gateway
    partner = await gw.partner(gw.id("AG"))
    account, customer, placement = gw.id("A"), gw.id("C"), gw.id("PL")
    await gw.send("corebanking.customers.v1", customers_pb2.CustomerUpserted(
        customer_id=customer, name="Wang Fang", phone="+8613700137000", email="wf@example.com",
        address=customers_pb2.PostalAddress(lines=["88 Century Avenue"], city="Shanghai", country="CN")), customer)
    await gw.settle()
    await gw.send("collections.placements.v1", requested(placement, account, customer), account)
    [(kind, accepted)] = await gw.events(account, 1)
    assert kind == "PlacementAccepted" and accepted.partner_id == partner["partner_id"]

    headers = await gw.token(partner)
    view = (await gw.client.get(f"/v1/placements/{placement}", headers=headers)).json()
    assert view["customer"]["name"] == "Wang Fang" and view["status"] == "placed"
    reported = await gw.client.post(f"/v1/placements/{placement}/activities", headers={
        **headers, "Idempotency-Key": "visit-1"}, json={"kind": "field-visit",
                                                        "occurred_at": "2026-11-03T15:00:00+08:00"})
    assert reported.status_code == 201

    await gw.send("corebanking.payments.v1", payments_pb2.PaymentPosted(
        account_id=account, payment_id=gw.id("PAY"), amount=Money(240_000, "CNY").to_proto(),
        posted_on=date_to_proto(date(2026, 11, 4)), value_date=date_to_proto(date(2026, 11, 4))), account)
    await gw.settle()
    statement = (await gw.client.get(f"/v1/admin/partners/{partner['partner_id']}/commission-statements/2026-11",
                                     headers=staff("operations"))).json()
    assert [(l["net"]["amount_minor"], l["commission"]["amount_minor"]) for l in statement["lines"]] == [
        (240_000, 36_000)]

    await gw.send("collections.placements.v1", placements_pb2.RecallRequested(
        placement_id=placement, account_id=account, reason="cured"), account)
    events = await gw.events(account, 3)
    assert [k for k, _ in events] == ["PlacementAccepted", "PartnerActivityReported", "PlacementRecalled"]
    assert events[1][1].kind == placements_pb2.ACTIVITY_KIND_FIELD_VISIT and events[2][1].reason == "cured"
    gone = await gw.client.get(f"/v1/placements/{placement}", headers=headers)
    assert gone.status_code == 410
    audit = (await gw.client.get("/v1/audit/pii-reads", params={"placement_id": placement},
                                 headers=staff("compliance"))).json()["reads"]
    assert [(r["partner_id"], r["fields"]) for r in audit] == [(partner["partner_id"], ["name", "phone", "address"])]


async def test_capacity_and_expiry(live_gateway):
    gw = live_gateway
    small = await gw.partner(gw.id("AG-A"), capacity=1)
    large = await gw.partner(gw.id("AG-B"), capacity=5)
    first, second = gw.id("A1"), gw.id("A2")
    today = gw.clock.now().date()
    await gw.send("collections.placements.v1", requested(gw.id("PL1"), first, gw.id("C1"),
                                                         expires_on=today + timedelta(days=1)), first)
    [(_, accepted_first)] = await gw.events(first, 1)
    await gw.send("collections.placements.v1", requested(gw.id("PL2"), second, gw.id("C2")), second)
    [(_, accepted_second)] = await gw.events(second, 1)
    # Both partners recover nothing yet; the tie goes to AG-A, which is then full.
    assert (accepted_first.partner_id, accepted_second.partner_id) == (small["partner_id"], large["partner_id"])

    gw.clock.advance(timedelta(days=1))
    await asyncio.sleep(1.0)  # several expiry checks pass on the last day of the term: nothing is recalled
    gw.clock.advance(timedelta(days=1))
    deadline = time.monotonic() + 60
    events = []
    while time.monotonic() < deadline and len(events) < 2:
        events = await gw.events(first, 2, timeout=2)
    assert [k for k, _ in events] == ["PlacementAccepted", "PlacementRecalled"]
    assert events[1][1].reason == "expired"
    assert [k for k, _ in await gw.events(second, 1)] == ["PlacementAccepted"]
