"""No single record stops the consumer (issue 7, runtime item 1) and the handler
error paths: a bug is retried and then dead-lettered, a transient error is retried
and never dead-lettered (item 2). The ledger service runs as its own process on the
real broker, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from collections_core.contracts.collections.v1 import delinquency_pb2
from collections_core.database import Database
from sqlalchemy import text
from support import effects_per_payment, encode, header, ledger_service, payment, produce, read_topic

pytestmark = pytest.mark.integration
PAYMENT = "corebanking.v1.PaymentPosted"


def cured(records) -> list[str]:
    return sorted(delinquency_pb2.AccountCured.FromString(r.value).payment_id for r in records)


def with_header(record, name: str, value: bytes | None):
    key, body, headers = record
    return key, body, [(k, value if k == name else v) for k, v in headers]


def without_header(record, name: str):
    key, body, headers = record
    return key, body, [(k, v) for k, v in headers if k != name]


async def test_records_the_runtime_cannot_store_are_dead_lettered_and_the_partition_moves_on(
        kafka, database_url, topics, tmp_path):
    account = "A-1"

    def good(i: int):
        return encode(payment(account, f"P-{i:04d}"), account)

    key, value, headers = good(1)
    # Headers outside the CloudEvents envelope, one of them null (Kafka allows it): not our business.
    noisy = (key, value, [("baggage", None), *headers, ("x-partner-blob", b"\xff\xfe")])
    key, value, headers = with_header(good(2), "ce_type", b"corebanking.v1.NoSuchEvent")
    unknown_with_null = (key, value, [("baggage", None), *headers])
    too_long_id = encode(payment(account, "P-long-id"), account, event_id="E" * 300)
    nul_in_id = encode(payment(account, "P-nul-id"), account, event_id="evt\x00-1")
    no_subject = without_header(encode(payment(account, "P-no-subject"), account), "ce_subject")
    after = [good(i) for i in range(3, 30)]
    await produce(kafka.bootstrap, topics["input"],
                  [good(0), noisy, unknown_with_null, too_long_id, nul_in_id, no_subject, *after])
    service = ledger_service(tmp_path, database_url, kafka.bootstrap, topics["input"], topics["output"],
                             name=topics["service"]).start()
    try:
        service.wait_healthy()
        out = await read_topic(kafka.bootstrap, topics["output"], expect=29)
        dead = await read_topic(kafka.bootstrap, topics["dlq"], expect=4)
    finally:
        service.stop()
    expected = [f"P-{i:04d}" for i in range(30) if i != 2]
    assert cured(out) == expected, "the noisy but valid event was handled, and so was every later record"
    assert await effects_per_payment(database_url, PAYMENT) == dict.fromkeys(expected, 1)
    assert sorted(header(r, "dlq-code") for r in dead) == ["bad-envelope", "bad-envelope", "bad-envelope",
                                                            "unknown-type"]
    [unknown] = [r for r in dead if header(r, "dlq-code") == "unknown-type"]
    assert ("baggage", None) in unknown.headers, "a dead letter keeps its null header"
    reasons = " | ".join(header(r, "dlq-reason") for r in dead)
    assert "ce_id" in reasons and "ce_subject" in reasons


async def test_a_handler_bug_is_retried_then_dead_lettered_and_a_transient_error_only_retried(
        kafka, database_url, topics, tmp_path):
    account = "A-2"
    ids = ["P-0000", "BUG-1", "FLAKY-1", *[f"P-{i:04d}" for i in range(1, 10)]]
    await produce(kafka.bootstrap, topics["input"], [encode(payment(account, i), account) for i in ids])
    service = ledger_service(tmp_path, database_url, kafka.bootstrap, topics["input"], topics["output"],
                             name=topics["service"]).start()
    try:
        service.wait_healthy()
        out = await read_topic(kafka.bootstrap, topics["output"], expect=11)
        dead = await read_topic(kafka.bootstrap, topics["dlq"], expect=1)
    finally:
        service.stop()
    handled = sorted(i for i in ids if i != "BUG-1")
    assert cured(out) == handled
    # The bug's write was rolled back with it; the flaky call failed five times (more
    # than the three attempts a bug gets) and still took effect, once.
    assert await effects_per_payment(database_url, PAYMENT) == dict.fromkeys(handled, 1)
    [bug] = dead
    assert header(bug, "dlq-code") == "handler-error"
    assert "KeyError" in header(bug, "dlq-reason") and "after 3 attempts" in header(bug, "dlq-reason")
    assert bug.value == encode(payment(account, "BUG-1"), account)[1]


async def test_a_record_the_runtime_itself_keeps_failing_on_is_dead_lettered(kafka, database_url, topics, tmp_path):
    account = "A-3"
    service = ledger_service(tmp_path, database_url, kafka.bootstrap, topics["input"], topics["output"],
                             name=topics["service"]).start()
    try:
        service.wait_healthy()
        # The store starts refusing one event id: the runtime's own inbox write fails
        # on it, not the handler.
        database = Database(database_url)
        try:
            async with database.transaction() as connection:
                if connection.dialect.name == "postgresql":
                    await connection.execute(text(
                        "ALTER TABLE inbox ADD CONSTRAINT refuse_boom CHECK (event_id NOT LIKE 'BOOM%')"))
                else:
                    await connection.execute(text(
                        "CREATE TRIGGER refuse_boom BEFORE INSERT ON inbox WHEN NEW.event_id LIKE 'BOOM%' "
                        "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"))
        finally:
            await database.dispose()
        boom = encode(payment(account, "P-boom"), account, event_id="BOOM-1")
        await produce(kafka.bootstrap, topics["input"], [
            encode(payment(account, "P-0000"), account), boom,
            *[encode(payment(account, f"P-{i:04d}"), account) for i in range(1, 10)]])
        out = await read_topic(kafka.bootstrap, topics["output"], expect=10)
        dead = await read_topic(kafka.bootstrap, topics["dlq"], expect=1)
    finally:
        service.stop()
    assert cured(out) == [f"P-{i:04d}" for i in range(10)], "the partition moved on"
    [letter] = dead
    assert header(letter, "dlq-code") == "processing-error"
    assert "runtime error after 3 attempts" in header(letter, "dlq-reason")
    assert letter.value == boom[1] and header(letter, "ce_id") == "BOOM-1"
