"""The simulated bank's own book: pure, seeded, and counting delinquency the detector's way."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from collections_core.contracts.corebanking.v1 import accounts_pb2, payments_pb2, statements_pb2
from collections_core.wire import date_from_proto
from card_simulator.bank import GRACE_DAYS, BUSINESS_DAYS, Bill, Book, CoreBanking, business_days
from card_simulator.population import Segment, generate


def run(seed: int, accounts: int, days: int) -> tuple[CoreBanking, list]:
    bank = CoreBanking(generate(seed, accounts), seed)
    postings = []
    for number, day in enumerate(business_days(date(2027, 1, 4), days)):
        postings += (bank.open_accounts(day) if number == 0 else []) + bank.day(day)
    return bank, postings


def test_the_same_seed_gives_the_same_run_and_another_seed_another():
    _, first = run(11, 40, 60)
    _, again = run(11, 40, 60)
    _, other = run(12, 40, 60)
    as_bytes = [(p.topic, p.key, p.message.SerializeToString()) for p in first]
    assert as_bytes == [(p.topic, p.key, p.message.SerializeToString()) for p in again]
    assert as_bytes != [(p.topic, p.key, p.message.SerializeToString()) for p in other]


def test_every_business_day_ends_with_its_close_and_weekends_are_skipped():
    days = list(business_days(date(2027, 1, 8), 3))  # a Friday
    assert days == [date(2027, 1, 8), date(2027, 1, 11), date(2027, 1, 12)]
    bank = CoreBanking(generate(1, 5), 1)
    postings = bank.day(days[0])
    assert postings[-1].topic == BUSINESS_DAYS and sum(p.topic == BUSINESS_DAYS for p in postings) == 1


@pytest.mark.parametrize("case, due_offset, unpaid, dpd", [
    ("nothing owed", -40, 0, 0),
    ("unpaid but within grace", -GRACE_DAYS, 100, 0),
    ("first day past grace", -(GRACE_DAYS + 1), 100, GRACE_DAYS + 1),
    ("a month late", -31, 100, 31),
    ("paid in full", -31, 0, 0),
])
def test_days_past_due_count_from_the_oldest_unpaid_due_date_after_grace(case, due_offset, unpaid, dpd):
    today = date(2027, 3, 1)
    account = generate(1, 1)[0]
    book = Book(account, bills=[Bill("S1", today + timedelta(days=due_offset), 100, 100 - unpaid)])
    assert book.days_past_due(today) == dpd, case


def test_a_never_paying_customer_is_charged_off_past_180_days_and_hears_nothing_more():
    bank, postings = run(5, 200, 230)
    never = {a for a, b in bank.books.items() if b.account.segment == Segment.NEVER_PAYS}
    assert never, "the seed must draw some never-paying customers"
    charged = {p.key for p in postings if isinstance(p.message, accounts_pb2.AccountStatusChanged)}
    assert charged and charged <= never | {a for a, b in bank.books.items()
                                            if b.account.segment in (Segment.PROMISES_BROKEN, Segment.HARDSHIP)}
    assert not any(isinstance(p.message, payments_pb2.PaymentPosted) and p.key in never for p in postings)


def test_an_always_paying_customer_is_never_delinquent():
    bank, _ = run(5, 200, 120)
    payers = [b for b in bank.books.values() if b.account.segment == Segment.ALWAYS_PAYS]
    assert payers and all(not b.unpaid() or b.days_past_due(date(2027, 6, 18)) == 0 for b in payers)


def test_a_statement_minimum_is_this_cycles_own_and_never_more_than_the_new_balance():
    _, postings = run(9, 100, 60)
    statements = [p.message for p in postings if isinstance(p.message, statements_pb2.StatementIssued)]
    assert statements
    for statement in statements:
        assert 0 <= statement.minimum_due.amount_minor <= statement.statement_balance.amount_minor
        assert statement.minimum_due.currency == statement.statement_balance.currency


def test_a_bounced_payment_is_reversed_on_the_next_business_day_and_owed_again():
    bank, postings = run(3, 300, 80)
    reversed_ids = {p.message.payment_id for p in postings if isinstance(p.message, payments_pb2.PaymentReversed)}
    posted = {p.message.payment_id: i for i, p in enumerate(postings)
              if isinstance(p.message, payments_pb2.PaymentPosted)}
    assert reversed_ids, "about one payment in fifty bounces"
    assert reversed_ids <= set(posted)
    positions = {p.message.payment_id: i for i, p in enumerate(postings)
                 if isinstance(p.message, payments_pb2.PaymentReversed)}
    assert all(positions[pid] > posted[pid] for pid in reversed_ids)


def test_the_bank_counts_delinquent_accounts_per_bucket_as_the_detector_names_them():
    bank, _ = run(5, 300, 200)
    counts = bank.delinquent_by_bucket(date(2027, 10, 15))
    assert counts and set(counts) <= {"M1", "M2", "M3", "M4", "M5", "M6", "M7+"}


def test_a_self_curing_customer_pays_within_days_of_a_reminder_reaching_them():
    bank = CoreBanking(generate(5, 300), 5)
    days = list(business_days(date(2027, 1, 4), 60))
    reached: dict[str, date] = {}
    paid: dict[str, date] = {}
    for number, day in enumerate(days):
        postings = (bank.open_accounts(day) if number == 0 else []) + bank.day(day)
        paid |= {p.key: day for p in postings if isinstance(p.message, payments_pb2.PaymentPosted)
                 and p.key in reached and p.key not in paid}
        for account_id, book in bank.books.items():
            if book.account.segment == Segment.SELF_CURES and book.days_past_due(day) > 0 and account_id not in reached:
                bank.reached(account_id, day)
                reached[account_id] = day
    assert reached, "the seed must make some self-curing customers late"
    assert all((paid[a] - reached[a]).days <= 5 for a in reached), "pays within days, weekends included"


def test_a_customer_who_keeps_promises_pays_the_arrears_by_the_promised_date_and_a_breaker_does_not():
    bank = CoreBanking(generate(5, 300), 5)
    days = list(business_days(date(2027, 1, 4), 70))
    promised: dict[str, date] = {}
    paid: dict[str, date] = {}
    for number, day in enumerate(days):
        postings = (bank.open_accounts(day) if number == 0 else []) + bank.day(day)
        paid |= {p.key: day for p in postings if isinstance(p.message, payments_pb2.PaymentPosted)
                 and p.key in promised and p.key not in paid}
        for account_id, book in bank.books.items():
            if (book.account.segment in (Segment.PROMISES_KEPT, Segment.PROMISES_BROKEN)
                    and book.days_past_due(day) > 0 and account_id not in promised):
                assert bank.arrears(account_id, day) > 0
                bank.promise(account_id, day + timedelta(days=7))
                promised[account_id] = day + timedelta(days=7)
    keepers = {a for a in promised if bank.books[a].account.segment == Segment.PROMISES_KEPT}
    breakers = set(promised) - keepers
    assert keepers and breakers, "the seed must draw both kinds"
    assert all(a in paid and paid[a] <= promised[a] + timedelta(days=2) for a in keepers), "weekends may delay"
    assert all(bank.arrears(a, days[-1]) > 0 for a in breakers), "a promise breaker stays in arrears"


def test_a_history_is_published_back_dated_on_the_first_day_and_leaves_its_bad_payers_in_arrears():
    first = date(2027, 1, 4)
    bank = CoreBanking(generate(54, 40), 54, history_days=120)
    postings = bank.open_accounts(first) + bank.day(first)
    opened = {date_from_proto(p.message.opened_on) for p in postings
              if isinstance(p.message, accounts_pb2.AccountOpened)}
    assert opened == {first - timedelta(days=120)}
    cycles = [date_from_proto(p.message.cycle_date) for p in postings
              if isinstance(p.message, statements_pb2.StatementIssued)]
    assert min(cycles) >= first - timedelta(days=120) and len(cycles) > 3 * 40, "about four statements each"
    assert sum(p.topic == BUSINESS_DAYS for p in postings) == 1, "no business day of the history is closed"
    behind = {a for a, b in bank.books.items() if b.days_past_due(first) > 0}
    assert behind and all(bank.books[a].account.segment not in (Segment.ALWAYS_PAYS, Segment.PAYS_WITHIN_GRACE)
                          for a in behind), "those who pay paid through the history"
    assert max(b.days_past_due(first) for b in bank.books.values()) > 60
