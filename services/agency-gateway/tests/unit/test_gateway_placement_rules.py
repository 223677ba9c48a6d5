"""Placement rules: eligibility, champion/challenger, expiry, recall."""

from datetime import date

import pytest
from agency_gateway.domain.placement import (
    Candidate,
    CaseToPlace,
    NothingToRecall,
    Placed,
    Recall,
    Unplaced,
    bucket_of,
    choose_partner,
    decide_recall,
    expires_on,
    has_expired,
    recall_reason_label,
)
from collections_core.money import Money
from hypothesis import given
from hypothesis import strategies as st


def case(placement_id="PL-1", kind="agency", region="Shanghai"):
    return CaseToPlace(placement_id, kind, region, Money(100_000, "CNY"))


def partner(partner_id, kind="agency", regions=("Shanghai",), capacity=10, open_=0, placed=0, recovered=0,
            active=True):
    return Candidate(partner_id, kind, frozenset(regions), capacity, open_, placed, recovered, active)


@pytest.mark.parametrize("name, candidate, eligible", [
    ("same kind and region, room left", partner("P"), True),
    ("a law firm is not an agency", partner("P", kind="legal"), False),
    ("another region", partner("P", regions=("Beijing",)), False),
    ("covers everywhere", partner("P", regions=("*",)), True),
    ("at capacity", partner("P", capacity=3, open_=3), False),
    ("suspended", partner("P", active=False), False),
])
def test_eligibility(name, candidate, eligible):
    decision = choose_partner(case(), [candidate], challenger_percent=0)
    assert isinstance(decision, Placed) is eligible, name


def test_no_eligible_partner_leaves_the_case_unplaced_with_a_reason():
    decision = choose_partner(case(), [partner("P", capacity=1, open_=1)], challenger_percent=0)
    assert isinstance(decision, Unplaced) and "capacity" in decision.reason


def test_champion_is_the_best_trailing_recovery_rate_then_partner_id():
    candidates = [partner("B", placed=1000, recovered=100), partner("A", placed=1000, recovered=300),
                  partner("C", placed=2000, recovered=600), partner("D")]
    decision = choose_partner(case(), candidates, challenger_percent=0)
    # A and C both recover 30 %; the tie goes to the lower partner id.
    assert decision == Placed("A", "champion", decision.rule) and "0.3000" in decision.rule


def test_challenger_share_goes_to_another_eligible_partner():
    candidates = [partner("A", placed=100, recovered=90), partner("B"), partner("C")]
    ids = [f"PL-{n}" for n in range(2000)]
    arms = [choose_partner(case(i), candidates, challenger_percent=20) for i in ids]
    challengers = [d for d in arms if d.arm == "challenger"]
    assert 300 < len(challengers) < 500  # ~20 % of 2000
    assert {d.partner_id for d in challengers} == {"B", "C"}
    assert all(d.partner_id == "A" for d in arms if d.arm == "champion")


def test_a_single_eligible_partner_is_always_champion():
    assert all(choose_partner(case(f"PL-{n}"), [partner("A")], 100).arm == "champion" for n in range(50))


@given(st.text(min_size=1, max_size=40), st.integers(0, 100))
def test_the_split_is_stable_for_a_placement_id(placement_id, percent):
    candidates = [partner("A", placed=10, recovered=5), partner("B"), partner("C", regions=("*",))]
    assert choose_partner(case(placement_id), candidates, percent) == choose_partner(case(placement_id),
                                                                                     list(reversed(candidates)),
                                                                                     percent)
    assert 0 <= bucket_of(placement_id) < 100


@given(st.lists(st.tuples(st.sampled_from(["agency", "legal"]), st.integers(0, 5), st.integers(0, 5),
                          st.booleans()), max_size=8), st.integers(0, 100))
def test_never_placed_with_an_ineligible_partner(specs, percent):
    candidates = [partner(f"P{n}", kind=k, capacity=cap, open_=used, active=active)
                  for n, (k, cap, used, active) in enumerate(specs)]
    decision = choose_partner(case(), candidates, percent)
    if isinstance(decision, Placed):
        chosen = next(c for c in candidates if c.partner_id == decision.partner_id)
        assert chosen.active and chosen.kind == "agency" and chosen.open_placements < chosen.capacity
    else:
        assert not any(c.active and c.kind == "agency" and c.open_placements < c.capacity for c in candidates)


@pytest.mark.parametrize("name, placed, term, requested, expected", [
    ("default term", date(2026, 11, 2), 90, None, date(2027, 1, 31)),
    ("router asks for a shorter one", date(2026, 11, 2), 90, date(2026, 12, 1), date(2026, 12, 1)),
    ("never longer than the term", date(2026, 11, 2), 30, date(2027, 6, 1), date(2026, 12, 2)),
])
def test_expiry_date(name, placed, term, requested, expected):
    assert expires_on(placed, term, requested) == expected, name


def test_a_placement_is_worked_through_its_last_day():
    assert not has_expired(date(2027, 1, 31), date(2027, 1, 31))
    assert has_expired(date(2027, 1, 31), date(2027, 2, 1))


@pytest.mark.parametrize("status, decision", [
    ("placed", Recall("cured")), ("acknowledged", Recall("cured")),
    ("recalled", NothingToRecall("recalled")), ("returned", NothingToRecall("returned")),
    ("unplaced", NothingToRecall("unplaced")),
])
def test_recall_only_takes_back_an_open_placement(status, decision):
    assert decide_recall(status, "cured") == decision


def test_recall_reasons_outside_the_known_set_are_labelled_other():
    assert recall_reason_label("dispute") == "dispute" and recall_reason_label("whim") == "other"
