"""Invariants of the handlers over generated event sequences, on a real SQLite database."""

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

import case_router
from case_router.tables import cases
from collections_core.clock import ControlledClock
from collections_core.codec import EventCodec, TypeRegistry
from collections_core.contracts.collections.v1 import delinquency_pb2
from collections_core.database import Database
from collections_core.migrations import upgrade
from collections_core.money import Money
from collections_core.tracing import TraceContext
from collections_core.unit_of_work import UnitOfWork
from collections_core.wire import date_to_proto
from router_handlers import HANDLERS

MIGRATIONS = Path(case_router.__file__).parent / "migrations"
CODEC = EventCodec(TypeRegistry.of_contracts(), "/test")
START = date(2026, 11, 2)

steps = st.lists(st.tuples(st.sampled_from(["A-1", "A-2"]), st.sampled_from(["day", "cured"]),
                           st.integers(0, 200), st.integers(0, 40)), min_size=1, max_size=12)


def _message(account: str, kind: str, dpd: int, offset: int):
    day = date_to_proto(START + timedelta(days=offset))
    if kind == "cured":
        return delinquency_pb2.AccountCured(account_id=account, customer_id="C", business_date=day)
    return delinquency_pb2.DelinquencyUpdated(
        account_id=account, customer_id="C", business_date=day, state=delinquency_pb2.DelinquencyState(
            dpd=dpd, bucket=2, past_due_amount=Money(1_000, "CNY").to_proto(), balance=Money(9_000, "CNY").to_proto()))


async def _run(tmp_path: Path, sequence) -> tuple[dict, int]:
    database = Database(f"sqlite:///{tmp_path / uuid.uuid4().hex}.db")
    await upgrade(database, MIGRATIONS)
    clock = ControlledClock(datetime(2026, 11, 2, 1, tzinfo=UTC))
    try:
        emitted = 0
        for account, kind, dpd, offset in sequence:
            message = _message(account, kind, dpd, offset)
            headers, value = CODEC.encode(message, account, clock.now(), TraceContext.new())
            event = CODEC.decode(headers, value)
            async with database.transaction() as connection:
                work = UnitOfWork(connection, CODEC, clock, cause=event)
                await HANDLERS[event.type](event, work)
                emitted += len(work.records)
                await work.flush()
        async with database.engine.connect() as connection:
            open_cases = dict((await connection.execute(select(cases.c.account_id, func.count())
                                                        .where(cases.c.status == "open")
                                                        .group_by(cases.c.account_id))).all())
        return open_cases, emitted
    finally:
        await database.dispose()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps)
def test_at_most_one_open_case_per_account(tmp_path, sequence):
    open_cases, _ = asyncio.run(_run(tmp_path, sequence))
    assert all(count == 1 for count in open_cases.values())


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps)
def test_replaying_every_day_a_second_time_emits_nothing_more(tmp_path, sequence):
    days = [s for s in sequence if s[1] == "day"]
    sorted_days = sorted(days, key=lambda s: s[3])
    _, once = asyncio.run(_run(tmp_path, sorted_days))
    _, twice = asyncio.run(_run(tmp_path, [s for s in sorted_days for _ in (0, 1)]))
    assert once == twice
