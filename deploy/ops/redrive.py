"""Redrive a service's dead letters to the topics they came from, after the cause is fixed.

    python deploy/ops/redrive.py --bootstrap-servers HOST:9092 --service notifier \
        [--code unknown-type] [--original-topic collections.contact-requests.v1] [--dry-run]

Reads ``<service>.dlq.v1`` from its start to its current end and publishes each matching
record to its ``dlq-original-topic`` with the same key, value and headers, minus the
``dlq-*`` headers, under a new ``ce_id``: ``<original ce_id>:redrive-<dlq partition>-<dlq offset>``.
The consumer's inbox remembers the original id as dead-lettered and would skip it; the new
id is derived from the dead letter's position, so running the redrive twice sends records
the inbox recognises and skips the second time. Records without a ``ce_id`` (a broken
envelope) cannot be redriven: the producer must send a corrected event.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

DLQ_HEADER_PREFIX = "dlq-"


@dataclass
class Redrive:
    sent: Counter = field(default_factory=Counter)  # per original topic
    skipped: Counter = field(default_factory=Counter)  # per reason


def redriven_headers(headers: list[tuple[str, bytes]], partition: int, offset: int) -> list[tuple[str, bytes]] | None:
    kept = [(k, v) for k, v in headers if not k.startswith(DLQ_HEADER_PREFIX)]
    ids = [v for k, v in kept if k == "ce_id"]
    if len(ids) != 1:
        return None
    new_id = ids[0] + f":redrive-{partition}-{offset}".encode()
    return [(k, new_id if k == "ce_id" else v) for k, v in kept]


async def dead_letters(bootstrap: str, topic: str, numbers: set[int]):
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                isolation_level="read_committed")
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, number) for number in sorted(numbers)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp: end for tp, end in ends.items() if await consumer.position(tp) < end}
        idle_polls = 0
        while remaining and idle_polls < 30:  # a partition that stops short of its end (aborted tail)
            batches = await consumer.getmany(*remaining, timeout_ms=1000)
            idle_polls = 0 if batches else idle_polls + 1
            for tp, records in batches.items():
                for record in records:
                    if record.offset < ends[tp]:
                        yield record
                if await consumer.position(tp) >= ends[tp]:
                    remaining.pop(tp, None)
    finally:
        await consumer.stop()


async def redrive(bootstrap: str, service: str, codes: set[str] = frozenset(),
                  original_topics: set[str] = frozenset(), dry_run: bool = False) -> Redrive:
    result = Redrive()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        sends = []
        topic = f"{service}.dlq.v1"
        async for record in dead_letters(bootstrap, topic, await producer.partitions_for(topic)):
            headers = {k: v.decode(errors="replace") for k, v in record.headers}
            if codes and headers.get("dlq-code") not in codes:
                continue
            original = headers.get("dlq-original-topic")
            if not original:
                result.skipped["no dlq-original-topic"] += 1
                continue
            if original_topics and original not in original_topics:
                continue
            new_headers = redriven_headers(list(record.headers), record.partition, record.offset)
            if new_headers is None:
                result.skipped["no ce_id"] += 1
                continue
            result.sent[original] += 1
            if not dry_run:
                sends.append(await producer.send(original, value=record.value, key=record.key, headers=new_headers))
        await asyncio.gather(*sends)
    finally:
        await producer.stop()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--service", required=True, help="whose <service>.dlq.v1 to redrive")
    parser.add_argument("--code", action="append", default=[], help="only dead letters with this dlq-code (repeatable)")
    parser.add_argument("--original-topic", action="append", default=[], help="only records from this topic (repeatable)")
    parser.add_argument("--dry-run", action="store_true", help="count what would be sent, send nothing")
    args = parser.parse_args(argv)
    result = asyncio.run(redrive(args.bootstrap_servers, args.service, set(args.code), set(args.original_topic),
                                 args.dry_run))
    verb = "would send" if args.dry_run else "sent"
    for topic, count in sorted(result.sent.items()):
        print(f"{verb} {count} to {topic}")
    for reason, count in sorted(result.skipped.items()):
        print(f"skipped {count}: {reason}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
