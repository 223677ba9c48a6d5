"""On a generated portfolio, under each payment rule, on SQLite and PostgreSQL: the
facts the set-based SQL computes are exactly what domain.assess() gives, and the
daily aging decides exactly what domain.decide() decides over them."""

from __future__ import annotations

import asyncio
import random
from contextlib import asynccontextmanager
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select, update

from collections_core.database import Database
from collections_core.migrations import upgrade
from collections_core.clock import ControlledClock, SystemClock
from collections_core.codec import EventCodec, TypeRegistry
from collections_core.unit_of_work import UnitOfWork, unit_of_work_factory
from overdue_detector import aging, business_days, delinquency_events
from overdue_detector.domain import (
    AccountLedger,
    AccountStatus,
    DayAged,
    DelinquencyPolicy,
    Episode,
    Payment,
    PaymentRule,
    Statement,
    StatusChange,
    assess,
    decide,
)
from overdue_detector.positions import refresh_all_positions, refresh_positions
from overdue_detector.states import state_row
from overdue_detector.tables import (
    accounts,
    aged_days,
    aging_progress,
    cycles,
    day_number,
    delinquency_state,
    payments,
    positions,
    status_changes,
)

MIGRATIONS = Path(__file__).resolve().parents[2] / "src/overdue_detector/migrations"
START = date(2027, 12, 1)  # the portfolio spans the leap day 2028-02-29
pytestmark = pytest.mark.integration


def portfolio(seed: int, size: int) -> list[AccountLedger]:
    rng = random.Random(seed)
    ledgers = []
    for n in range(size):
        account_id = f"A{n:04d}"
        statements, paid = [], []
        for k in range(rng.randint(0, 5)):
            cycle = START + timedelta(days=30 * k + rng.randint(0, 3))
            # Ids not in due-date order, mixed case and punctuation, so the waterfall's tie-break is exercised.
            statements.append(Statement(
                statement_id=rng.choice(["s", "S", "s-", "s_"]) + f"{rng.randint(0, 99):02d}{k}",
                cycle_date=cycle, due_date=cycle + timedelta(days=rng.choice([0, 20, 25, 25])),
                minimum_due=rng.choice([0, 5_000, 10_000, 12_345]),
                statement_balance=rng.randint(-1_000, 500_000), currency="CNY"))
        for k in range(rng.randint(0, 6)):
            value = START + timedelta(days=rng.randint(-5, 170))
            paid.append(Payment(payment_id=f"{account_id}-P{k}", amount=rng.choice([1, 2_500, 5_000, 10_000, 30_000]),
                                currency="CNY", posted_date=value + timedelta(days=rng.randint(0, 3)),
                                value_date=value, reversed=rng.random() < 0.2))
        changes = []
        for _ in range(rng.choice([0, 0, 0, 1, 2, 3])):
            changes.append(StatusChange(rng.choice(list(AccountStatus)),
                                        START + timedelta(days=rng.choice([40, 60, 60, 100, 140]))))
        ledgers.append(AccountLedger(account_id, "CNY", tuple(statements), tuple(paid), tuple(changes)))
    return ledgers


async def _store(database: Database, ledgers: list[AccountLedger]) -> None:
    async with database.transaction() as connection:
        await connection.execute(insert(accounts), [
            {"account_id": ledger.account_id, "customer_id": f"C-{ledger.account_id}", "currency": "CNY"}
            for ledger in ledgers])
        statement_rows = [
            {"statement_id": s.statement_id, "account_id": ledger.account_id,
             "cycle_day": day_number(s.cycle_date), "due_day": day_number(s.due_date),
             "minimum_due_minor": s.minimum_due, "statement_balance_minor": s.statement_balance}
            for ledger in ledgers for s in ledger.statements]
        if statement_rows:
            await connection.execute(insert(cycles), statement_rows)
        payment_rows = [
            {"payment_id": p.payment_id, "account_id": ledger.account_id, "amount_minor": p.amount,
             "posted_day": day_number(p.posted_date), "value_day": day_number(p.value_date), "reversed": p.reversed}
            for ledger in ledgers for p in ledger.payments]
        if payment_rows:
            await connection.execute(insert(payments), payment_rows)
        # Inserted in the ledger's canonical order, which is the order the SQL ranks same-day changes by.
        change_rows = [{"account_id": ledger.account_id, "status": c.status.value, "effective_day": day_number(c.effective_on)}
                       for ledger in ledgers for c in ledger.status_changes]
        if change_rows:
            await connection.execute(insert(status_changes), change_rows)


def _stored_ids(ledger: AccountLedger) -> AccountLedger:
    """The ledger with statement ids as stored (made unique across accounts)."""
    return AccountLedger(ledger.account_id, ledger.currency, tuple(
        Statement(s.statement_id + "@" + ledger.account_id, s.cycle_date, s.due_date, s.minimum_due,
                  s.statement_balance, s.currency) for s in ledger.statements), ledger.payments, ledger.status_changes)


def _state(facts) -> tuple:
    state = facts.state
    return (state.dpd, state.bucket, state.past_due_amount, state.cycles_past_due, state.oldest_due_date,
            state.balance, state.credit_available, state.charged_off_on, facts.status, facts.reminders)


@pytest.mark.parametrize("rule", list(PaymentRule), ids=[rule.value for rule in PaymentRule])
async def test_sql_facts_equal_domain_assess(database_url, rule):
    """The facts SQL computes for every account equal what assess() finds in its ledger."""
    policy = DelinquencyPolicy(grace_days=3, due_soon_days=3, payment_rule=rule)
    ledgers = [_stored_ids(ledger) for ledger in portfolio(seed=20261128, size=400)]
    database = Database(database_url)
    try:
        await upgrade(database, MIGRATIONS)
        await _store(database, ledgers)
        await _refresh_positions_both_ways(database, ledgers)
        delinquent = reminders = 0
        for offset in range(0, 190, 7):
            as_of = START + timedelta(days=offset)
            reminded_until = as_of - timedelta(days=7)  # aged weekly: every window opened since the last aged day
            async with database.engine.connect() as connection:
                by_sql = {f.state.account_id: f for f in await aging.account_facts(
                    connection, as_of, policy, reminded_until)}
            assert set(by_sql) == {ledger.account_id for ledger in ledgers}
            for ledger in ledgers:
                want = assess(ledger, as_of, policy, reminded_until)
                got = by_sql[ledger.account_id]
                assert _state(got) == _state(DayAged(want, status=want.status, reminders=want.reminders)), (
                    ledger, as_of)
                assert (got.episode, got.reported_past_due) == (Episode(), False)
                delinquent += want.delinquent
                reminders += len(want.reminders)
        # The generated portfolio must actually exercise the interesting cases.
        assert delinquent > 400 * 28 // 10 and reminders > 10
    finally:
        await database.dispose()


@pytest.mark.parametrize("rule", list(PaymentRule), ids=[rule.value for rule in PaymentRule])
async def test_daily_aging_decides_as_the_domain_does(database_url, rule):
    """Aged weekly, the daily path (SQL facts of the candidates only, domain.decide() per
    account, states and events written in bulk) emits exactly the events, and records
    exactly the states, that decide() gives over assess() of every account's ledger."""
    policy = DelinquencyPolicy(grace_days=3, due_soon_days=3, payment_rule=rule)
    ledgers = sorted((_stored_ids(ledger) for ledger in portfolio(seed=20261129, size=300)),
                     key=lambda ledger: ledger.account_id)
    database = Database(database_url)
    # One instant for every page's transaction: a cure's event carries it.
    codec, clock = EventCodec(TypeRegistry.of_contracts(), "/test"), ControlledClock(datetime(2028, 1, 1, tzinfo=UTC))
    told = {ledger.account_id: (Episode(), False) for ledger in ledgers}  # episode, reported past due
    recorded: dict[str, tuple] = {}
    kinds: Counter[str] = Counter()
    try:
        await upgrade(database, MIGRATIONS)
        await _store(database, ledgers)
        await _refresh_positions_both_ways(database, ledgers)
        last = None
        for offset in range(0, 190, 7):
            as_of = START + timedelta(days=offset)
            committed: list = []
            aged = await business_days.age_business_day(unit_of_work_factory(database, codec, clock, committed.extend),
                                                        database.reading, as_of, policy, "overdue-detector")
            async with database.reading() as connection:
                states = {r.account_id: _row(r) for r in (await connection.execute(select(delinquency_state))).all()}
            expected = UnitOfWork(None, codec, clock)
            for ledger in ledgers:
                snapshot = assess(ledger, as_of, policy, last)
                episode, reported_past_due = told[ledger.account_id]
                decisions = decide(DayAged(snapshot, episode, reported_past_due, snapshot.status, snapshot.reminders))
                kinds.update(delinquency_events.emit(expected, decisions.events, f"C-{ledger.account_id}"))
                if decisions.record is not None:
                    recorded[ledger.account_id] = _row(state_row(decisions.record, decisions.episode))
                    told[ledger.account_id] = (decisions.episode, decisions.record.delinquent)
            assert [(r.key, r.value) for _, r in committed] == [(r.key, r.value) for r in expected.records], as_of
            assert sum(aged.values()) == len(committed), as_of
            assert states == recorded, as_of
            last = as_of
        assert min(kinds.values()) > 5 and len(kinds) == 4, kinds  # every kind of decision was exercised
    finally:
        await database.dispose()


def _row(row) -> tuple:
    """A delinquency_state row as plain values (SQLite gives booleans as integers)."""
    values = list(row)
    values[8], values[9] = bool(values[8]), bool(values[9])
    return tuple(values)


async def _refresh_positions_both_ways(database: Database, ledgers: list[AccountLedger]) -> None:
    """A run of postings' refresh of its accounts (one account, or several) and the backfill of all accounts agree."""
    async with database.transaction() as connection:
        await refresh_all_positions(connection)
        backfilled = (await connection.execute(select(positions).order_by(positions.c.account_id))).all()
        await connection.execute(delete(positions))
        for ledger in ledgers[:5]:
            await refresh_positions(connection, [ledger.account_id])
        await refresh_positions(connection, [ledger.account_id for ledger in ledgers[5:]])
        refreshed = (await connection.execute(select(positions).order_by(positions.c.account_id))).all()
    assert backfilled == refreshed
    assert len(backfilled) == len(ledgers)
    assert any(row.unpaid_from_due_day is None for row in backfilled)
    assert any(row.unpaid_from_due_day is not None for row in backfilled)


async def test_a_large_day_is_aged_page_by_page_yielding_to_the_event_loop(database_url, monkeypatch):
    """Issue 7 item 17: each page of the day is its own transaction whose events reach
    the relay at its commit, and other tasks (probes, the consumer's heartbeats, the
    relay) run between pages, not after the whole day."""
    monkeypatch.setattr(business_days, "PAGE", 25)
    policy = DelinquencyPolicy()
    ledgers = [_stored_ids(ledger) for ledger in portfolio(seed=20261130, size=300)]
    database = Database(database_url)
    commits: list[tuple[int, int]] = []  # (events handed over, ticks of the other task by then)
    ticks = 0

    async def other_task():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    try:
        await upgrade(database, MIGRATIONS)
        await _store(database, ledgers)
        await refresh_all_positions_in(database)
        as_of = START + timedelta(days=120)
        units = unit_of_work_factory(database, EventCodec(TypeRegistry.of_contracts(), "/test"), SystemClock(),
                                     lambda stored: commits.append((len(stored), ticks)))
        other = asyncio.create_task(other_task())
        try:
            aged = await business_days.age_business_day(units, database.reading, as_of, policy, "overdue-detector")
        finally:
            other.cancel()
        delinquent = sum(assess(ledger, as_of, policy).delinquent for ledger in ledgers)
        assert delinquent > 2 * 25, "the day must span several pages"
        pages = [events for events, _ in commits if events]
        assert len(pages) > 2 and max(pages) < sum(pages) == sum(aged.values())
        ran = [seen for _, seen in commits]
        assert ran == sorted(ran) and len(set(ran)) == len(ran), "the other task ran between every two commits"
    finally:
        await database.dispose()


class _Crash(Exception):
    pass


async def test_an_aging_cut_short_resumes_after_its_last_committed_page(database_url, monkeypatch):
    """A crash in the middle of a day loses only the page in flight: aging the day again
    starts after the last committed page, and the day's events are exactly once what
    decide() gives, in order; the day's totals count the pages before the crash."""
    monkeypatch.setattr(business_days, "PAGE", 25)
    policy = DelinquencyPolicy()
    ledgers = sorted((_stored_ids(ledger) for ledger in portfolio(seed=20261201, size=300)),
                     key=lambda ledger: ledger.account_id)
    database = Database(database_url)
    codec, clock = EventCodec(TypeRegistry.of_contracts(), "/test"), ControlledClock(datetime(2028, 1, 1, tzinfo=UTC))
    committed: list = []
    units = unit_of_work_factory(database, codec, clock, committed.extend)
    opened = 0

    @asynccontextmanager
    async def crashing_on_the_fourth():
        nonlocal opened
        async with units() as work:
            yield work
            opened += 1
            if opened == 4:  # the third page, its writes done, before its commit
                raise _Crash()

    try:
        await upgrade(database, MIGRATIONS)
        await _store(database, ledgers)
        await refresh_all_positions_in(database)
        as_of = START + timedelta(days=120)
        with pytest.raises(_Crash):
            await business_days.age_business_day(crashing_on_the_fourth, database.reading, as_of, policy,
                                                 "overdue-detector")
        assert 0 < len(committed)
        aged = await business_days.age_business_day(units, database.reading, as_of, policy, "overdue-detector")
        expected = UnitOfWork(None, codec, clock)
        for ledger in ledgers:
            snapshot = assess(ledger, as_of, policy)
            decisions = decide(DayAged(snapshot, Episode(), False, snapshot.status, snapshot.reminders))
            delinquency_events.emit(expected, decisions.events, f"C-{ledger.account_id}")
        assert len(expected.records) > 3 * 25
        assert [(r.key, r.value) for _, r in committed] == [(r.key, r.value) for r in expected.records]
        assert sum(aged.values()) == len(committed)
        assert await business_days.age_business_day(units, database.reading, as_of, policy, "overdue-detector") is None
    finally:
        await database.dispose()


async def test_a_page_whose_cursor_moved_under_it_is_not_committed(database_url, monkeypatch):
    """Two replicas can never both age a page: each page moves the day's cursor from
    where this replica last left it, or rolls back and gives the day up."""
    monkeypatch.setattr(business_days, "PAGE", 25)
    policy = DelinquencyPolicy()
    ledgers = [_stored_ids(ledger) for ledger in portfolio(seed=20261202, size=300)]
    database = Database(database_url)
    committed: list = []
    units = unit_of_work_factory(database, EventCodec(TypeRegistry.of_contracts(), "/test"), SystemClock(),
                                 committed.append)
    opened = 0

    @asynccontextmanager
    async def another_replica_moves_on():
        nonlocal opened
        opened += 1
        if opened == 3:  # after the first page: another replica ages the second page meanwhile
            while len(committed) < 2:  # the first page is written while the second is decided
                await asyncio.sleep(0.01)
            async with database.transaction() as connection:
                await connection.execute(update(aging_progress).values(aged_through="ZZZ"))
        async with units() as work:
            yield work

    try:
        await upgrade(database, MIGRATIONS)
        await _store(database, ledgers)
        await refresh_all_positions_in(database)
        with pytest.raises(business_days.AgingTakenOver):
            await business_days.age_business_day(another_replica_moves_on, database.reading,
                                                 START + timedelta(days=120), policy, "overdue-detector")
        assert len(committed) == 2 and committed[1], "the day begun and its first page committed, not the second"
        async with database.reading() as connection:
            assert (await connection.execute(select(aged_days))).first() is None
    finally:
        await database.dispose()


async def refresh_all_positions_in(database: Database) -> None:
    async with database.transaction() as connection:
        await refresh_all_positions(connection)
