"""assess(): the waterfall, DPD, buckets, balance, due-soon and status rules, scenario by scenario."""

from __future__ import annotations

from datetime import timedelta

import pytest
from overdue_factories import S1, S2, S3, day, ledger, pay, reminded, stmt

from overdue_detector.domain import (
    AccountStatus,
    Bucket,
    CycleDue,
    DelinquencyPolicy,
    PaymentRule,
    assess,
)

# (case, facts, as_of, dpd, bucket, past_due_amount, cycles_past_due)
SINGLE_CYCLE = [
    ("paid on the due date", [S1, pay("P1", 10_000, "2025-01-25")], "2025-02-04", 0, Bucket.M0, 0, 0),
    ("paid early", [S1, pay("P1", 10_000, "2025-01-10")], "2025-01-29", 0, Bucket.M0, 0, 0),
    ("unpaid, last grace day", [S1], "2025-01-28", 0, Bucket.M0, 0, 0),
    ("unpaid, first day after grace", [S1], "2025-01-29", 4, Bucket.M1, 10_000, 1),
    ("paid on the last grace day", [S1, pay("P1", 10_000, "2025-01-28")], "2025-01-29", 0, Bucket.M0, 0, 0),
    ("paid after grace, same day counts", [S1, pay("P1", 10_000, "2025-01-29")], "2025-01-29", 0, Bucket.M0, 0, 0),
    ("value date after as-of ignored", [S1, pay("P1", 10_000, "2025-01-30")], "2025-01-29", 4, Bucket.M1, 10_000, 1),
    ("partial payment", [S1, pay("P1", 4_000, "2025-01-20")], "2025-01-29", 4, Bucket.M1, 6_000, 1),
    ("two partials make the minimum", [S1, pay("P1", 4_000, "2025-01-20"), pay("P2", 6_000, "2025-01-27")],
     "2025-01-29", 0, Bucket.M0, 0, 0),
    ("zero minimum never ages", [stmt("S0", "2025-01-05", "2025-01-25", 0)], "2025-06-01", 0, Bucket.M0, 0, 0),
]


@pytest.mark.parametrize(
    ("case", "facts", "as_of", "dpd", "bucket", "past_due_amount", "cycles"),
    SINGLE_CYCLE,
    ids=[row[0] for row in SINGLE_CYCLE],
)
def test_single_cycle(case, facts, as_of, dpd, bucket, past_due_amount, cycles):
    snapshot = assess(ledger(*facts), day(as_of))

    assert (snapshot.dpd, snapshot.bucket, snapshot.past_due_amount, snapshot.cycles_past_due) == (
        dpd,
        bucket,
        past_due_amount,
        cycles,
    )
    assert snapshot.delinquent is (dpd > 0)


# Three missed cycles, then payments that clear only the oldest ones.
ROLLING = [
    ("one cycle missed", [], "2025-01-29", 4, Bucket.M1, 10_000, 1, "2025-01-25"),
    ("still one, end of M1", [], "2025-02-24", 30, Bucket.M1, 10_000, 1, "2025-01-25"),
    ("rolls to M2 on day 31", [], "2025-02-25", 31, Bucket.M2, 10_000, 1, "2025-01-25"),
    ("second cycle missed", [], "2025-03-01", 35, Bucket.M2, 20_000, 2, "2025-01-25"),
    ("third cycle missed, M3", [], "2025-03-29", 63, Bucket.M3, 30_000, 3, "2025-01-25"),
    ("oldest cleared: falls back to M2", [pay("P1", 10_000, "2025-03-29")], "2025-03-29", 32, Bucket.M2, 20_000, 2,
     "2025-02-25"),
    ("two oldest cleared: falls back to M1", [pay("P1", 20_000, "2025-03-29")], "2025-03-29", 4, Bucket.M1, 10_000, 1,
     "2025-03-25"),
    ("partial on oldest keeps its DPD", [pay("P1", 5_000, "2025-03-29")], "2025-03-29", 63, Bucket.M3, 25_000, 3,
     "2025-01-25"),
    ("everything cleared", [pay("P1", 30_000, "2025-03-29")], "2025-03-29", 0, Bucket.M0, 0, 0, None),
]


@pytest.mark.parametrize(
    ("case", "payments", "as_of", "dpd", "bucket", "past_due_amount", "cycles", "oldest"),
    ROLLING,
    ids=[row[0] for row in ROLLING],
)
def test_three_missed_cycles_roll_and_fall_back(case, payments, as_of, dpd, bucket, past_due_amount, cycles, oldest):
    snapshot = assess(ledger(S1, S2, S3, *payments), day(as_of))

    assert snapshot.dpd == dpd
    assert snapshot.bucket is bucket
    assert snapshot.past_due_amount == past_due_amount
    assert snapshot.cycles_past_due == cycles
    assert snapshot.oldest_due_date == (day(oldest) if oldest else None)


def test_oldest_first_waterfall_names_the_cycles_left_unpaid():
    snapshot = assess(ledger(S1, S2, S3, pay("P1", 15_000, "2025-03-29")), day("2025-03-29"))

    assert snapshot.past_due == (
        CycleDue("S2", day("2025-02-25"), 5_000),
        CycleDue("S3", day("2025-03-25"), 10_000),
    )


# The card rule (default): a payment pays the minimums of statements issued by its value
# date; money beyond them is credit that pays no later minimum. (case, facts, as_of, dpd, past_due, credit)
CARD_RULE = [
    ("overpayment leaves credit", [S1, pay("P1", 25_000, "2025-01-20")], "2025-01-20", 0, 0, 15_000),
    ("credit does not pay the next minimum", [S1, S2, pay("P1", 25_000, "2025-01-20")], "2025-03-01", 4, 10_000,
     15_000),
    ("paid 10,000 in January, February never paid", [S1, S2, S3, pay("P1", 1_000_000, "2025-01-20")], "2025-03-29",
     32, 20_000, 990_000),
    ("payment before any statement pays nothing", [pay("P0", 10_000, "2024-12-20")], "2024-12-31", 0, 0, 10_000),
    ("early payment does not cover the first statement", [pay("P0", 10_000, "2024-12-20"), S1], "2025-01-29", 4,
     10_000, 10_000),
    ("paid on the cycle date counts", [stmt("S1", "2025-01-05", "2025-01-25", 10_000), pay("P1", 10_000, "2025-01-05")],
     "2025-01-29", 0, 0, 0),
    ("one payment after both statements pays both", [S1, S2, pay("P1", 20_000, "2025-02-06")], "2025-03-01", 0, 0, 0),
    ("statement not yet issued does not eat credit", [S1, S2, pay("P1", 25_000, "2025-01-20")], "2025-02-04", 0, 0,
     15_000),
    ("a later payment tops up an earlier statement first", [S1, S2, pay("P1", 4_000, "2025-01-20"),
                                                            pay("P2", 10_000, "2025-02-20")], "2025-03-01", 4,
     6_000, 0),
]


@pytest.mark.parametrize(
    ("case", "facts", "as_of", "dpd", "past_due_amount", "credit"), CARD_RULE, ids=[row[0] for row in CARD_RULE]
)
def test_card_rule_pays_only_statements_issued_by_the_value_date(case, facts, as_of, dpd, past_due_amount, credit):
    snapshot = assess(ledger(*facts), day(as_of))

    assert (snapshot.dpd, snapshot.past_due_amount, snapshot.credit_available) == (dpd, past_due_amount, credit)


# Paid ahead (a portfolio option): every payment is credit toward every later minimum.
PAID_AHEAD = [
    ("overpayment leaves credit", [S1, pay("P1", 25_000, "2025-01-20")], "2025-01-20", 0, 0, 15_000),
    ("credit pays the next minimum", [S1, S2, pay("P1", 25_000, "2025-01-20")], "2025-03-01", 0, 0, 5_000),
    ("credit runs out on the third", [S1, S2, S3, pay("P1", 25_000, "2025-01-20")], "2025-03-29", 4, 5_000, 0),
    ("payment before any statement", [pay("P0", 10_000, "2024-12-20")], "2024-12-31", 0, 0, 10_000),
    ("early payment covers the first statement", [pay("P0", 10_000, "2024-12-20"), S1], "2025-01-29", 0, 0, 0),
    ("early payment partly covers", [pay("P0", 3_000, "2024-12-20"), S1], "2025-01-29", 4, 7_000, 0),
    ("statement not yet issued does not eat credit", [S1, S2, pay("P1", 25_000, "2025-01-20")], "2025-02-04", 0, 0,
     15_000),
]


@pytest.mark.parametrize(
    ("case", "facts", "as_of", "dpd", "past_due_amount", "credit"), PAID_AHEAD, ids=[row[0] for row in PAID_AHEAD]
)
def test_paid_ahead_option(case, facts, as_of, dpd, past_due_amount, credit):
    snapshot = assess(ledger(*facts), day(as_of), DelinquencyPolicy(payment_rule=PaymentRule.PAID_AHEAD))

    assert (snapshot.dpd, snapshot.past_due_amount, snapshot.credit_available) == (dpd, past_due_amount, credit)


# Leap years: grace runs over Feb 29. (case, due, as_of, dpd)
LEAP = [
    ("due Feb 28 2028, grace to Mar 2", "2028-02-28", "2028-03-02", 0),
    ("due Feb 28 2028, late Mar 3", "2028-02-28", "2028-03-03", 4),
    ("due Feb 29 2028, grace to Mar 3", "2028-02-29", "2028-03-03", 0),
    ("due Feb 29 2028, late Mar 4", "2028-02-29", "2028-03-04", 4),
    ("due Feb 26 2028, grace ends on leap day", "2028-02-29", "2028-02-29", 0),
    ("due Feb 26 2028, late Mar 1", "2028-02-26", "2028-03-01", 4),
    ("due Feb 26 2027, late Mar 2 (no leap day)", "2027-02-26", "2027-03-02", 4),
    ("due Feb 29 2028, a year on", "2028-02-29", "2029-02-28", 365),
]


@pytest.mark.parametrize(("case", "due", "as_of", "dpd"), LEAP, ids=[row[0] for row in LEAP])
def test_leap_day(case, due, as_of, dpd):
    due_date = day(due)
    statement = stmt("S", f"{due_date.year}-02-01", due, 5_000)

    assert assess(ledger(statement), day(as_of)).dpd == dpd


# Balance: latest statement balance minus payments valued after its cycle date. (case, facts, as_of, balance)
BALANCE = [
    ("no statement yet", [pay("P0", 1_000, "2024-12-20")], "2024-12-31", 0),
    ("statement balance", [stmt("S1", "2025-01-05", "2025-01-25", 1_000, 50_000)], "2025-01-05", 50_000),
    ("paid after cycle", [stmt("S1", "2025-01-05", "2025-01-25", 1_000, 50_000), pay("P1", 10_000, "2025-01-20")],
     "2025-01-20", 40_000),
    ("payment valued tomorrow not yet", [stmt("S1", "2025-01-05", "2025-01-25", 1_000, 50_000),
                                         pay("P1", 10_000, "2025-01-20")], "2025-01-19", 50_000),
    ("payment valued on the cycle date already in balance",
     [stmt("S1", "2025-01-05", "2025-01-25", 1_000, 50_000), pay("P1", 7_000, "2025-01-05")], "2025-01-10", 50_000),
    ("payment before cycle already in balance", [pay("P0", 9_999, "2025-01-04"),
                                                 stmt("S1", "2025-01-05", "2025-01-25", 1_000, 50_000)],
     "2025-01-10", 50_000),
    ("latest statement wins, credit balance",
     [stmt("S1", "2025-01-05", "2025-01-25", 1_000, 50_000), pay("P1", 10_000, "2025-01-20"),
      stmt("S2", "2025-02-05", "2025-02-25", 1_000, 42_000), pay("P2", 60_000, "2025-02-10")], "2025-02-10", -18_000),
]


@pytest.mark.parametrize(("case", "facts", "as_of", "balance"), BALANCE, ids=[row[0] for row in BALANCE])
def test_balance(case, facts, as_of, balance):
    assert assess(ledger(*facts), day(as_of)).balance == balance


# Due soon: due_date - as_of == 3 and something unpaid. (case, facts, as_of, due_soon)
DUE_SOON = [
    ("three days before, unpaid", [S1], "2025-01-22", (CycleDue("S1", day("2025-01-25"), 10_000),)),
    ("four days before", [S1], "2025-01-21", ()),
    ("two days before", [S1], "2025-01-23", ()),
    ("partly paid", [S1, pay("P1", 4_000, "2025-01-10")], "2025-01-22", (CycleDue("S1", day("2025-01-25"), 6_000),)),
    ("fully paid", [S1, pay("P1", 10_000, "2025-01-10")], "2025-01-22", ()),
    ("paid before the statement: still due", [pay("P0", 10_000, "2024-12-20"), S1], "2025-01-22",
     (CycleDue("S1", day("2025-01-25"), 10_000),)),
]


@pytest.mark.parametrize(("case", "facts", "as_of", "due_soon"), DUE_SOON, ids=[row[0] for row in DUE_SOON])
def test_payment_due_soon(case, facts, as_of, due_soon):
    assert reminded(ledger(*facts), day(as_of)) == due_soon


# A close skipped: the next aged day reminds of every minimum that entered its reminder window
# since the last aged day, once. (case, as_of, reminded_until, due_soon)
MISSED_REMINDER_DAY = [
    ("window opened on the skipped day", "2025-01-23", "2025-01-21", (CycleDue("S1", day("2025-01-25"), 10_000),)),
    ("reminded already on the last aged day", "2025-01-23", "2025-01-22", ()),
    ("several days skipped, due today", "2025-01-25", "2025-01-20", (CycleDue("S1", day("2025-01-25"), 10_000),)),
    ("due date passed: no reminder after it", "2025-01-26", "2025-01-20", ()),
    ("window opens later", "2025-01-21", "2025-01-15", ()),
]


@pytest.mark.parametrize(("case", "as_of", "reminded_until", "due_soon"), MISSED_REMINDER_DAY,
                         ids=[row[0] for row in MISSED_REMINDER_DAY])
def test_reminder_after_a_skipped_close(case, as_of, reminded_until, due_soon):
    assert reminded(ledger(S1), day(as_of), reminded_until=day(reminded_until)) == due_soon


def test_policy_numbers_are_honoured():
    policy = DelinquencyPolicy(grace_days=0, due_soon_days=5)

    assert assess(ledger(S1), day("2025-01-26"), policy).dpd == 1
    assert reminded(ledger(S1), day("2025-01-20"), policy) == (CycleDue("S1", day("2025-01-25"), 10_000),)
    assert reminded(ledger(S1), day("2025-01-22"), policy) == ()


# Status rules. (case, status, effective_on, as_of, dpd, due_soon_amount, charged_off_on)
STATUS = [
    ("open ages and is reminded", AccountStatus.OPEN, "2025-01-06", "2025-03-01", 35, 0, None),
    ("blocked still reminded", AccountStatus.BLOCKED, "2025-01-06", "2025-02-22", 28, 10_000, None),
    ("closed still ages", AccountStatus.CLOSED, "2025-01-06", "2025-03-01", 35, 0, None),
    ("closed gets no reminder", AccountStatus.CLOSED, "2025-01-06", "2025-02-22", 28, 0, None),
    ("closed later: reminded before", AccountStatus.CLOSED, "2025-03-01", "2025-02-22", 28, 10_000, None),
    ("charged off: DPD frozen", AccountStatus.CHARGED_OFF, "2025-03-01", "2025-09-30", 35, 0, "2025-03-01"),
    ("charged off later: ages before", AccountStatus.CHARGED_OFF, "2025-03-01", "2025-02-28", 34, 0, None),
]


@pytest.mark.parametrize(
    ("case", "status", "effective_on", "as_of", "dpd", "due_soon_amount", "charged_off_on"),
    STATUS,
    ids=[row[0] for row in STATUS],
)
def test_account_status(case, status, effective_on, as_of, dpd, due_soon_amount, charged_off_on):
    book = ledger(S1, S2).change_status(status, day(effective_on))

    snapshot = assess(book, day(as_of))

    assert snapshot.dpd == dpd
    assert sum(cycle.amount for cycle in reminded(book, day(as_of))) == due_soon_amount
    assert snapshot.charged_off_on == (day(charged_off_on) if charged_off_on else None)
    assert snapshot.as_of == day(as_of)


def test_charged_off_ignores_recoveries_but_takes_backdated_payments():
    book = ledger(S1, S2).change_status(AccountStatus.CHARGED_OFF, day("2025-03-01"))
    frozen = assess(book, day("2025-09-30"))

    recovery = assess(book.record_payment(pay("R1", 20_000, "2025-04-01")), day("2025-09-30"))
    backdated = assess(book.record_payment(pay("B1", 10_000, "2025-02-20", posted="2025-04-01")), day("2025-09-30"))

    assert (frozen.dpd, frozen.past_due_amount, frozen.bucket) == (35, 20_000, Bucket.M2)
    assert recovery == frozen
    assert (backdated.dpd, backdated.past_due_amount, backdated.charged_off) == (4, 10_000, True)


def test_charge_off_reversed_resumes_aging():
    book = (
        ledger(S1, S2)
        .change_status(AccountStatus.CHARGED_OFF, day("2025-03-01"))
        .change_status(AccountStatus.OPEN, day("2025-04-01"))
    )

    snapshot = assess(book, day("2025-04-01"))

    assert not snapshot.charged_off
    assert snapshot.dpd == 66


# Reversals and backdated payments restate the same day. (case, before, after, as_of, dpd_before, dpd_after)
RESTATED = [
    ("reversal reopens delinquency", [S1, pay("P1", 10_000, "2025-02-01")], "reverse P1", "2025-02-01", 0, 7),
    ("backdated payment corrects DPD", [S1, S2], pay("B1", 10_000, "2025-02-20", posted="2025-03-02"), "2025-03-01",
     35, 4),
    ("backdated payment cures", [S1], pay("B1", 10_000, "2025-01-27", posted="2025-02-03"), "2025-02-02", 8, 0),
    ("reversal of the oldest cover", [S1, S2, pay("P1", 10_000, "2025-01-20"), pay("P2", 10_000, "2025-02-20")],
     "reverse P1", "2025-03-01", 0, 4),
]


@pytest.mark.parametrize(
    ("case", "facts", "change", "as_of", "dpd_before", "dpd_after"), RESTATED, ids=[row[0] for row in RESTATED]
)
def test_restated_history(case, facts, change, as_of, dpd_before, dpd_after):
    before = ledger(*facts)
    after = before.reverse_payment(change.split()[1]) if isinstance(change, str) else before.record_payment(change)

    assert assess(before, day(as_of)).dpd == dpd_before
    assert assess(after, day(as_of)).dpd == dpd_after


# Bucket boundaries reached through aging, not just Bucket.for_dpd. (dpd, bucket)
AGED_BOUNDARIES = [(30, Bucket.M1), (31, Bucket.M2), (90, Bucket.M3), (91, Bucket.M4), (180, Bucket.M6),
                   (181, Bucket.M7_PLUS)]


@pytest.mark.parametrize(("dpd", "bucket"), AGED_BOUNDARIES)
def test_aging_crosses_bucket_boundaries(dpd, bucket):
    snapshot = assess(ledger(S1), S1.due_date + timedelta(days=dpd))

    assert (snapshot.dpd, snapshot.bucket) == (dpd, bucket)


def test_cycles_are_paid_in_the_order_they_were_issued():
    a = stmt("A", "2025-01-05", "2025-01-25", 6_000)
    b = stmt("B", "2025-01-04", "2025-01-25", 6_000)

    snapshot = assess(ledger(b, a, pay("P1", 8_000, "2025-01-20")), day("2025-01-29"))

    assert snapshot.past_due == (CycleDue("A", day("2025-01-25"), 4_000),)


def test_cycles_issued_the_same_day_are_paid_in_due_date_then_id_order():
    a = stmt("A", "2025-01-05", "2025-01-25", 6_000)
    b = stmt("B", "2025-01-05", "2025-01-25", 6_000)
    c = stmt("C", "2025-01-05", "2025-01-24", 6_000)

    snapshot = assess(ledger(b, a, c, pay("P1", 14_000, "2025-01-20")), day("2025-01-29"))

    assert snapshot.past_due == (CycleDue("B", day("2025-01-25"), 4_000),)
