"""Authorisation matrix: every endpoint × no token, expired, bad signature, wrong
scope or role, another partner's placement, a recalled placement."""

from __future__ import annotations

import time

import jwt
import pytest
from collections_core.auth import mint_token
from collections_core.contracts.collections.v1 import placements_pb2
from gateway_testkit import STAFF_SECRET, staff
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

pytestmark = pytest.mark.integration

ACTIVITY = {"kind": "note", "occurred_at": "2026-11-02T09:00:00+08:00", "note": "left a message"}
# (method, path, body, scope); {id} is a placement.
PARTNER_ENDPOINTS = [
    ("GET", "/v1/placements", None, "placements:read"),
    ("GET", "/v1/placements/{id}", None, "placements:read"),
    ("POST", "/v1/placements/{id}/acknowledgement", {}, "placements:write"),
    ("POST", "/v1/placements/{id}/activities", ACTIVITY, "activities:write"),
    ("POST", "/v1/placements/{id}/return", {"reason": "uncollectable"}, "placements:write"),
    ("POST", "/v1/placements/{id}/call-permits", {"agent_id": "agent-7"}, "calls:write"),
    ("POST", "/v1/placements/{id}/call-outcomes", {"permit_id": "PM-1", "outcome": "no-answer"}, "calls:write"),
    ("GET", "/v1/webhook-deliveries", None, "placements:read"),
]
STAFF_ENDPOINTS = [
    ("GET", "/v1/admin/partners", None, ("operations", "compliance")),
    ("POST", "/v1/admin/partners", {"partner_id": "NEW", "name": "N", "kind": "legal", "regions": ["*"],
                                    "capacity": 1, "commission_bps": 100, "contract_id": "CT"}, ("operations",)),
    ("GET", "/v1/admin/partners/AG-1", None, ("operations", "compliance")),
    ("PATCH", "/v1/admin/partners/AG-1", {"capacity": 12}, ("operations",)),
    ("POST", "/v1/admin/partners/AG-1/client-secret", None, ("operations",)),
    ("POST", "/v1/admin/signing-keys", None, ("operations",)),
    ("POST", "/v1/admin/placements/PL-MINE/recall", {"reason": "operations"}, ("operations",)),
    ("GET", "/v1/admin/partners/AG-1/webhook-deliveries", None, ("operations", "compliance")),
    ("GET", "/v1/admin/partners/AG-1/commission-statements/2026-11", None, ("operations", "compliance")),
    ("GET", "/v1/audit/pii-reads", None, ("compliance",)),
]


def foreign_token(kid: str) -> str:
    """Right claims and kid, signed by a key that is not the gateway's."""
    stranger = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    now = int(time.time())
    return jwt.encode({"iss": "card-collections/agency-gateway", "aud": "agency-gateway-partner-api",
                       "sub": "AG-1", "partner_id": "AG-1", "scope": "placements:read", "iat": now, "exp": now + 60},
                      stranger, algorithm="ES256", headers={"kid": kid})


def expired_token(gateway) -> str:
    key = next(k for k in gateway.runtime.tokens._keys.values() if k.retired_at is None)
    past = int(time.time()) - 3_600
    return jwt.encode({"iss": "card-collections/agency-gateway", "aud": "agency-gateway-partner-api",
                       "sub": "AG-1", "partner_id": "AG-1", "scope": "placements:read placements:write "
                       "activities:write calls:write", "iat": past, "exp": past + 300},
                      key.private_pem, algorithm="ES256", headers={"kid": key.kid})


async def call(client, method, path, body, headers, key="k-1"):
    headers = {**headers, "Idempotency-Key": key} if method != "GET" else headers
    return await client.request(method, path, json=body, headers=headers)


async def test_partner_endpoints(gateway):
    mine, other = await gateway.partner("AG-1"), await gateway.partner("AG-2", regions=["Beijing"])
    await gateway.place("PL-MINE", "A-1")
    await gateway.place("PL-THEIRS", "A-2", region="Beijing")
    await gateway.place("PL-GONE", "A-3")
    await gateway.handle(placements_pb2.RecallRequested(placement_id="PL-GONE", account_id="A-3", reason="cured"),
                         key="A-3")
    kid = next(iter(gateway.runtime.tokens._keys))
    cases = {
        "no token": ({}, "PL-MINE"),
        "expired": ({"Authorization": f"Bearer {expired_token(gateway)}"}, "PL-MINE"),
        "bad signature": ({"Authorization": f"Bearer {foreign_token(kid)}"}, "PL-MINE"),
        "bank staff token": ({"Authorization": "Bearer " + mint_token(STAFF_SECRET, "x", ["operations"])},
                             "PL-MINE"),
    }
    for name, (headers, placement) in cases.items():
        for method, path, body, _scope in PARTNER_ENDPOINTS:
            response = await call(gateway.client, method, path.format(id=placement), body, headers)
            assert response.status_code == 401, (name, method, path, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["www-authenticate"].startswith("Bearer")
    for method, path, body, scope in PARTNER_ENDPOINTS:
        other_scopes = " ".join(s for s in ("placements:read", "placements:write", "activities:write", "calls:write")
                                if s != scope)
        headers = await gateway.token(mine, scope=other_scopes)
        response = await call(gateway.client, method, path.format(id="PL-MINE"), body, headers)
        assert response.status_code == 403, ("wrong scope", method, path, response.text)
        assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    mine_headers = await gateway.token(mine)
    for method, path, body, _scope in PARTNER_ENDPOINTS:
        if "{id}" not in path:
            continue
        theirs = await call(gateway.client, method, path.format(id="PL-THEIRS"), body, mine_headers)
        missing = await call(gateway.client, method, path.format(id="PL-NOPE"), body, mine_headers)
        gone = await call(gateway.client, method, path.format(id="PL-GONE"), body, mine_headers, key="k-gone")
        assert (theirs.status_code, missing.status_code, gone.status_code) == (404, 404, 410), (method, path)
        assert theirs.json()["detail"] == missing.json()["detail"]  # another's placement looks absent
    # The other partner still reaches its own placement.
    assert (await gateway.client.get("/v1/placements/PL-THEIRS", headers=await gateway.token(other))).status_code \
        == 200
    listed = (await gateway.client.get("/v1/placements", headers=mine_headers)).json()["placements"]
    assert {p["placement_id"] for p in listed} == {"PL-MINE", "PL-GONE"}


async def test_staff_endpoints(gateway):
    await gateway.partner("AG-1")
    await gateway.place("PL-MINE", "A-1")
    for method, path, body, roles in STAFF_ENDPOINTS:
        expired = mint_token(STAFF_SECRET, "x", roles, now=time.time() - 3_600, ttl_seconds=60)
        forged = mint_token("not-the-secret-but-just-as-long-32b", "x", roles)
        for name, headers in (("no token", {}), ("expired", {"Authorization": f"Bearer {expired}"}),
                              ("bad signature", {"Authorization": f"Bearer {forged}"})):
            response = await gateway.client.request(method, path, json=body, headers=headers)
            assert response.status_code == 401, (name, method, path)
        wrong = next(r for r in ("agent", "supervisor", "compliance", "operations") if r not in roles)
        response = await gateway.client.request(method, path, json=body, headers=staff(wrong))
        assert response.status_code == 403, ("wrong role", method, path)
        response = await gateway.client.request(method, path, json=body, headers=staff(roles[0]))
        assert response.status_code in (200, 201), (method, path, response.text)
