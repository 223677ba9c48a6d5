"""The runtime against a real broker, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections import defaultdict

import pytest
from collections_core.contracts.collections.v1 import delinquency_pb2
from support import CLEAN_EXIT, encode, effects_per_payment, header, ledger_service, payment, produce, read_topic

pytestmark = pytest.mark.integration
PAYMENT = "corebanking.v1.PaymentPosted"


async def test_every_event_takes_effect_once_and_its_output_keeps_key_order(kafka, database_url, topics, tmp_path):
    accounts = [f"A-{i}" for i in range(12)]
    records = [encode(payment(accounts[i % 12], f"P-{i:04d}"), accounts[i % 12]) for i in range(600)]
    # The same events delivered twice (at-least-once upstream) must not take effect twice.
    await produce(kafka.bootstrap, topics["input"], records + records[:100])
    service = ledger_service(tmp_path, database_url, kafka.bootstrap, topics["input"], topics["output"],
                             name=topics["service"]).start()
    try:
        service.wait_healthy()
        out = await read_topic(kafka.bootstrap, topics["output"], expect=600)
    finally:
        code = service.stop()
    assert code in CLEAN_EXIT, "graceful shutdown"
    assert (await effects_per_payment(database_url, PAYMENT)) == {f"P-{i:04d}": 1 for i in range(600)}
    assert len(out) == 600
    sent_order = defaultdict(list)
    for i in range(600):
        sent_order[accounts[i % 12]].append(f"P-{i:04d}")
    received = defaultdict(list)
    for record in sorted(out, key=lambda r: (r.partition, r.offset)):
        cured = delinquency_pb2.AccountCured.FromString(record.value)
        received[cured.account_id].append(cured.payment_id)
    assert received == sent_order
    assert all(header(r, "ce_source") == f"/card-collections/{topics['service']}" for r in out)
