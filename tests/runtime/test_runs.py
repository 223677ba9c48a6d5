"""Which events of a poll batch reach a batch handler together: a run of consecutive
events whose types share the handler (the router registers one for both
AccountBecameDelinquent and DelinquencyUpdated, which the detector emits in turns for
each account), cut by an event another handler takes. Real SQLite store, no broker:
the runs are decided inside the batch's transaction."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiokafka.structs import ConsumerRecord

from collections_core.clock import ControlledClock
from collections_core.codec import EventCodec, TypeRegistry
from collections_core.consumer import ConsumerRunner
from collections_core.contracts.collections.v1 import delinquency_pb2
from collections_core.database import Database
from collections_core.storage import metadata
from collections_core.tracing import TraceContext

pytestmark = pytest.mark.integration
NOW = datetime(2031, 3, 4, 2, 0, tzinfo=UTC)


def _records(codec: EventCodec, messages) -> list[ConsumerRecord]:
    records = []
    for offset, message in enumerate(messages):
        headers, value = codec.encode(message, message.account_id, NOW, TraceContext.new())
        records.append(ConsumerRecord("collections.delinquency.v1", 0, offset, 0, 0, message.account_id.encode(),
                                      value, None, 0, len(value), headers))
    return records


async def test_types_sharing_a_batch_handler_make_one_run(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'runs.db'}")
    codec = EventCodec(TypeRegistry.of_contracts(), "/tests")
    runs: list[list[str]] = []

    async def evaluate(events, work) -> None:
        runs.append([event.message.account_id for event in events])

    async def cured(event, work) -> None:
        runs.append([f"cured {event.message.account_id}"])

    became, updated = (f"collections.v1.{name}" for name in ("AccountBecameDelinquent", "DelinquencyUpdated"))
    runner = ConsumerRunner(service="runs", bootstrap_servers="127.0.0.1:1", group_id="runs", topics=[],
                            handlers={"collections.v1.AccountCured": cured},
                            batch_handlers={became: evaluate, updated: evaluate}, database=database, codec=codec,
                            clock=ControlledClock(NOW), dead_letter_topic="runs.dlq")
    messages = [delinquency_pb2.AccountBecameDelinquent(account_id="A1"),
                delinquency_pb2.DelinquencyUpdated(account_id="A1"),
                delinquency_pb2.AccountBecameDelinquent(account_id="A2"),
                delinquency_pb2.DelinquencyUpdated(account_id="A2"),
                delinquency_pb2.AccountCured(account_id="A3"),
                delinquency_pb2.DelinquencyUpdated(account_id="A4")]
    try:
        async with database.transaction() as connection:
            await connection.run_sync(metadata.create_all)
        deliveries = [runner._decode(record) for record in _records(codec, messages)]
        assert [d.type for d in deliveries][:2] == [became, updated]
        async with database.transaction() as connection:
            await runner._apply(connection, deliveries, [])
    finally:
        await database.dispose()
    assert runs == [["A1", "A1", "A2", "A2"], ["cured A3"], ["A4"]]
