"""decide(): every delinquency decision about one account, for a day's aging and for a
posting alike (domain/decisions.py). Facts here come from assess() on a ledger."""

from __future__ import annotations

from datetime import date

import pytest
from overdue_factories import S1, S2, S3, day, ledger, pay

from overdue_detector.domain import (
    AccountLedger,
    AccountStatus,
    BecameDelinquent,
    Cured,
    DayAged,
    DelinquencyUpdated,
    Episode,
    PaymentDueSoon,
    Posting,
    PostingApplied,
    assess,
    decide,
)

UNPAID = ledger(S1, S2, S3)


def aged(book: AccountLedger, on: date, episode: Episode = Episode(), reported_past_due: bool = False,
         reminded_until: date | None = None):
    snapshot = assess(book, on, reminded_until=reminded_until)
    return snapshot, decide(DayAged(snapshot, episode, reported_past_due, snapshot.status, snapshot.reminders))


def _close(book: AccountLedger, previous: str | None, current: str):
    """Age `current` after `previous` was aged (what collections was told then is the episode)."""
    before = assess(book, day(previous)) if previous else None
    told = before is not None and before.delinquent and not before.charged_off
    return aged(book, day(current), Episode(open=told), reported_past_due=told,
                reminded_until=day(previous) if previous else None)


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
    ("delinquent and next cycle due soon", UNPAID, "2025-02-21", "2025-02-22", [DelinquencyUpdated, PaymentDueSoon]),
    ("current and due soon: a reminder only", ledger(S1), "2025-01-21", "2025-01-22", [PaymentDueSoon]),
    ("charged off: handed to recoveries", UNPAID.change_status(AccountStatus.CHARGED_OFF, day("2025-03-01")),
     "2025-02-28", "2025-03-01", []),
    ("charged off and paid in full is still no cure",
     ledger(S1, pay("R1", 10_000, "2025-03-02")).change_status(AccountStatus.CHARGED_OFF, day("2025-03-01")),
     "2025-03-01", "2025-03-02", []),
]


@pytest.mark.parametrize(("case", "book", "previous", "current", "kinds"), CLOSES, ids=[row[0] for row in CLOSES])
def test_a_day_aged(case, book, previous, current, kinds):
    snapshot, decisions = _close(book, previous, current)

    assert [type(d) for d in decisions.events] == kinds
    assert all(d.snapshot == snapshot for d in decisions.events)
    assert not any(isinstance(d, DelinquencyUpdated) and d.correction for d in decisions.events)


def test_cure_carries_the_snapshot_that_ended_the_episode():
    snapshot, decisions = _close(ledger(S1, pay("P1", 10_000, "2025-02-11")), "2025-02-10", "2025-02-11")

    assert decisions.events == (Cured(snapshot),)
    assert snapshot.past_due_amount == 0
    assert (decisions.episode, decisions.record) == (Episode(), snapshot)


# What is recorded as reported when a day is aged.
# (case, ledger, day, episode, reported past due, episode after, recorded)
PENDING_CURE = Episode(False, day("2025-02-03"))
RECORDS = [
    ("never delinquent: nothing to record", ledger(S1), "2025-01-20", Episode(), False, Episode(), False),
    ("delinquent: recorded with an open episode", ledger(S1), "2025-02-01", Episode(), False, Episode(True), True),
    ("current again: recorded, episode closed", ledger(S1, pay("P1", 10_000, "2025-01-30")),
     "2025-02-01", Episode(True), True, Episode(), True),
    ("cured at once, the cure's day: recorded, cure no longer pending",
     ledger(S1, pay("P1", 10_000, "2025-02-03")), "2025-02-03", PENDING_CURE, True, Episode(), True),
    ("a day before a pending cure: recorded, still pending", ledger(S1, pay("P1", 10_000, "2025-02-03")),
     "2025-02-02", PENDING_CURE, True, PENDING_CURE, True),
    ("cured earlier: its state stays as of its cure", ledger(S1, pay("P1", 10_000, "2025-01-30")),
     "2025-02-05", Episode(), False, Episode(), False),
    ("charged off: recorded, episode left as it was",
     ledger(S1).change_status(AccountStatus.CHARGED_OFF, day("2025-02-01")), "2025-02-05", Episode(True), True,
     Episode(True), True),
]


@pytest.mark.parametrize(("case", "book", "on", "episode", "reported_past_due", "after", "recorded"), RECORDS,
                         ids=[row[0] for row in RECORDS])
def test_what_a_day_records(case, book, on, episode, reported_past_due, after, recorded):
    snapshot, decisions = aged(book, day(on), episode, reported_past_due)

    assert decisions.episode == after
    assert decisions.record == (snapshot if recorded else None)


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
    _, decisions = aged(ledger(S1, pay("P1", 10_000, "2025-02-12")), day(as_of), episode, reported_past_due=True)

    assert [type(d) for d in decisions.events] == kinds
    assert decisions.episode == after


def test_closed_account_keeps_being_reported_but_not_reminded():
    book = UNPAID.change_status(AccountStatus.CLOSED, day("2025-02-01"))

    _, decisions = _close(book, "2025-02-21", "2025-02-22")

    assert [type(d) for d in decisions.events] == [DelinquencyUpdated]


def posted(before: AccountLedger, after: AccountLedger, posting: Posting, on: str, last: str | None,
           episode: Episode | None = None, known: bool | None = None):
    """decide() for a posting valued `on`, `last` being the last aged day (facts from assess)."""
    last_day = day(last) if last else None
    reported = assess(before, last_day) if last_day else None
    restated = assess(after, last_day) if last_day else None
    told = reported is not None and reported.delinquent and not reported.charged_off
    since = assess(after, day(on)) if last_day is None or day(on) > last_day else None
    return restated, since, decide(PostingApplied(
        posting, Episode(open=told) if episode is None else episode, told if known is None else known,
        reported, restated, since))


# Restating the last aged day. (case, before, after, posting, value date, expected (kind, correction) pairs)
REPORTED = ledger(S1, S2, pay("P1", 10_000, "2025-02-01"))
BACKDATED = ledger(S1, S2, pay("B1", 10_000, "2025-02-20", posted="2025-03-02"))
RESTATEMENTS = [
    ("backdated payment corrects DPD", ledger(S1, S2), BACKDATED, Posting.PAYMENT, "2025-02-20",
     "2025-03-01", [(DelinquencyUpdated, True)]),
    ("backdated payment cures", ledger(S1), ledger(S1, pay("B1", 10_000, "2025-01-27", posted="2025-02-03")),
     Posting.PAYMENT, "2025-01-27", "2025-02-02", [(Cured, None)]),
    ("reversal reopens delinquency", ledger(S1, pay("P1", 10_000, "2025-02-01")),
     ledger(S1, pay("P1", 10_000, "2025-02-01")).reverse_payment("P1"), Posting.REVERSAL, "2025-02-01",
     "2025-02-02", [(BecameDelinquent, None), (DelinquencyUpdated, True)]),
    ("partial backdated payment changes amount only", ledger(S1), ledger(S1, pay("B1", 1_000, "2025-01-20")),
     Posting.PAYMENT, "2025-01-20", "2025-02-02", [(DelinquencyUpdated, True)]),
    ("change to a current day's credit is not reported", ledger(S1, pay("P1", 10_000, "2025-01-20")),
     ledger(S1, pay("P1", 10_000, "2025-01-20"), pay("P2", 3_000, "2025-01-21")), Posting.PAYMENT, "2025-01-21",
     "2025-02-02", []),
    ("charged-off day is not restated", ledger(S1).change_status(AccountStatus.CHARGED_OFF, day("2025-02-01")),
     ledger(S1, pay("B1", 10_000, "2025-01-27")).change_status(AccountStatus.CHARGED_OFF, day("2025-02-01")),
     Posting.PAYMENT, "2025-01-27", "2025-02-02", []),
    ("a statement that arrived late restates the day", ledger(S2), ledger(S1, S2), Posting.STATEMENT, "2025-01-05",
     "2025-02-02", [(BecameDelinquent, None), (DelinquencyUpdated, True)]),
    ("a backdated charge-off is not a cure", ledger(S1), ledger(S1).change_status(
        AccountStatus.CHARGED_OFF, day("2025-02-01")), Posting.STATUS_CHANGE, "2025-02-01", "2025-02-02", []),
]


@pytest.mark.parametrize(("case", "before", "after", "posting", "on", "last", "expected"), RESTATEMENTS,
                         ids=[row[0] for row in RESTATEMENTS])
def test_a_posting_restates_the_last_aged_day(case, before, after, posting, on, last, expected):
    restated, _, decisions = posted(before, after, posting, on, last)

    assert [(type(d), getattr(d, "correction", None)) for d in decisions.events] == expected
    assert all(d.snapshot == restated for d in decisions.events)


def test_backdated_correction_restates_the_new_dpd():
    restated, _, decisions = posted(ledger(S1, S2), BACKDATED, Posting.PAYMENT, "2025-02-20", "2025-03-01")

    assert (assess(ledger(S1, S2), day("2025-03-01")).dpd, restated.dpd) == (35, 4)
    assert decisions.events == (DelinquencyUpdated(restated, correction=True),)
    assert (decisions.record, decisions.episode) == (restated, Episode(open=True))


def test_a_restatement_keeps_a_pending_cure():
    """Cured at once by a payment valued 2025-02-10 while 2025-02-02 was the last aged day;
    then a small backdated payment restates 2025-02-02: the cure stays pending."""
    cured = ledger(S1, pay("P1", 10_000, "2025-02-10"))
    pending = Episode(False, day("2025-02-10"))

    _, _, decisions = posted(cured, cured.record_payment(pay("B1", 100, "2025-01-20")), Posting.PAYMENT,
                             "2025-01-20", "2025-02-02", episode=pending, known=True)

    assert decisions.events == ()
    assert decisions.episode == pending


# Between closes (valued after the last aged day 2025-02-02, account reported delinquent then).
# (case, before, after, posting, value date, episode, expected kinds, episode after)
PAID = ledger(S1, pay("P1", 10_000, "2025-02-05"))
BETWEEN_CLOSES = [
    ("a payment clearing the arrears cures at once", ledger(S1), PAID, Posting.PAYMENT, "2025-02-05",
     Episode(True), [Cured], Episode(False, day("2025-02-05"))),
    ("a partial payment waits for the close", ledger(S1), ledger(S1, pay("P1", 5_000, "2025-02-05")),
     Posting.PAYMENT, "2025-02-05", Episode(True), [], Episode(True)),
    ("a reversal of the cure reopens the episode", PAID, PAID.reverse_payment("P1"), Posting.REVERSAL,
     "2025-02-05", Episode(False, day("2025-02-05")), [BecameDelinquent], Episode(True)),
    ("a reversal with the episode still open says nothing", PAID, PAID.reverse_payment("P1"), Posting.REVERSAL,
     "2025-02-05", Episode(True), [], Episode(True)),
    ("a statement waits for the close", ledger(S1), ledger(S1, S2), Posting.STATEMENT, "2025-02-05",
     Episode(True), [], Episode(True)),
    ("a payment to a charged-off account is a recovery, no cure",
     ledger(S1).change_status(AccountStatus.CHARGED_OFF, day("2025-02-03")),
     ledger(S1, pay("R1", 10_000, "2025-02-05")).change_status(AccountStatus.CHARGED_OFF, day("2025-02-03")),
     Posting.PAYMENT, "2025-02-05", Episode(True), [], Episode(True)),
]


@pytest.mark.parametrize(("case", "before", "after", "posting", "on", "episode", "kinds", "episode_after"),
                         BETWEEN_CLOSES, ids=[row[0] for row in BETWEEN_CLOSES])
def test_money_moves_the_episode_between_closes(case, before, after, posting, on, episode, kinds, episode_after):
    restated, since, decisions = posted(before, after, posting, on, "2025-02-02", episode=episode, known=True)

    assert [type(d) for d in decisions.events] == kinds
    assert decisions.episode == episode_after
    assert decisions.record is None, "between closes the reported day stays as it was"
    for decision in decisions.events:
        assert decision.snapshot == (since if isinstance(decision, Cured) else restated)


def test_never_reported_accounts_get_nothing_between_closes():
    _, _, decisions = posted(ledger(S1), PAID, Posting.PAYMENT, "2025-02-05", None)

    assert decisions.events == () and decisions.record is None
