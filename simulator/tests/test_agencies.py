"""The partners the simulation plays: three agencies and a law firm, seeded into the gateway."""

from __future__ import annotations

import yaml

from agency_gateway.partners import PartnerTerms
from card_simulator.agencies import PARTNERS, write_seed


def test_the_seed_file_registers_three_agencies_and_a_law_firm_the_gateway_accepts(tmp_path):
    entries = yaml.safe_load(write_seed(tmp_path / "partners.yaml").read_text())["partners"]
    terms = [PartnerTerms(**{**e, "regions": tuple(e["regions"])}) for e in entries]
    assert sorted(t.kind for t in terms) == ["agency", "agency", "agency", "legal"]
    assert {e["partner_id"]: e["client_secret"] for e in entries} == {p.partner_id: p.client_secret for p in PARTNERS}


def test_the_partners_perform_differently():
    agencies = [p for p in PARTNERS if p.kind == "agency"]
    assert len({(p.ack_percent, p.reach_percent, p.promise_percent, p.keeps_days) for p in agencies}) == 3
