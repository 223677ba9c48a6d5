"""Delinquency scenarios end to end through the real broker, on SQLite and PostgreSQL:
core-banking events in, collections.delinquency.v1 (and the DLQ) out."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import text

from collections_core.contracts.corebanking.v1 import accounts_pb2, payments_pb2
from collections_core.money import Money
from collections_core.wire import date_from_proto, date_to_proto
from support import encode, produce

pytestmark = pytest.mark.integration

CYCLE, DUE = date(2026, 10, 1), date(2026, 10, 25)
MINIMUM = 50_000


def kinds(events) -> list[str]:
    return [kind for kind, _ in events]


def states(events, kind: str = "DelinquencyUpdated") -> list[tuple]:
    return [(date_from_proto(m.business_date), m.state.dpd, m.state.bucket, m.state.past_due_amount.amount_minor,
             m.state.cycles_past_due) for k, m in events if k == kind]


async def _statement(detector, account, n: int = 0, minimum: int = MINIMUM):
    cycle = CYCLE + timedelta(days=30 * n)
    await detector.statement(account, f"ST{n}-{account}", cycle, DUE + timedelta(days=30 * n), minimum)


async def test_paid_on_time_gets_a_reminder_and_nothing_else(detector):
    account = detector.account()
    await detector.open(account)
    await _statement(detector, account)
    await detector.settle()
    await detector.close(date(2026, 10, 22))  # due in 3 days, unpaid: reminder
    await detector.settle()
    await detector.pay(account, f"P-{account}", MINIMUM, date(2026, 10, 24))
    await detector.settle()
    await detector.close(date(2026, 10, 29))
    events = await detector.events(account)
    assert kinds(events) == ["PaymentDueSoon"]
    reminder = events[0][1]
    assert (date_from_proto(reminder.due_date), reminder.amount_due.amount_minor, reminder.statement_id) == (
        DUE, MINIMUM, f"ST0-{account}")


async def test_paid_within_grace_is_never_delinquent(detector):
    account = detector.account()
    await detector.open(account)
    await _statement(detector, account)
    await detector.pay(account, f"P-{account}", MINIMUM, date(2026, 10, 28))
    await detector.settle()
    await detector.close(date(2026, 10, 29))
    assert await detector.events(account) == []


async def test_partial_payment_leaves_the_rest_past_due(detector):
    account = detector.account()
    await detector.open(account)
    await _statement(detector, account)
    await detector.pay(account, f"P-{account}", 20_000, date(2026, 10, 20))
    await detector.settle()
    await detector.close(date(2026, 10, 29))
    events = await detector.events(account)
    assert kinds(events) == ["AccountBecameDelinquent", "DelinquencyUpdated"]
    assert states(events) == [(date(2026, 10, 29), 4, 2, 30_000, 1)]  # bucket 2 = BUCKET_M1


async def test_money_beyond_january_does_not_pay_february(detector):
    """The card rule: an overpayment was netted into the next statement by core banking,
    so it does not pay that statement's minimum again."""
    account = detector.account()
    await detector.open(account)
    await _statement(detector, account, 0)
    await detector.pay(account, f"P-{account}", 1_000_000, date(2026, 10, 20))
    await _statement(detector, account, 1, minimum=15_000)
    await detector.settle()
    await detector.close(date(2026, 11, 28))  # November's minimum, due 24 Nov, never paid
    events = await detector.events(account)
    assert kinds(events) == ["AccountBecameDelinquent", "DelinquencyUpdated"]
    assert states(events) == [(date(2026, 11, 28), 4, 2, 15_000, 1)]


async def test_three_missed_cycles_roll_m1_m2_m3(detector):
    account = detector.account()
    await detector.open(account)
    for n in range(3):
        await _statement(detector, account, n)
    await detector.settle()
    # Due 25 Oct, 24 Nov, 24 Dec; each is past due once its 3 grace days are over.
    for day in (date(2026, 10, 29), date(2026, 11, 28), date(2026, 12, 28)):
        await detector.close(day)
        await detector.settle()
    events = await detector.events(account)
    assert kinds(events).count("AccountBecameDelinquent") == 1
    # DPD from the oldest unpaid due date (25 Oct): 4, 34, 64; cycles past due grow with each missed due date.
    assert states(events) == [
        (date(2026, 10, 29), 4, 2, MINIMUM, 1),
        (date(2026, 11, 28), 34, 3, 2 * MINIMUM, 2),
        (date(2026, 12, 28), 64, 4, 3 * MINIMUM, 3),
    ]


async def test_paying_the_oldest_cycles_only_falls_back_without_cure(detector):
    account = detector.account()
    await detector.open(account)
    for n in range(3):
        await _statement(detector, account, n)
    await detector.settle()
    await detector.close(date(2026, 12, 28))
    await detector.settle()
    await detector.pay(account, f"P-{account}", 2 * MINIMUM, date(2026, 12, 29))
    await detector.settle()
    await detector.close(date(2026, 12, 29))
    events = await detector.events(account)
    assert "AccountCured" not in kinds(events)
    # Only the December cycle (due 24 Dec) is left: 5 DPD, back from M3 to M1.
    assert states(events) == [(date(2026, 12, 28), 64, 4, 3 * MINIMUM, 3), (date(2026, 12, 29), 5, 2, MINIMUM, 1)]


async def test_cure_at_once_and_a_reversal_reopens_delinquency(detector):
    account = detector.account()
    payment = f"P-{account}"
    await detector.open(account)
    await _statement(detector, account)
    await detector.settle()
    await detector.close(date(2026, 10, 29))
    await detector.settle()
    await detector.pay(account, payment, MINIMUM, date(2026, 10, 30))
    await detector.settle()
    events = await detector.events(account)
    assert kinds(events) == ["AccountBecameDelinquent", "DelinquencyUpdated", "AccountCured"], \
        "cured as soon as the payment cleared the past-due amount, before any close"
    assert events[-1][1].payment_id == payment
    await detector.close(date(2026, 10, 30))
    await detector.settle()
    await detector.reverse(account, payment, date(2026, 10, 31))
    await detector.settle()
    await detector.close(date(2026, 10, 31))
    events = await detector.events(account)
    assert kinds(events)[3:] == ["AccountBecameDelinquent", "DelinquencyUpdated", "DelinquencyUpdated"]
    reopened = events[4][1]
    assert reopened.correction and date_from_proto(reopened.business_date) == date(2026, 10, 30)
    assert states(events)[-1] == (date(2026, 10, 31), 6, 2, MINIMUM, 1)


async def test_a_payment_reversed_before_the_due_date_leaves_the_minimum_unpaid(detector):
    account = detector.account()
    payment = f"P-{account}"
    await detector.open(account)
    await _statement(detector, account)
    await detector.pay(account, payment, MINIMUM, date(2026, 10, 20))
    await detector.settle()
    await detector.close(date(2026, 10, 21))
    await detector.settle()
    await detector.reverse(account, payment, date(2026, 10, 23))  # the cheque bounced
    await detector.settle()
    await detector.close(date(2026, 10, 29))
    events = await detector.events(account)
    assert kinds(events) == ["AccountBecameDelinquent", "DelinquencyUpdated"]
    assert states(events) == [(date(2026, 10, 29), 4, 2, MINIMUM, 1)]


async def test_backdated_payment_corrects_dpd_of_the_day_already_aged(detector):
    account = detector.account()
    await detector.open(account)
    await _statement(detector, account, 0)
    await _statement(detector, account, 1)
    await detector.settle()
    await detector.close(date(2026, 11, 30))  # both cycles past due: DPD 36 from 25 Oct
    await detector.settle()
    # Posted on 1 Dec, but the money counted from 20 Nov: the October minimum was paid before November's close.
    await detector.pay(account, f"P-{account}", MINIMUM, date(2026, 11, 20), posted=date(2026, 12, 1))
    events = await detector.events(account)
    assert kinds(events) == ["AccountBecameDelinquent", "DelinquencyUpdated", "DelinquencyUpdated"]
    correction = events[-1][1]
    assert correction.correction
    assert states(events)[-1] == (date(2026, 11, 30), 6, 2, MINIMUM, 1)


async def test_duplicated_and_reordered_events_change_nothing(detector):
    account = detector.account()
    await detector.open(account)
    # The payment arrives before the statement it pays towards, and everything twice.
    await detector.pay(account, f"P1-{account}", 30_000, date(2026, 10, 2), times=2)
    await _statement(detector, account)
    await detector.pay(account, f"P2-{account}", 5_000, date(2026, 10, 3), times=2)
    await detector.settle()
    close = await detector.close(date(2026, 10, 29))
    await detector.settle()
    await detector.close(date(2026, 10, 29), event_id=close)  # the same close re-delivered
    await detector.close(date(2026, 10, 29))  # the same day closed again under a new id
    await detector.pay(account, f"P1-{account}", 30_000, date(2026, 10, 2))  # re-sent under a new id
    events = await detector.events(account)
    assert kinds(events) == ["AccountBecameDelinquent", "DelinquencyUpdated"]
    assert states(events) == [(date(2026, 10, 29), 4, 2, MINIMUM - 35_000, 1)]


async def test_leap_day_counts(detector):
    account = detector.account()
    await detector.open(account)
    await detector.statement(account, f"ST-{account}", date(2028, 2, 1), date(2028, 2, 26), MINIMUM)
    await detector.settle()
    await detector.close(date(2028, 2, 29))  # 26 Feb + 3 grace days = 29 Feb: still within grace
    await detector.settle()
    await detector.close(date(2028, 3, 1))
    events = await detector.events(account)
    assert states(events) == [(date(2028, 3, 1), 4, 2, MINIMUM, 1)]  # 4 days: 2028 has a 29 February


async def test_currency_mismatch_goes_to_the_dlq_also_when_held_for_its_account(detector):
    account, late = detector.account(), detector.account("LATE")
    await detector.open(account)
    await detector.settle()
    await detector.pay(late, f"P-{late}", 10_000, date(2026, 10, 2))  # held: its account is not open yet
    await detector.pay(account, f"P-{account}", 10_000, date(2026, 10, 2), currency="USD")
    await detector.settle()
    assert await detector.events(late, topic="overdue-detector.dlq.v1") == []
    await detector.open(late, currency="USD")  # the held CNY payment cannot belong to it
    await detector.settle()
    held = await detector.events(late, topic="overdue-detector.dlq.v1")
    mismatch = await detector.events(account, topic="overdue-detector.dlq.v1")
    assert [code for code, _ in held] == ["rejected"] and [code for code, _ in mismatch] == ["rejected"]
    assert "amount is in CNY" in dict(held[0][1].headers)["dlq-reason"].decode()
    assert "USD" in dict(mismatch[0][1].headers)["dlq-reason"].decode()
    async with detector.runtime.database.engine.connect() as connection:
        assert (await connection.execute(text("SELECT COUNT(*) FROM ledger_payments"))).scalar() == 0
        assert (await connection.execute(text("SELECT COUNT(*) FROM held_postings"))).scalar() == 0
    assert await detector.events(account) == [] and await detector.events(late) == []


async def test_charged_off_account_leaves_collections_without_a_cure(detector):
    account = detector.account()
    await detector.open(account)
    await _statement(detector, account)
    await detector.settle()
    await detector.close(date(2026, 10, 29))
    await detector.settle()
    await detector.send("corebanking.accounts.v1", accounts_pb2.AccountStatusChanged(
        account_id=account, status=accounts_pb2.ACCOUNT_STATUS_CHARGED_OFF,
        effective_on=date_to_proto(date(2026, 10, 30)), reason="written off"), account)
    await detector.settle()
    await detector.close(date(2026, 10, 30))
    await detector.settle()
    await detector.close(date(2026, 10, 31))
    events = await detector.events(account)
    # Reported while delinquent; from the charge-off on, nothing: recoveries work it, and it was not cured.
    assert kinds(events) == ["AccountBecameDelinquent", "DelinquencyUpdated"]
    async with detector.http() as client:
        state = (await client.get(f"/v1/accounts/{account}")).json()
    assert state["status"] == "charged_off" and state["delinquency"]["charged_off"]
    assert state["delinquency"]["dpd"] == 5, "DPD frozen on the day the charge-off took effect"


async def test_a_close_that_overtakes_the_days_payments_waits_for_them(detector):
    """The close travels on its own topic and reaches the detector long before the
    payment made that day, which sits behind a backlog on its partition: the day is
    aged only after the payment is applied, so nobody is chased for it."""
    payer, debtor = detector.account("PAYER"), detector.account("DEBTOR")
    for account in (payer, debtor):
        await detector.open(account)
        await _statement(detector, account)
    await detector.settle()
    # Postings for the next day, in front of the payer's payment on its partition.
    await produce_payments(detector, payer, 400, value=date(2026, 10, 30))
    await detector.pay(payer, f"P-{payer}", MINIMUM, date(2026, 10, 27))
    await detector.close(date(2026, 10, 29))
    assert await detector.events(payer) == [], "a payment on the log before the close counts"
    assert kinds(await detector.events(debtor)) == ["AccountBecameDelinquent", "DelinquencyUpdated"], \
        "and the day was aged"


async def produce_payments(detector, account: str, count: int, value: date) -> None:
    """Many one-cent payments for one account, in one go."""
    topic = detector.topics["corebanking.payments.v1"]
    await produce(detector.bootstrap, topic, [encode(payments_pb2.PaymentPosted(
        account_id=account, payment_id=f"B-{i}-{account}", amount=Money(1, "CNY").to_proto(),
        posted_on=date_to_proto(value), value_date=date_to_proto(value)), account) for i in range(count)])
    detector.sent += count
