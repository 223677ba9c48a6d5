"""close_business_day / restate_business_day: what collections is told about an account."""

from __future__ import annotations

import pytest
from overdue_factories import S1, S2, S3, day, ledger, pay

from overdue_detector.domain import (
    AccountLedger,
    AccountStatus,
    BecameDelinquent,
    Cured,
    DelinquencyUpdated,
    Episode,
    SnapshotMismatch,
    assess,
    close_business_day,
    restate_business_day,
)

UNPAID = ledger(S1, S2, S3)


def _close(book: AccountLedger, previous: str | None, current: str):
    before = assess(book, day(previous)) if previous else None
    episode = Episode(open=before is not None and before.delinquent and not before.charged_off)
    after = assess(book, day(current))
    decisions, _ = close_business_day(episode, after)
    return after, decisions


# (case, ledger, previous close, current close, expected decision kinds)
CLOSES = [
    ("current account, nothing to say", ledger(S1, pay("P1", 10_000, "2025-01-20")), "2025-01-28", "2025-01-29", []),
    ("first delinquent day opens an episode", UNPAID, "2025-01-28", "2025-01-29",
     [BecameDelinquent, DelinquencyUpdated]),
    ("first ever close of a delinquent account", UNPAID, None, "2025-02-10", [BecameDelinquent, DelinquencyUpdated]),
    ("still delinquent: updated every day", UNPAID, "2025-02-10", "2025-02-11", [DelinquencyUpdated]),
    ("gap of several days still one update", UNPAID, "2025-02-10", "2025-02-14", [DelinquencyUpdated]),
    ("payment clears all past due: cured", ledger(S1, pay("P1", 10_000, "2025-02-11")), "2025-02-10", "2025-02-11",
     [Cured]),
    ("payment clears only the oldest: no cure", ledger(S1, S2, S3, pay("P1", 20_000, "2025-03-29")), "2025-03-28",
     "2025-03-29", [DelinquencyUpdated]),
    ("delinquent and next cycle due soon", UNPAID, "2025-02-21", "2025-02-22", [DelinquencyUpdated]),
    ("charged off: handed to recoveries", UNPAID.change_status(AccountStatus.CHARGED_OFF, day("2025-03-01")),
     "2025-02-28", "2025-03-01", []),
    ("charged off and paid in full is still no cure",
     ledger(S1, pay("R1", 10_000, "2025-03-02")).change_status(AccountStatus.CHARGED_OFF, day("2025-03-01")),
     "2025-03-01", "2025-03-02", []),
]


@pytest.mark.parametrize(("case", "book", "previous", "current", "kinds"), CLOSES, ids=[row[0] for row in CLOSES])
def test_close_business_day(case, book, previous, current, kinds):
    snapshot, decisions = _close(book, previous, current)

    assert [type(d) for d in decisions] == kinds
    assert all(d.snapshot == snapshot for d in decisions)
    assert not any(isinstance(d, DelinquencyUpdated) and d.correction for d in decisions)


def test_cure_carries_the_snapshot_that_ended_the_episode():
    snapshot, decisions = _close(ledger(S1, pay("P1", 10_000, "2025-02-11")), "2025-02-10", "2025-02-11")

    assert decisions == (Cured(snapshot),)
    assert snapshot.past_due_amount == 0


# The detector lags: a payment valued on 2025-02-12 cured the episode when it was applied,
# before the days closed earlier were aged. (case, episode, as_of, kinds, episode after)
LAGGING = [
    ("a day before the cure tells nothing more", Episode(False, day("2025-02-12")), "2025-02-11", [],
     Episode(False, day("2025-02-12"))),
    ("the cure's own day: current, nothing to say", Episode(False, day("2025-02-12")), "2025-02-12", [],
     Episode(False)),
    ("no cure pending: a new episode", Episode(False), "2025-02-11", [BecameDelinquent, DelinquencyUpdated],
     Episode(True)),
]


@pytest.mark.parametrize(("case", "episode", "as_of", "kinds", "after"), LAGGING, ids=[row[0] for row in LAGGING])
def test_days_closed_before_a_cure_stay_in_its_episode(case, episode, as_of, kinds, after):
    book = ledger(S1, pay("P1", 10_000, "2025-02-12"))

    decisions, episode_after = close_business_day(episode, assess(book, day(as_of)))

    assert [type(d) for d in decisions] == kinds
    assert episode_after == after


def test_closed_account_keeps_being_reported_but_not_reminded():
    book = UNPAID.change_status(AccountStatus.CLOSED, day("2025-02-01"))

    _, decisions = _close(book, "2025-02-21", "2025-02-22")

    assert [type(d) for d in decisions] == [DelinquencyUpdated]


# Restating a day already aged. (case, before, after, day, expected (kind, correction) pairs)
REPORTED = ledger(S1, S2, pay("P1", 10_000, "2025-02-01"))
BACKDATED = ledger(S1, S2, pay("B1", 10_000, "2025-02-20", posted="2025-03-02"))
RESTATEMENTS = [
    ("nothing changed", REPORTED, REPORTED.record_payment(pay("P9", 500, "2025-03-05")), "2025-03-01", []),
    ("backdated payment corrects DPD", ledger(S1, S2), BACKDATED, "2025-03-01", [(DelinquencyUpdated, True)]),
    ("backdated payment cures", ledger(S1), ledger(S1, pay("B1", 10_000, "2025-01-27", posted="2025-02-03")),
     "2025-02-02", [(Cured, None)]),
    ("reversal reopens delinquency", ledger(S1, pay("P1", 10_000, "2025-02-01")),
     ledger(S1, pay("P1", 10_000, "2025-02-01")).reverse_payment("P1"), "2025-02-02",
     [(BecameDelinquent, None), (DelinquencyUpdated, True)]),
    ("partial backdated payment changes amount only", ledger(S1), ledger(S1, pay("B1", 1_000, "2025-01-20")),
     "2025-02-02", [(DelinquencyUpdated, True)]),
    ("change to a current day's credit is not reported", ledger(S1, pay("P1", 10_000, "2025-01-20")),
     ledger(S1, pay("P1", 10_000, "2025-01-20"), pay("P2", 3_000, "2025-01-21")), "2025-02-02", []),
    ("charged-off day is not restated", ledger(S1).change_status(AccountStatus.CHARGED_OFF, day("2025-02-01")),
     ledger(S1, pay("B1", 10_000, "2025-01-27")).change_status(AccountStatus.CHARGED_OFF, day("2025-02-01")),
     "2025-02-02", []),
]


@pytest.mark.parametrize(
    ("case", "before", "after", "on", "expected"), RESTATEMENTS, ids=[row[0] for row in RESTATEMENTS]
)
def test_restate_business_day(case, before, after, on, expected):
    reported, restated = assess(before, day(on)), assess(after, day(on))

    decisions = restate_business_day(reported, restated)

    assert [(type(d), getattr(d, "correction", None)) for d in decisions] == expected
    assert all(d.snapshot == restated for d in decisions)


def test_backdated_correction_restates_the_new_dpd():
    reported = assess(ledger(S1, S2), day("2025-03-01"))
    restated = assess(BACKDATED, day("2025-03-01"))

    (decision,) = restate_business_day(reported, restated)

    assert (reported.dpd, restated.dpd) == (35, 4)
    assert decision == DelinquencyUpdated(restated, correction=True)


MISMATCHES = [
    ("restating different accounts", lambda: restate_business_day(
        assess(AccountLedger("acc-2", "CNY"), day("2025-01-01")), assess(UNPAID, day("2025-01-01")))),
    ("restating another day", lambda: restate_business_day(
        assess(UNPAID, day("2025-02-01")), assess(UNPAID, day("2025-02-02")))),
]


@pytest.mark.parametrize(("case", "call"), MISMATCHES, ids=[row[0] for row in MISMATCHES])
def test_snapshots_must_match(case, call):
    with pytest.raises(SnapshotMismatch):
        call()
