"""The partners the simulation plays: three agencies and a law firm, seeded into the gateway."""

from __future__ import annotations

import httpx
import yaml

from agency_gateway.partners import PartnerTerms
from card_simulator.agencies import PARTNER_REQUESTS_PER_SECOND, PARTNERS, Agencies, write_seed


def test_the_seed_file_registers_three_agencies_and_a_law_firm_the_gateway_accepts(tmp_path):
    entries = yaml.safe_load(write_seed(tmp_path / "partners.yaml").read_text())["partners"]
    terms = [PartnerTerms(**{**e, "regions": tuple(e["regions"])}) for e in entries]
    assert sorted(t.kind for t in terms) == ["agency", "agency", "agency", "legal"]
    assert {e["partner_id"]: e["client_secret"] for e in entries} == {p.partner_id: p.client_secret for p in PARTNERS}
    assert {t.rate_limit_per_second for t in terms} == {PARTNER_REQUESTS_PER_SECOND}


def test_the_partners_perform_differently():
    agencies = [p for p in PARTNERS if p.kind == "agency"]
    assert len({(p.ack_percent, p.reach_percent, p.promise_percent, p.keeps_days) for p in agencies}) == 3


async def test_a_partner_waits_out_the_gateways_rate_limit_and_tries_again():
    answers = [httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(429, headers={"Retry-After": "0"}),
               httpx.Response(201, json={"decision": "allow"})]
    seen = []

    def gateway(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, request.headers["Idempotency-Key"]))
        return answers[len(seen) - 1]

    async with httpx.AsyncClient(transport=httpx.MockTransport(gateway), base_url="http://gateway") as client:
        agencies = Agencies(client, "http://gateway", bank=None, accounts={}, seed=7)
        answer = await agencies._write("http://gateway/v1/placements/P-1/call-permits", {}, "call-P-1", {})
    assert answer.status_code == 201
    assert seen == [("POST", "/v1/placements/P-1/call-permits", "call-P-1")] * 3, "the same request, same key"
