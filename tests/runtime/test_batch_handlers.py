"""Batch handlers: a run of consecutive events of one type reaches the handler in one
call, events of another type split the run so per-key order holds, and a bad event
in a batch is dead-lettered alone while the rest take effect once. The ledger
service runs in batch mode as its own process on the real broker, on SQLite and on
PostgreSQL."""

from __future__ import annotations

from collections import defaultdict

import pytest
from collections_core.contracts.collections.v1 import delinquency_pb2
from collections_core.contracts.corebanking.v1 import payments_pb2
from collections_core.database import Database
from collections_core.tracing import TraceContext
from sqlalchemy import text
from support import encode, header, ledger_service, payment, produce, read_topic

pytestmark = pytest.mark.integration


async def effects_in_order(database_url: str) -> list[tuple[str, str]]:
    database = Database(database_url)
    try:
        async with database.engine.connect() as connection:
            rows = await connection.execute(text("SELECT ce_type, payment_id FROM effects ORDER BY id"))
            return [(row.ce_type, row.payment_id) for row in rows]
    finally:
        await database.dispose()


async def test_runs_of_one_type_are_handled_together_in_order_and_a_bad_event_goes_alone(
        kafka, database_url, topics, tmp_path):
    accounts = ["A-1", "A-2", "A-3"]
    records, sent, trace_of = [], defaultdict(list), {}
    for i in range(240):
        account = accounts[i % 3]
        if i % 37 == 5:  # another type in the middle of the payments: it splits the run
            item = f"{account}/C-{i}"
            records.append(encode(delinquency_pb2.AccountCured(account_id=account, payment_id=item), account))
        elif i == 100:
            item = f"{account}/BUG-{i}"
            records.append(encode(payment(account, item), account))
        elif i == 150:
            item = f"{account}/USD-{i}"
            records.append(encode(payment(account, item, currency="USD"), account))
        else:
            item = f"{account}/P-{i}"
            records.append(encode(payment(account, item), account))
        sent[account].append(item)
        trace_of[item] = TraceContext.parse(dict(records[-1][2])["traceparent"].decode()).trace_id
    await produce(kafka.bootstrap, topics["input"], records)
    service = ledger_service(tmp_path, database_url, kafka.bootstrap, topics["input"], topics["output"],
                             name=topics["service"])
    service.env["LEDGER_BATCH"] = "1"
    service.start()
    try:
        service.wait_healthy()
        payments = [item for items in sent.values() for item in items if "/P-" in item]
        out = await read_topic(kafka.bootstrap, topics["output"], expect=len(payments))
        dead = await read_topic(kafka.bootstrap, topics["dlq"], expect=2)
    finally:
        service.stop()

    effects = await effects_in_order(database_url)
    batch_sizes = [int(size) for kind, size in effects if kind == "batch"]
    assert max(batch_sizes) > 1, "payments were handled in runs, not one by one"
    handled = defaultdict(list)
    for kind, item in effects:
        if kind != "batch":
            handled[item.split("/")[0]].append(item)
    expected = {a: [i for i in items if "BUG" not in i and "USD" not in i] for a, items in sent.items()}
    for account in accounts:
        assert handled[account] == expected[account], f"{account}: each event once, in the order it was sent"

    received = defaultdict(list)
    for record in sorted(out, key=lambda r: (r.partition, r.offset)):
        cured = delinquency_pb2.AccountCured.FromString(record.value)
        received[cured.account_id].append(cured.payment_id)
    assert dict(received) == {a: [i for i in items if "/P-" in i] for a, items in expected.items()}
    for record in out:
        cured = delinquency_pb2.AccountCured.FromString(record.value)
        follows = TraceContext.parse(header(record, "traceparent")).trace_id
        assert follows == trace_of[cured.payment_id], "an emitted event follows its own cause in the batch"
    letters = {payments_pb2.PaymentPosted.FromString(r.value).payment_id: header(r, "dlq-code") for r in dead}
    assert letters == {"A-2/BUG-100": "handler-error", "A-1/USD-150": "rejected"}
