"""Properties of aging that must hold for any ledger, checked with Hypothesis."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from overdue_factories import ACCOUNT, CURRENCY

from overdue_detector.domain import (
    DEFAULT_POLICY,
    AccountLedger,
    Bucket,
    Cured,
    DayAged,
    Episode,
    Payment,
    Statement,
    assess,
    decide,
)

# Per test, not a global profile: other suites in the session keep their own settings.
properties = settings(deadline=None)

BASE = date(2025, 1, 5)
days = st.integers(-30, 220).map(lambda n: BASE + timedelta(days=n))


@st.composite
def statements(draw) -> list[Statement]:
    due_after_cycle = draw(st.integers(15, 25))
    cycle, out = BASE, []
    for i in range(draw(st.integers(0, 5))):
        minimum = draw(st.integers(0, 50_000))
        balance = draw(st.integers(minimum, 500_000))
        out.append(Statement(f"S{i}", cycle, cycle + timedelta(days=due_after_cycle), minimum, balance, CURRENCY))
        cycle += timedelta(days=draw(st.integers(28, 31)))
    return out


@st.composite
def payments(draw) -> list[Payment]:
    out = []
    for i in range(draw(st.integers(0, 6))):
        value = BASE + timedelta(days=draw(st.integers(-30, 180)))
        posted = value + timedelta(days=draw(st.integers(0, 5)))
        out.append(Payment(f"P{i}", draw(st.integers(1, 60_000)), CURRENCY, posted, value))
    return out


def build(
    statements_: Sequence[Statement] = (), payments_: Sequence[Payment] = (), reversed_ids: Sequence[str] = ()
) -> AccountLedger:
    book = AccountLedger(ACCOUNT, CURRENCY)
    for statement in statements_:
        book = book.record_statement(statement)
    for payment in payments_:
        book = book.record_payment(payment)
    for payment_id in reversed_ids:
        book = book.reverse_payment(payment_id)
    return book


@st.composite
def ledgers(draw) -> AccountLedger:
    pays = draw(payments())
    reversed_ids = draw(st.sets(st.sampled_from([p.payment_id for p in pays]))) if pays else set()
    return build(draw(statements()), pays, sorted(reversed_ids))


def oldest_first_by_hand(book: AccountLedger, on: date) -> dict[str, int]:
    """Reference model of the card rule: day by day, hand each payment valued that day to
    the oldest minimum still unpaid among the statements issued by then."""
    unpaid: dict[str, int] = {}
    for offset in range((on - BASE).days + 60):
        today = BASE - timedelta(days=30) + timedelta(days=offset)
        if today > on:
            break
        unpaid |= {s.statement_id: s.minimum_due for s in book.statements if s.cycle_date == today}
        for payment in book.payments:
            if payment.reversed or payment.value_date != today:
                continue
            left = payment.amount
            for statement_id in unpaid:  # statements were issued in this order
                paid = min(left, unpaid[statement_id])
                unpaid[statement_id] -= paid
                left -= paid
    return unpaid


@properties
@given(st.data())
def test_arrival_order_does_not_change_the_state(data):
    stmts, pays = data.draw(statements()), data.draw(payments())
    reversed_ids = sorted(data.draw(st.sets(st.sampled_from([p.payment_id for p in pays])))) if pays else []
    events = [("statement", s) for s in stmts] + [("payment", p) for p in pays]

    arrival = list(data.draw(st.permutations(events)))
    for payment_id in reversed_ids:  # a reversal can only follow its payment
        posted_at = next(
            i for i, (kind, fact) in enumerate(arrival) if kind == "payment" and fact.payment_id == payment_id
        )
        arrival.insert(data.draw(st.integers(posted_at + 1, len(arrival))), ("reversal", payment_id))
    arrival += data.draw(st.lists(st.sampled_from(arrival), max_size=3)) if arrival else []  # at-least-once redelivery

    book = AccountLedger(ACCOUNT, CURRENCY)
    for kind, fact in arrival:
        book = {"statement": book.record_statement, "payment": book.record_payment, "reversal": book.reverse_payment}[
            kind
        ](fact)
    canonical = build(stmts, pays, reversed_ids)

    assert book == canonical
    for on in data.draw(st.lists(days, min_size=1, max_size=5)):
        assert assess(book, on) == assess(canonical, on)


@properties
@given(ledgers(), days)
def test_waterfall_matches_paying_the_oldest_minimum_first(book, on):
    snapshot = assess(book, on)
    unpaid = oldest_first_by_hand(book, on)

    assert {c.statement_id: c.amount for c in snapshot.past_due} == {
        s.statement_id: unpaid[s.statement_id]
        for s in book.statements
        if s.statement_id in unpaid and unpaid[s.statement_id] > 0
        and on > s.due_date + timedelta(days=DEFAULT_POLICY.grace_days)
    }


@properties
@given(ledgers(), days)
def test_delinquent_iff_past_due_amount_is_not_zero(book, on):
    snapshot = assess(book, on)

    assert snapshot.delinquent == (snapshot.past_due_amount > 0)
    assert (snapshot.dpd > 0) == snapshot.delinquent
    assert (snapshot.bucket is Bucket.M0) == (not snapshot.delinquent)
    if snapshot.delinquent:
        assert snapshot.dpd > DEFAULT_POLICY.grace_days


@properties
@given(ledgers(), days)
def test_cured_exactly_when_the_past_due_amount_reaches_zero(book, on):
    previous, current = assess(book, on), assess(book, on + timedelta(days=1))

    told = previous.delinquent and not previous.charged_off
    decisions = decide(DayAged(current, Episode(open=told), reported_past_due=told, status=current.status))
    cured = any(isinstance(d, Cured) for d in decisions.events)

    assert cured == (previous.past_due_amount > 0 and not previous.charged_off and current.past_due_amount == 0
                     and not current.charged_off)


@properties
@given(statements(), days, st.integers(1, 60))
def test_without_payments_dpd_rises_by_one_per_business_day(stmts, start, span):
    book = build(stmts)
    snapshots = [assess(book, start + timedelta(days=k)) for k in range(span + 1)]
    assume(snapshots[0].delinquent)

    assert [s.dpd for s in snapshots] == [snapshots[0].dpd + k for k in range(span + 1)]


@properties
@given(ledgers(), days)
def test_past_due_never_exceeds_the_minimums(book, on):
    snapshot = assess(book, on)
    minimums = {s.statement_id: s.minimum_due for s in book.statements}

    assert snapshot.past_due_amount <= sum(s.minimum_due for s in book.statements if s.cycle_date <= on)
    assert all(0 < c.amount <= minimums[c.statement_id] for c in snapshot.past_due + snapshot.reminders)


@properties
@given(ledgers(), days)
def test_money_stays_int(book, on):
    snapshot = assess(book, on)
    amounts = [snapshot.past_due_amount, snapshot.balance, snapshot.credit_available]
    amounts += [c.amount for c in snapshot.past_due + snapshot.reminders]

    assert all(type(amount) is int for amount in amounts)
    assert type(snapshot.dpd) is int


@properties
@given(ledgers(), days, st.integers(1, 60_000), days)
def test_another_payment_never_makes_things_worse(book, on, amount, value):
    extra = Payment("P-extra", amount, CURRENCY, value, value)
    before, after = assess(book, on), assess(book.record_payment(extra), on)

    assert after.past_due_amount <= before.past_due_amount
    assert after.dpd <= before.dpd


@properties
@given(statements(), payments(), days)
def test_a_reversed_payment_counts_as_never_made(stmts, pays, on):
    assume(pays)
    without = assess(build(stmts, pays[1:]), on)

    assert assess(build(stmts, pays, [pays[0].payment_id]), on) == without
