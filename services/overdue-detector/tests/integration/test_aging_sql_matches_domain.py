"""The set-based SQL aging gives exactly what domain.assess() gives, on a
generated portfolio, under each payment rule, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select

from collections_core.database import Database
from collections_core.migrations import upgrade
from overdue_detector import aging
from overdue_detector.positions import refresh_all_positions, refresh_position
from overdue_detector.domain import (
    AccountLedger,
    AccountStatus,
    DelinquencyPolicy,
    Payment,
    PaymentRule,
    Statement,
    StatusChange,
    assess,
)
from overdue_detector.tables import (
    accounts,
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


@pytest.mark.parametrize("rule", list(PaymentRule), ids=[rule.value for rule in PaymentRule])
async def test_sql_aging_equals_domain_assess(database_url, rule):
    policy = DelinquencyPolicy(grace_days=3, due_soon_days=3, payment_rule=rule)
    ledgers = [_stored_ids(ledger) for ledger in portfolio(seed=20261128, size=400)]
    database = Database(database_url)
    try:
        await upgrade(database, MIGRATIONS)
        await _store(database, ledgers)
        await _refresh_positions_both_ways(database, ledgers)
        compared = delinquent = due = 0
        for offset in range(0, 190, 7):
            as_of = START + timedelta(days=offset)
            async with database.engine.connect() as connection:
                by_sql = {a.account_id: a for a in await aging.age_accounts(connection, as_of, policy, everyone=True)}
                # The daily path reads only candidates: it must find every delinquent account, unchanged,
                # and record each as its state (rolled back with the connection, so days stay independent).
                daily = [a async for chunk in aging.age_and_record(connection, as_of, policy, chunk=50) for a in chunk]
                recorded = (await connection.execute(select(delinquency_state))).all()
            assert daily == [a for a in by_sql.values() if a.past_due > 0], as_of
            assert {(r.account_id, r.as_of_day, r.dpd, r.bucket, r.past_due_minor, r.oldest_due_day,
                     bool(r.charged_off), bool(r.episode_open)) for r in recorded} == {
                (a.account_id, day_number(as_of), a.dpd, a.bucket.value, a.past_due,
                 day_number(a.oldest_due_date), a.charged_off_on is not None, a.charged_off_on is None)
                for a in daily}, as_of
            # Aged weekly here: reminders cover every window opened since the last aged day.
            reminded_until = as_of - timedelta(days=7)
            async with database.engine.connect() as connection:
                soon_sql = await aging.due_soon(connection, as_of, policy, reminded_until)
            assert set(by_sql) == {ledger.account_id for ledger in ledgers}
            expected_soon = []
            for ledger in ledgers:
                want = assess(ledger, as_of, policy, reminded_until)
                got = by_sql[ledger.account_id]
                assert (got.dpd, got.bucket, got.past_due, got.cycles_past_due, got.oldest_due_date, got.balance,
                        got.credit_available, got.charged_off_on) == (
                    want.dpd, want.bucket, want.past_due_amount, want.cycles_past_due, want.oldest_due_date,
                    want.balance, want.credit_available, want.charged_off_on), (ledger, as_of)
                expected_soon += [(ledger.account_id, c.statement_id, c.due_date, c.amount) for c in want.due_soon]
                compared += 1
                delinquent += want.delinquent
            assert [(s.account_id, s.statement_id, s.due_date, s.amount) for s in soon_sql] == expected_soon, as_of
            due += len(expected_soon)
        # The generated portfolio must actually exercise the interesting cases.
        assert delinquent > compared // 10 and due > 10
    finally:
        await database.dispose()


async def _refresh_positions_both_ways(database: Database, ledgers: list[AccountLedger]) -> None:
    """The handlers' one-account refresh and the backfill of all accounts agree."""
    async with database.transaction() as connection:
        await refresh_all_positions(connection)
        backfilled = (await connection.execute(select(positions).order_by(positions.c.account_id))).all()
        await connection.execute(delete(positions))
        for ledger in ledgers:
            await refresh_position(connection, ledger.account_id)
        one_by_one = (await connection.execute(select(positions).order_by(positions.c.account_id))).all()
    assert backfilled == one_by_one
    assert len(backfilled) == len(ledgers)
    assert any(row.unpaid_from_due_day is None for row in backfilled)
    assert any(row.unpaid_from_due_day is not None for row in backfilled)
