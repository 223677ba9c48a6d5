"""Invariants of the day's decision, over generated cases and strategies' inputs."""

from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from case_router.domain.holds import FLAGS, HOLD_KINDS
from case_router.domain.ladder import CaseFacts, apply, decide_day
from case_router.domain.strategy import BUCKETS, ESCALATING, ONCE_PER_CASE, Stage
from router_facts import DAY, DEFAULT

case_facts = st.builds(
    CaseFacts,
    account_id=st.text("ABC0123456789-", min_size=1, max_size=12),
    business_date=st.dates(DAY - timedelta(days=400), DAY + timedelta(days=400)),
    dpd=st.integers(0, 400),
    bucket=st.sampled_from(BUCKETS),
    past_due_minor=st.integers(0, 10_000_000),
    balance_minor=st.integers(0, 50_000_000),
    stage=st.sampled_from(list(Stage)),
    variant=st.sampled_from(["champion", "challenger"]),
    holds=st.frozensets(st.sampled_from(HOLD_KINDS), max_size=2),
    flags=st.frozensets(st.sampled_from(FLAGS), max_size=2),
    promises_broken=st.integers(0, 3),
    returned_by_agency=st.booleans(),
    pre_notice_delivered_on=st.none() | st.dates(DAY - timedelta(days=400), DAY + timedelta(days=400)),
)


@given(case_facts)
def test_no_escalation_while_a_hold_is_active(facts):
    held = replace(facts, holds=facts.holds | {"dispute"})
    decision = decide_day(held, DEFAULT)
    assert decision.stage == held.stage and decision.moved_from is None
    assert not [a for a in decision.acts if a.action.kind in ESCALATING]
    assert decision.acts == ()


@given(case_facts)
def test_every_decision_names_a_rule_and_every_action_its_rule(facts):
    decision = decide_day(facts, DEFAULT)
    assert decision.rule
    assert all(act.rule == decision.rule for act in decision.acts + decision.waiting)


@given(case_facts)
def test_the_same_day_twice_does_nothing_the_second_time(facts):
    first = decide_day(facts, DEFAULT)
    again = decide_day(apply(facts, first), DEFAULT)
    assert not again.changes_anything
    assert again.stage == first.stage


@given(case_facts)
def test_the_stage_never_moves_down_on_its_own(facts):
    assert decide_day(facts, DEFAULT).stage >= facts.stage


@given(case_facts, st.integers(1, 60))
@settings(max_examples=50)
def test_a_walk_of_days_never_repeats_a_once_per_case_action(facts, days):
    facts = replace(facts, holds=frozenset(), done={})
    start, first_dpd = facts.business_date, facts.dpd
    seen = []
    for n in range(days):
        facts = replace(facts, business_date=start + timedelta(days=n), dpd=first_dpd + n)
        decision = decide_day(facts, DEFAULT)
        seen += [a.key for a in decision.acts if a.action.kind in ONCE_PER_CASE]
        facts = apply(facts, decision)
    assert len(seen) == len(set(seen))
