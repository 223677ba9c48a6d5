"""The partner API over a real database: tokens and keys, pages, the PII view and
its audit, idempotent writes, returns, statements."""

from __future__ import annotations

import base64
import csv
import io
import json
from datetime import date

import jwt
import pytest
from agency_gateway.tables import idempotency_keys
from collections_core.contracts.collections.v1 import placements_pb2
from collections_core.contracts.corebanking.v1 import customers_pb2, payments_pb2
from collections_core.money import Money
from collections_core.storage import outbox
from collections_core.wire import date_to_proto
from gateway_testkit import staff
from prometheus_client import REGISTRY
from sqlalchemy import func, select

pytestmark = pytest.mark.integration


async def test_client_credentials_tokens_rotation_and_jwks(gateway):
    partner = await gateway.partner("AG-1", scopes=["placements:read", "activities:write"])
    form = {"grant_type": "client_credentials", "client_id": "AG-1", "client_secret": partner["client_secret"]}
    wrong = await gateway.client.post("/oauth/token", data={**form, "client_secret": "guess"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert wrong.headers["content-type"] == "application/problem+json"
    grant = await gateway.client.post("/oauth/token", data={**form, "grant_type": "password"})
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
    scope = await gateway.client.post("/oauth/token", data={**form, "scope": "calls:write"})
    assert scope.status_code == 400 and scope.json()["error"] == "invalid_scope"

    basic = base64.b64encode(f"AG-1:{partner['client_secret']}".encode()).decode()
    issued = await gateway.client.post("/oauth/token", data={"grant_type": "client_credentials",
                                                            "scope": "placements:read"},
                                       headers={"Authorization": f"Basic {basic}"})
    assert issued.status_code == 200
    body = issued.json()
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("Bearer", 300, "placements:read")
    old_token = body["access_token"]
    keys = (await gateway.client.get("/.well-known/jwks.json")).json()["keys"]
    claims = jwt.decode(old_token, jwt.PyJWK(keys[0]).key, algorithms=["ES256"], audience="agency-gateway-partner-api")
    assert claims["partner_id"] == "AG-1" and claims["exp"] - claims["iat"] == 300
    assert set(keys[0]) >= {"kty", "crv", "x", "y", "kid"} and "d" not in keys[0]

    rotated = await gateway.client.post("/v1/admin/signing-keys", headers=staff("operations"))
    new_kid = rotated.json()["kid"]
    kids = {k["kid"] for k in (await gateway.client.get("/.well-known/jwks.json")).json()["keys"]}
    assert kids == {keys[0]["kid"], new_kid}
    # A token signed before the rotation still works until it expires; new ones carry the new kid.
    assert (await gateway.client.get("/v1/placements", headers={"Authorization": f"Bearer {old_token}"})) \
        .status_code == 200
    fresh = await gateway.token(partner)
    assert jwt.get_unverified_header(fresh["Authorization"][7:])["kid"] == new_kid

    # A new client secret stops the old one; a suspended partner gets no token and its tokens stop working.
    secret = (await gateway.client.post("/v1/admin/partners/AG-1/client-secret", headers=staff("operations"))).json()
    assert (await gateway.client.post("/oauth/token", data=form)).status_code == 401
    assert (await gateway.client.post("/oauth/token", data={**form, "client_secret": secret["client_secret"]})) \
        .status_code == 200
    await gateway.client.patch("/v1/admin/partners/AG-1", json={"status": "suspended"}, headers=staff("operations"))
    assert (await gateway.client.get("/v1/placements", headers=fresh)).status_code == 401


async def test_pages_pii_view_and_audit(gateway):
    partner = await gateway.partner("AG-1")
    await gateway.handle(customers_pb2.CustomerUpserted(
        customer_id="C-1", name="Li Wei", phone="+8613800138000", email="li.wei@example.com",
        address=customers_pb2.PostalAddress(lines=["1 Nanjing Road"], city="Shanghai", country="CN"),
        time_zone="Asia/Shanghai"), key="C-1")
    for n in range(5):
        await gateway.place(f"PL-{n}", f"A-{n}", customer_id="C-1")
    headers = await gateway.token(partner)
    seen, cursor = [], None
    while True:
        page = (await gateway.client.get("/v1/placements", params={"limit": 2, **({"cursor": cursor} if cursor
                                                                                  else {})}, headers=headers)).json()
        seen += [p["placement_id"] for p in page["placements"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"PL-{n}" for n in range(5)]
    assert "customer" not in json.dumps(page) and "Li Wei" not in json.dumps(page)
    bad = await gateway.client.get("/v1/placements", params={"cursor": "%%%"}, headers=headers)
    assert bad.status_code == 400
    assert (await gateway.client.get("/v1/placements", params={"status": "lost"}, headers=headers)).status_code == 422

    await gateway.client.post("/v1/placements/PL-1/acknowledgement", headers={**headers, "Idempotency-Key": "a1"})
    filtered = (await gateway.client.get("/v1/placements", params={"status": "acknowledged"}, headers=headers)).json()
    assert [p["placement_id"] for p in filtered["placements"]] == ["PL-1"]

    detail = (await gateway.client.get("/v1/placements/PL-3", headers=headers)).json()
    assert detail["customer"] == {"name": "Li Wei", "phone": "+8613800138000", "address": {
        "lines": ["1 Nanjing Road"], "city": "Shanghai", "region": "", "postal_code": "", "country": "CN"}}
    assert detail["amount"] == {"amount_minor": 150_000, "currency": "CNY"} and detail["dpd"] == 97
    assert "example.com" not in json.dumps(detail) and "Asia/Shanghai" not in json.dumps(detail)
    await gateway.client.get("/v1/placements/PL-4", headers=headers)
    await gateway.client.get("/v1/placements/PL-NONE", headers=headers)  # nothing read, nothing audited

    assert (await gateway.client.get("/v1/audit/pii-reads", headers=staff("operations"))).status_code == 403
    audit = (await gateway.client.get("/v1/audit/pii-reads", params={"partner_id": "AG-1"},
                                      headers=staff("compliance"))).json()["reads"]
    assert [(r["placement_id"], r["client_id"], r["customer_id"], r["fields"]) for r in audit] == [
        ("PL-3", "AG-1", "C-1", ["name", "phone", "address"]), ("PL-4", "AG-1", "C-1", ["name", "phone", "address"])]
    one = (await gateway.client.get("/v1/audit/pii-reads", params={"placement_id": "PL-4", "limit": 1},
                                    headers=staff("compliance"))).json()
    assert [r["placement_id"] for r in one["reads"]] == ["PL-4"] and one["next_after_id"] is None


async def count_outbox(gateway) -> int:
    async with gateway.runtime.database.reading() as connection:
        return (await connection.execute(select(func.count()).select_from(outbox))).scalar_one()


async def test_writes_are_idempotent_and_a_return_ends_access(gateway):
    partner = await gateway.partner("AG-1")
    await gateway.place("PL-1")
    headers = await gateway.token(partner)
    activity = {"kind": "promise-to-pay", "occurred_at": "2026-11-02T10:00:00+08:00",
                "promised_amount": {"amount_minor": 50_000, "currency": "CNY"}, "promised_on": "2026-11-20"}
    before = await count_outbox(gateway)
    missing_key = await gateway.client.post("/v1/placements/PL-1/activities", json=activity, headers=headers)
    assert missing_key.status_code == 428
    first = await gateway.client.post("/v1/placements/PL-1/activities", json=activity,
                                      headers={**headers, "Idempotency-Key": "act-1"})
    again = await gateway.client.post("/v1/placements/PL-1/activities", json=activity,
                                      headers={**headers, "Idempotency-Key": "act-1"})
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await count_outbox(gateway) == before + 1
    other = await gateway.client.post("/v1/placements/PL-1/activities", json={**activity, "note": "changed"},
                                      headers={**headers, "Idempotency-Key": "act-1"})
    assert other.status_code == 422
    no_promise = await gateway.client.post("/v1/placements/PL-1/activities",
                                           json={"kind": "promise-to-pay", "occurred_at": "2026-11-02T10:00:00Z"},
                                           headers={**headers, "Idempotency-Key": "act-2"})
    naive = await gateway.client.post("/v1/placements/PL-1/activities",
                                      json={"kind": "note", "occurred_at": "2026-11-02T10:00:00"},
                                      headers={**headers, "Idempotency-Key": "act-3"})
    assert (no_promise.status_code, naive.status_code) == (422, 422)
    async with gateway.runtime.database.reading() as connection:
        rows = (await connection.execute(select(outbox.c.record_value).order_by(outbox.c.id))).scalars().all()
    reported = placements_pb2.PartnerActivityReported.FromString(rows[-1])
    assert (reported.kind, reported.promised_amount.amount_minor, reported.promised_on.day) == (
        placements_pb2.ACTIVITY_KIND_PROMISE_TO_PAY, 50_000, 20)

    await gateway.handle(payments_pb2.PaymentPosted(account_id="A-1", payment_id="PAY-1",
                                                    amount=Money(30_000, "CNY").to_proto(),
                                                    posted_on=date_to_proto(date(2026, 11, 5)),
                                                    value_date=date_to_proto(date(2026, 11, 5))), key="A-1")
    returned = await gateway.client.post("/v1/placements/PL-1/return", json={"reason": "customer unreachable"},
                                         headers={**headers, "Idempotency-Key": "ret-1"})
    assert returned.status_code == 200 and returned.json()["status"] == "returned"
    replay = await gateway.client.post("/v1/placements/PL-1/return", json={"reason": "customer unreachable"},
                                       headers={**headers, "Idempotency-Key": "ret-1"})
    assert replay.status_code == 200 and replay.json() == returned.json()
    async with gateway.runtime.database.reading() as connection:
        last = (await connection.execute(select(outbox.c.record_value).order_by(outbox.c.id.desc()).limit(1))).scalar_one()
        keys = (await connection.execute(select(func.count()).select_from(idempotency_keys))).scalar_one()
    assert placements_pb2.PlacementReturned.FromString(last).recovered_amount.amount_minor == 30_000
    assert keys == 2
    gone = await gateway.client.get("/v1/placements/PL-1", headers=headers)
    assert gone.status_code == 410 and gone.json()["reason"] == "customer unreachable"


async def test_a_suspended_partner_is_refused_at_once_even_a_replay(gateway):
    # Within the second the rate-limit lease is spent from memory: each route's own
    # statement is what sees the suspension (partner_auth.active_partner).
    partner = await gateway.partner("AG-1")
    await gateway.place("PL-1")
    headers = await gateway.token(partner)
    note = {"kind": "note", "occurred_at": "2026-11-02T10:00:00+08:00", "note": "left a message"}
    written = await gateway.client.post("/v1/placements/PL-1/activities", json=note,
                                        headers={**headers, "Idempotency-Key": "n-1"})
    assert written.status_code == 201
    await gateway.client.patch("/v1/admin/partners/AG-1", json={"status": "suspended"}, headers=staff("operations"))
    key = {"Idempotency-Key": "n-2"}
    refused = [
        await gateway.client.get("/v1/placements", headers=headers),
        await gateway.client.get("/v1/placements/PL-1", headers=headers),
        await gateway.client.get("/v1/placements/PL-NOPE", headers=headers),
        await gateway.client.get("/v1/webhook-deliveries", headers=headers),
        await gateway.client.post("/v1/placements/PL-1/activities", json=note,
                                  headers={**headers, "Idempotency-Key": "n-1"}),  # would be a replay
        await gateway.client.post("/v1/placements/PL-1/activities", json=note, headers={**headers, **key}),
        await gateway.client.post("/v1/placements/PL-NOPE/activities", json=note, headers={**headers, **key}),
        await gateway.client.post("/v1/placements/PL-1/acknowledgement", json={}, headers={**headers, **key}),
        await gateway.client.post("/v1/placements/PL-1/call-permits", json={"agent_id": "a-1"},
                                  headers={**headers, **key}),
    ]
    assert [r.status_code for r in refused] == [401] * len(refused), [r.text for r in refused]
    async with gateway.runtime.database.reading() as connection:
        assert (await connection.execute(select(func.count()).select_from(idempotency_keys))).scalar_one() == 1

    await gateway.client.patch("/v1/admin/partners/AG-1", json={"status": "active"}, headers=staff("operations"))
    again = await gateway.client.post("/v1/placements/PL-1/activities", json=note,
                                      headers={**headers, "Idempotency-Key": "n-1"})
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == written.json()


def recovered(name: str) -> float:
    return REGISTRY.get_sample_value(name, {"service": "agency-gateway", "partner": "AG-1", "currency": "CNY"}) or 0.0


async def test_commission_statement_json_and_csv(gateway):
    await gateway.partner("AG-1", commission_bps=1_250)
    await gateway.place("PL-1")
    recovered_before = recovered("gateway_recovered_minor_total")
    reversed_before = recovered("gateway_recovery_reversed_minor_total")
    for payment_id, amount, day in (("PAY-1", 10_001, 5), ("PAY-2", 20_003, 12), ("PAY-3", 7, 30)):
        await gateway.handle(payments_pb2.PaymentPosted(
            account_id="A-1", payment_id=payment_id, amount=Money(amount, "CNY").to_proto(),
            posted_on=date_to_proto(date(2026, 11, day)), value_date=date_to_proto(date(2026, 11, day))), key="A-1")
    await gateway.handle(payments_pb2.PaymentReversed(account_id="A-1", payment_id="PAY-3",
                                                      reversed_on=date_to_proto(date(2026, 12, 1))), key="A-1")
    await gateway.handle(payments_pb2.PaymentReversed(account_id="A-1", payment_id="PAY-3",
                                                      reversed_on=date_to_proto(date(2026, 12, 1))), key="A-1")
    # Recoveries in money, counted once per payment however often it is delivered.
    assert recovered("gateway_recovered_minor_total") == recovered_before + 10_001 + 20_003 + 7
    assert recovered("gateway_recovery_reversed_minor_total") == reversed_before + 7
    november = (await gateway.client.get("/v1/admin/partners/AG-1/commission-statements/2026-11",
                                         headers=staff("operations"))).json()
    [line] = november["lines"]
    # 30,011 × 12.5 % = 3,751.375 → 3,751 (one rounding on the line's net)
    assert (line["net"]["amount_minor"], line["commission"]["amount_minor"], line["payments"]) == (30_011, 3_751, 3)
    december = (await gateway.client.get("/v1/admin/partners/AG-1/commission-statements/2026-12",
                                         headers=staff("compliance"))).json()
    assert [(l["net"]["amount_minor"], l["commission"]["amount_minor"]) for l in december["lines"]] == [(-7, -1)]
    exported = await gateway.client.get("/v1/admin/partners/AG-1/commission-statements/2026-11",
                                        params={"format": "csv"}, headers=staff("operations"))
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["payment_id"] for r in rows if r["entry"] == "payment"] == ["PAY-1", "PAY-2", "PAY-3"]
    assert [(r["entry"], r["amount_minor"]) for r in rows if not r["payment_id"]] == [
        ("total", "30011"), ("commission", "3751")]
    bad_month = await gateway.client.get("/v1/admin/partners/AG-1/commission-statements/2026-13",
                                         headers=staff("operations"))
    assert bad_month.status_code == 422
