"""A core-banking fact whose date or amount cannot be read is Rejected with the field
named (dead-lettered at once), never retried as a handler error; the good facts of
the same account keep flowing. Real broker, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest

from collections_core.contracts.common.v1 import types_pb2
from collections_core.contracts.corebanking.v1 import (
    accounts_pb2,
    business_days_pb2,
    payments_pb2,
    statements_pb2,
)
from collections_core.money import Money
from collections_core.wire import date_to_proto

pytestmark = pytest.mark.integration

IMPOSSIBLE = types_pb2.Date(year=2026, month=2, day=30)


async def test_unreadable_dates_and_amounts_are_rejected_naming_the_field(detector):
    account, other = detector.account(), detector.account("LATE-OPENED")
    await detector.open(account)
    await detector.settle()
    cycle, due = date_to_proto(date(2026, 10, 1)), date_to_proto(date(2026, 10, 25))
    bad = {
        "opened_on": ("corebanking.accounts.v1", other, accounts_pb2.AccountOpened(
            account_id=other, customer_id="C-1", currency="CNY", opened_on=IMPOSSIBLE)),
        "due_date": ("corebanking.statements.v1", account, statements_pb2.StatementIssued(
            account_id=account, statement_id=f"S1-{account}", cycle_date=cycle, due_date=IMPOSSIBLE,
            statement_balance=Money(1_000, "CNY").to_proto(), minimum_due=Money(100, "CNY").to_proto())),
        "minimum_due": ("corebanking.statements.v1", account, statements_pb2.StatementIssued(
            account_id=account, statement_id=f"S2-{account}", cycle_date=cycle, due_date=due,
            statement_balance=Money(1_000, "CNY").to_proto(),
            minimum_due=types_pb2.Money(amount_minor=100, currency="cny"))),
        "amount": ("corebanking.payments.v1", account, payments_pb2.PaymentPosted(
            account_id=account, payment_id=f"P1-{account}", posted_on=cycle, value_date=cycle)),
        "value_date": ("corebanking.payments.v1", account, payments_pb2.PaymentPosted(
            account_id=account, payment_id=f"P2-{account}", amount=Money(100, "CNY").to_proto(), posted_on=cycle,
            value_date=types_pb2.Date(year=2026, month=13, day=1))),
        "effective_on": ("corebanking.accounts.v1", account, accounts_pb2.AccountStatusChanged(
            account_id=account, status=accounts_pb2.ACCOUNT_STATUS_BLOCKED)),
        "business_date": ("corebanking.business-days.v1", "business-day", business_days_pb2.BusinessDayClosed(
            business_date=IMPOSSIBLE)),
    }
    for kind, key, message in bad.values():
        await detector.send(kind, message, key)
    await detector.pay(account, f"P3-{account}", 100, date(2026, 10, 2))  # a good fact behind the bad ones
    await detector.settle()

    letters = [letter for key in (account, other, "business-day")
               for letter in await detector.events(key, topic="overdue-detector.dlq.v1")]
    reasons = {dict(record.headers)["dlq-reason"].decode(): code for code, record in letters}
    assert len(reasons) == len(bad)
    assert set(reasons.values()) == {"rejected"}, "dead-lettered at once, not after handler retries"
    for field in bad:
        assert any(reason.startswith(field + " ") for reason in reasons), (field, reasons)
    async with detector.http() as client:
        ledger = (await client.get(f"/v1/accounts/{account}")).json()
    assert [p["payment_id"] for p in ledger["payments"]] == [f"P3-{account}"]
    assert ledger["statements"] == [] and ledger["status"] == "open"
