"""Fault tests against the real broker: crashes, poison, broker and database outages.

Each drives the test ledger service (tests/runtime/ledger_service.py) as its own
OS process and checks the two promises of DESIGN.md §5: nothing lost, nothing
applied twice.
"""

from __future__ import annotations

import asyncio
import signal
import time

import httpx
import pytest
from collections_core.contracts.collections.v1 import delinquency_pb2
from support import encode, effects_per_payment, header, ledger_service, payment, produce, read_topic

pytestmark = pytest.mark.integration
PAYMENT = "corebanking.v1.PaymentPosted"
CURED = "collections.v1.AccountCured"


def payments(count: int, prefix: str = "P"):
    return [encode(payment(f"A-{i % 7}", f"{prefix}-{i:04d}"), f"A-{i % 7}") for i in range(count)]


def once_each(count: int, prefix: str = "P") -> dict[str, int]:
    return {f"{prefix}-{i:04d}": 1 for i in range(count)}


def cured_payment_ids(records) -> list[str]:
    return [delinquency_pb2.AccountCured.FromString(r.value).payment_id for r in records]


async def test_a_killed_after_db_commit_before_offset_commit(kafka, database_url, topics, tmp_path):
    await produce(kafka.bootstrap, topics["input"], payments(120))
    service = ledger_service(tmp_path, database_url, kafka.bootstrap, topics["input"], topics["output"],
                             name=topics["service"])
    service.start({"CC_CRASH_AT": "after-db-commit"})
    assert service.wait_exit(60) == -signal.SIGKILL, "the crash point was never reached"
    service.start()
    try:
        service.wait_healthy()
        out = await read_topic(kafka.bootstrap, topics["output"], expect=120)
    finally:
        service.stop()
    # The first batch was committed to the database but its offsets were not:
    # it came back after the restart and the inbox turned it into a no-op.
    assert await effects_per_payment(database_url, PAYMENT) == once_each(120)
    assert sorted(cured_payment_ids(out)) == sorted(once_each(120))


async def test_b_killed_after_outbox_insert_before_publish(kafka, database_url, topics, tmp_path, postgres):
    await produce(kafka.bootstrap, topics["input"], payments(80))
    upstream = ledger_service(tmp_path, database_url, kafka.bootstrap, topics["input"], topics["output"],
                              name=topics["service"])
    upstream.start({"CC_CRASH_AT": "before-publish"})
    assert upstream.wait_exit(60) == -signal.SIGKILL, "the crash point was never reached"
    assert await read_topic(kafka.bootstrap, topics["output"], expect=1, timeout=2) == []

    downstream_db = postgres.dsn(postgres.create_database(f"down_{topics['service'].replace('-', '_')}"))
    downstream = ledger_service(tmp_path, downstream_db, kafka.bootstrap, topics["output"],
                                name=f"{topics['service']}-down")
    await _create_dlq(kafka, f"{topics['service']}-down")
    upstream.start()
    downstream.start()
    try:
        upstream.wait_healthy()
        downstream.wait_healthy()
        out = await read_topic(kafka.bootstrap, topics["output"], expect=80)
        await _until(lambda: effects_per_payment(downstream_db, CURED), lambda got: sum(got.values()) >= 80)
    finally:
        upstream.stop()
        downstream.stop()
    assert sorted(set(cured_payment_ids(out))) == sorted(once_each(80)), "every emitted event was published"
    assert await effects_per_payment(database_url, PAYMENT) == once_each(80)
    assert await effects_per_payment(downstream_db, CURED) == once_each(80), "and took effect once downstream"


async def test_c_poison_records_go_to_the_dlq_and_the_partition_moves_on(kafka, database_url, topics, tmp_path):
    key = b"A-1"
    good_before = encode(payment("A-1", "P-0000"), "A-1")
    garbage = (key, b"\x00\xffnot protobuf", [("ce_id", b"\xff\xfe"), ("ce_type", b"\x00")])
    unknown_key, unknown_value, unknown_headers = encode(payment("A-1", "P-x"), "A-1")
    unknown = (unknown_key, unknown_value,
               [(k, b"corebanking.v1.NoSuchEvent" if k == "ce_type" else v) for k, v in unknown_headers])
    wrong_currency = encode(payment("A-1", "P-usd", currency="USD"), "A-1")
    good_after = [encode(payment("A-1", f"P-{i:04d}"), "A-1") for i in range(1, 30)]
    await produce(kafka.bootstrap, topics["input"], [good_before, garbage, unknown, wrong_currency, *good_after])
    service = ledger_service(tmp_path, database_url, kafka.bootstrap, topics["input"], topics["output"],
                             name=topics["service"]).start()
    try:
        service.wait_healthy()
        dead = await read_topic(kafka.bootstrap, topics["dlq"], expect=3)
        out = await read_topic(kafka.bootstrap, topics["output"], expect=30)
    finally:
        service.stop()
    codes = sorted(header(r, "dlq-code") for r in dead)
    assert codes == ["bad-header", "rejected", "unknown-type"]
    for record in dead:
        assert header(record, "dlq-reason") and header(record, "dlq-original-topic") == topics["input"]
        assert record.key == key, "a dead letter keeps its original key"
    assert {r.value for r in dead} == {garbage[1], unknown_value, wrong_currency[1]}, "and its original bytes"
    assert sorted(cured_payment_ids(out)) == sorted(once_each(30)), "later records on the partition were processed"


async def test_d_broker_restart_mid_stream(kafka, postgres, topics, tmp_path):
    database_url = postgres.dsn(postgres.create_database(f"d_{topics['service'].replace('-', '_')}"))
    await produce(kafka.bootstrap, topics["input"], payments(1500))
    service = ledger_service(tmp_path, database_url, kafka.bootstrap, topics["input"], topics["output"],
                             name=topics["service"]).start()
    try:
        service.wait_healthy()
        await _until(lambda: effects_per_payment(database_url, PAYMENT), lambda got: sum(got.values()) >= 100)
        kafka.stop()
        await _until(lambda: _ready(service), lambda ready: ready is False, timeout=30)
        time.sleep(3)
        kafka.start()
        kafka.wait_ready()
        await produce(kafka.bootstrap, topics["input"], payments(500, prefix="Q"))
        out = await read_topic(kafka.bootstrap, topics["output"], expect=2000, timeout=120)
    finally:
        if not kafka.is_running():
            kafka.start()
            kafka.wait_ready()
        service.stop()
    expected = {**once_each(1500), **once_each(500, "Q")}
    assert await effects_per_payment(database_url, PAYMENT) == expected, "nothing lost, nothing applied twice"
    assert set(cured_payment_ids(out)) == set(expected)


async def test_e_database_unreachable_for_a_while(kafka, postgres, topics, tmp_path):
    database_url = postgres.dsn(postgres.create_database(f"e_{topics['service'].replace('-', '_')}"))
    service = ledger_service(tmp_path, database_url, kafka.bootstrap, topics["input"], topics["output"],
                             name=topics["service"]).start()
    try:
        service.wait_healthy()
        await produce(kafka.bootstrap, topics["input"], payments(300))
        await _until(lambda: effects_per_payment(database_url, PAYMENT), lambda got: sum(got.values()) >= 300)
        await _until(lambda: _lag(service), lambda lag: lag == 0, timeout=30)
        postgres.stop()
        try:
            await produce(kafka.bootstrap, topics["input"], payments(300, prefix="Q"))
            await _until(lambda: _ready(service), lambda ready: ready is False, timeout=30)
            checks = httpx.get(f"{service.url}/readyz", timeout=5).json()["checks"]
            assert checks["database"] is False and checks["kafka"] is True
            time.sleep(3)  # the consumer keeps retrying meanwhile
            # Fetched but not handled: the batch waiting out the outage is lag.
            assert await _lag(service) > 0
        finally:
            postgres.start()
        await _until(lambda: _ready(service), lambda ready: ready is True, timeout=60)
        out = await read_topic(kafka.bootstrap, topics["output"], expect=600, timeout=120)
    finally:
        service.stop()
    expected = {**once_each(300), **once_each(300, "Q")}
    assert await effects_per_payment(database_url, PAYMENT) == expected
    assert set(cured_payment_ids(out)) == set(expected)


async def _lag(service) -> float:
    lines = httpx.get(f"{service.url}/metrics", timeout=5).text.splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("cc_consumer_lag{"))


async def _ready(service) -> bool | None:
    try:
        return httpx.get(f"{service.url}/readyz", timeout=3).status_code == 200
    except httpx.HTTPError:
        return None


async def _until(probe, done, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = await probe()
        except Exception as error:  # a database that is restarting
            last = error
        if not isinstance(last, Exception) and done(last):
            return last
        await asyncio.sleep(0.3)
    raise AssertionError(f"condition not met in {timeout}s; last value: {last!r}")


async def _create_dlq(kafka, service_name: str) -> None:
    from local_kafka import create_topic

    await create_topic(kafka.bootstrap, f"{service_name}.dlq.v1", 1)
