"""decide_day on the default ladder: one row per rule of the bank's process."""

from dataclasses import replace
from datetime import timedelta

import pytest

from case_router.domain.ladder import NO_RULE_MATCHED, apply, decide_day, request_id
from case_router.domain.strategy import Stage
from router_facts import DAY, DEFAULT, facts


def kinds(decision) -> list[str]:
    return [a.action.kind for a in decision.acts]


@pytest.mark.parametrize(("name", "case", "rule", "stage", "actions"), [
    ("day one: SMS and email reminder", facts(1), "reminder.1-7", Stage.REMINDER, ["contact", "contact"]),
    ("DPD 8: early calls and SMS", facts(8), "early.8-30", Stage.EARLY, ["call-task", "contact"]),
    ("challenger calls from DPD 5", facts(5, variant="challenger"), "early.challenger", Stage.EARLY,
     ["call-task", "contact"]),
    ("DPD 31: collection letter and calls", facts(31, stage=Stage.EARLY), "letter.31-90", Stage.LETTER,
     ["contact", "call-task"]),
    ("DPD 61 with a large balance: field visit and credit pre-notice", facts(61, stage=Stage.LETTER),
     "field.61-90", Stage.FIELD, ["field-visit", "credit-pre-notice"]),
    ("DPD 61 with a small balance stays at letter", facts(61, stage=Stage.LETTER, balance_minor=100_000),
     "letter.31-90", Stage.LETTER, ["contact", "call-task"]),
    ("DPD 91: agency placement, report waits for a notice", facts(91, stage=Stage.FIELD, done={"credit-pre-notice": DAY}),
     "agency.91-180", Stage.AGENCY, ["agency-placement"]),
    ("DPD 181: law firm", facts(181, stage=Stage.AGENCY), "legal.over-180", Stage.LEGAL, ["legal-referral"]),
    ("returned by the agency with a large debt: law firm", facts(120, stage=Stage.AGENCY, returned_by_agency=True,
     past_due_minor=2_000_000, done={"agency-placement": DAY}), "legal.agency-returned", Stage.LEGAL, ["legal-referral"]),
    ("no regression: DPD 3 on an agency case keeps the stage", facts(3, stage=Stage.AGENCY), NO_RULE_MATCHED,
     Stage.AGENCY, []),
    ("promise hold: nothing happens", facts(40, stage=Stage.EARLY, holds=frozenset({"promise"})), "hold.promise",
     Stage.EARLY, []),
    ("dispute hold wins over the ladder", facts(200, stage=Stage.LETTER, holds=frozenset({"dispute"})), "hold.dispute",
     Stage.LETTER, []),
    ("deceased: no escalation", facts(100, stage=Stage.LETTER, flags=frozenset({"deceased"})), "flag.deceased",
     Stage.LETTER, []),
    ("cease-contact: stage moves, no contact", facts(31, stage=Stage.EARLY, flags=frozenset({"cease-contact"})),
     "letter.31-90", Stage.LETTER, []),
    ("cease-contact keeps the legal route", facts(181, stage=Stage.AGENCY, flags=frozenset({"cease-contact"})),
     "legal.over-180", Stage.LEGAL, ["legal-referral"]),
])
def test_default_ladder(name, case, rule, stage, actions):
    decision = decide_day(case, DEFAULT)
    assert (decision.rule, decision.stage, kinds(decision)) == (rule, stage, actions), name


def test_a_vulnerable_customers_calls_go_to_the_specialist_queue():
    decision = decide_day(facts(8, flags=frozenset({"vulnerable"})), DEFAULT)
    assert decision.acts[0].action.queue == "specialist"


def test_a_stage_move_names_where_it_came_from():
    assert decide_day(facts(8), DEFAULT).moved_from == Stage.REMINDER
    assert decide_day(facts(9, stage=Stage.EARLY), DEFAULT).moved_from is None


def test_repeating_actions_come_back_after_their_interval_and_once_only_actions_never():
    first = decide_day(facts(8), DEFAULT)
    after = apply(facts(8), first)
    assert decide_day(replace(after, business_date=DAY + timedelta(days=4), dpd=12), DEFAULT).acts == ()
    fifth = decide_day(replace(after, business_date=DAY + timedelta(days=5), dpd=13), DEFAULT)
    assert kinds(fifth) == ["call-task"], "calls every 5 days, SMS every 7"


@pytest.mark.parametrize(("delivered_days_ago", "reported"), [(None, False), (13, False), (14, True), (30, True)])
def test_credit_report_only_after_a_delivered_pre_notice_and_its_waiting_period(delivered_days_ago, reported):
    delivered = None if delivered_days_ago is None else DAY - timedelta(days=delivered_days_ago)
    decision = decide_day(facts(100, stage=Stage.AGENCY, pre_notice_delivered_on=delivered,
                                done={"agency-placement": DAY, "credit-pre-notice": DAY}), DEFAULT)
    assert ("credit-report" in kinds(decision)) is reported
    assert ("credit-report" in [w.action.kind for w in decision.waiting]) is not reported


def test_request_ids_are_deterministic_per_case_day_rule_and_action():
    assert request_id("K1", DAY, "r", "r#0") == request_id("K1", DAY, "r", "r#0")
    assert len({request_id("K1", DAY, "r", "r#0"), request_id("K1", DAY, "r", "r#1"),
                request_id("K2", DAY, "r", "r#0"), request_id("K1", DAY + timedelta(days=1), "r", "r#0")}) == 4
