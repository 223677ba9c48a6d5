"""Dead letters can be redriven (issue 7, runtime item 3): ``cc-redrive`` puts chosen
DLQ records back on their original topic; a redriven event takes effect once, a
second redrive of a handled one changes nothing, and a plain redelivery of a
dead-lettered record is still a duplicate."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from support import effects_per_payment, encode, header, ledger_service, payment, produce, read_topic

pytestmark = pytest.mark.integration
PAYMENT = "corebanking.v1.PaymentPosted"
REDRIVE = str(Path(sys.executable).parent / "cc-redrive")


def redrive(bootstrap: str, service: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([REDRIVE, "--service", service, "--bootstrap", bootstrap, *args],
                          capture_output=True, text=True, timeout=120)


async def log_end(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return {tp.partition: end for tp, end in (await consumer.end_offsets(partitions)).items()}
    finally:
        await consumer.stop()


async def until_effects(database_url: str, want: dict[str, int], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = await effects_per_payment(database_url, PAYMENT)
        if got == want:
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"effects {dict(got or {})} never became {want}")


def ce_id(encoded) -> str:
    return dict(encoded[2])["ce_id"].decode()


async def test_redriven_dead_letters_take_effect_once(kafka, database_url, topics, tmp_path):
    account = "A-1"
    records = [encode(payment(account, f"P-{i:04d}"), account) for i in range(12)]
    rejected = tmp_path / "reject.txt"
    rejected.write_text("P-0003\nP-0007\n")  # a bug: these two are refused until it is fixed
    await produce(kafka.bootstrap, topics["input"], records[:10])
    service = ledger_service(tmp_path, database_url, kafka.bootstrap, topics["input"], topics["output"],
                             name=topics["service"]).start({"LEDGER_REJECT_FILE": str(rejected)})
    try:
        service.wait_healthy()
        dead = await read_topic(kafka.bootstrap, topics["dlq"], expect=2)
        assert [(r.offset, header(r, "ce_id"), header(r, "dlq-code")) for r in dead] == [
            (0, ce_id(records[3]), "rejected"), (1, ce_id(records[7]), "rejected")]
        handled = {f"P-{i:04d}": 1 for i in range(10) if i not in (3, 7)}
        await until_effects(database_url, handled)

        rejected.write_text("")  # the bug is fixed
        # A plain redelivery of a dead-lettered record (same ce_id) is still a duplicate;
        # P-0010 behind it on the same partition shows when it has been read.
        await produce(kafka.bootstrap, topics["input"], [records[7], records[10]])
        await until_effects(database_url, {**handled, "P-0010": 1})

        before = await log_end(kafka.bootstrap, topics["input"])
        dry = redrive(kafka.bootstrap, topics["service"], "--all", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "would redrive 2 record(s)" in dry.stdout and "0:0 -> " + topics["input"] in dry.stdout
        assert await log_end(kafka.bootstrap, topics["input"]) == before, "a dry run publishes nothing"

        first = redrive(kafka.bootstrap, topics["service"], "--offset", "0")
        assert first.returncode == 0 and "redrove 1 record(s)" in first.stdout, first.stderr
        await until_effects(database_url, {**handled, "P-0010": 1, "P-0003": 1})

        # Both again: P-0007's first redrive, and P-0003's second, which must change nothing.
        again = redrive(kafka.bootstrap, topics["service"], "--all")
        assert again.returncode == 0 and "redrove 2 record(s)" in again.stdout, again.stderr
        await produce(kafka.bootstrap, topics["input"], [records[11]])  # read after both
        everything = {f"P-{i:04d}": 1 for i in range(12)}
        await until_effects(database_url, everything)
        out = await read_topic(kafka.bootstrap, topics["output"], expect=12)

        missing = redrive(kafka.bootstrap, topics["service"], "--offset", "0:99")
        assert missing.returncode == 2 and "0:99" in missing.stderr
    finally:
        service.stop()
    assert await effects_per_payment(database_url, PAYMENT) == everything, "each redriven event took effect once"
    assert len(out) == 12
    assert len(await read_topic(kafka.bootstrap, topics["dlq"], expect=3, timeout=3)) == 2, "nothing new dead-lettered"
    redriven = sorted(await read_topic(kafka.bootstrap, topics["input"], expect=15), key=lambda r: r.offset)
    marks = [header(r, "dlq-redriven-from") for r in redriven if "dlq-redriven-from" in dict(r.headers)]
    assert marks == [f"{topics['dlq']}:0:0"] * 2 + [f"{topics['dlq']}:0:1"]
    assert not [k for r in redriven for k, _ in r.headers if k.startswith("dlq-") and k != "dlq-redriven-from"]

