"""Promises, plans and holds: table tests of the humane rules."""

from dataclasses import replace
from datetime import date, timedelta

import pytest

from case_router.domain.holds import Hold, active_holds, reminder_allowed
from case_router.domain.plans import Instalment, InvalidPlan, RepaymentPlan, judge_plan, split_into_instalments
from case_router.domain.promises import InvalidPromise, PromiseToPay, judge_promise, validate_promise

TAKEN, DUE = date(2026, 11, 2), date(2026, 11, 10)


@pytest.mark.parametrize(("paid", "today", "status"), [
    (0, DUE, "active"),
    (0, DUE + timedelta(days=3), "active"),       # tolerance of 3 days
    (0, DUE + timedelta(days=4), "broken"),
    (49_999, DUE + timedelta(days=4), "broken"),  # short by one fen is broken
    (50_000, TAKEN, "kept"),                      # kept as soon as the money is there
    (60_000, DUE + timedelta(days=40), "kept"),
])
def test_promise_is_kept_or_broken(paid, today, status):
    promise = PromiseToPay(50_000, DUE, TAKEN, paid)
    assert judge_promise(promise, today, tolerance_days=3) == status


def test_promises_must_make_sense():
    with pytest.raises(InvalidPromise):
        PromiseToPay(0, DUE, TAKEN)
    with pytest.raises(InvalidPromise):
        PromiseToPay(100, TAKEN - timedelta(days=1), TAKEN)
    with pytest.raises(InvalidPromise):
        validate_promise(PromiseToPay(100, TAKEN + timedelta(days=31), TAKEN), max_days=30)


PLAN = RepaymentPlan("instalments", (Instalment(date(2026, 12, 1), 30_000), Instalment(date(2026, 12, 31), 30_000)))


@pytest.mark.parametrize(("paid", "today", "status"), [
    (0, date(2026, 12, 6), "active"),        # first instalment within its 5 grace days
    (0, date(2026, 12, 7), "broken"),
    (30_000, date(2027, 1, 5), "active"),
    (30_000, date(2027, 1, 6), "broken"),
    (60_000, date(2026, 12, 2), "completed"),
])
def test_plan_is_tracked_against_payments(paid, today, status):
    assert judge_plan(replace(PLAN, paid_minor=paid), today, grace_days=5) == status


def test_instalments_add_up_to_the_total_to_the_fen():
    instalments = split_into_instalments(100_001, 3, date(2026, 12, 1))
    assert sum(i.amount_minor for i in instalments) == 100_001
    assert [i.due_on for i in instalments] == [date(2026, 12, 1), date(2026, 12, 31), date(2027, 1, 30)]
    with pytest.raises(InvalidPlan):
        split_into_instalments(2, 3, date(2026, 12, 1))


def test_holds_are_active_from_start_to_their_last_day():
    holds = [Hold("promise", TAKEN, DUE), Hold("dispute", TAKEN)]
    assert active_holds(holds, DUE) == {"promise", "dispute"}
    assert active_holds(holds, DUE + timedelta(days=1)) == {"dispute"}
    assert active_holds(holds, TAKEN - timedelta(days=1)) == frozenset()


@pytest.mark.parametrize(("holds", "flags", "allowed"), [
    ((), frozenset(), True),
    ((Hold("promise", date(2026, 11, 1), date(2026, 11, 20)),), frozenset(), True),
    ((Hold("plan", date(2026, 11, 1)),), frozenset(), True),
    ((Hold("dispute", date(2026, 11, 1)),), frozenset(), False),
    ((Hold("hardship", date(2026, 11, 1), date(2026, 11, 30)),), frozenset(), False),
    ((Hold("hardship", date(2026, 10, 1), date(2026, 11, 9)),), frozenset(), True),  # review over
    ((Hold("breathing-space", date(2026, 11, 1), date(2026, 12, 30)),), frozenset(), False),
    ((), frozenset({"vulnerable"}), True),
    ((), frozenset({"cease-contact"}), False),
    ((), frozenset({"deceased"}), False),
])
def test_a_pre_due_reminder_waits_for_disputes_hardship_and_no_contact_flags(holds, flags, allowed):
    assert reminder_allowed(holds, flags, date(2026, 11, 10)) is allowed
