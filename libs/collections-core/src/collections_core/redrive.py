"""cc-redrive: put chosen dead letters back on the topic they came from.

    cc-redrive --service overdue-detector --bootstrap 127.0.0.1:9092 --offset 12 --offset 15
    cc-redrive --service overdue-detector --all --dry-run

Each chosen record of ``<service>.dlq.v1`` is published to its original topic with
its original key, value and headers; the ``dlq-*`` headers the consumer added are
stripped and one, ``dlq-redriven-from: <dlq topic>:<partition>:<offset>``, is added.
That header is what lets the consumer's inbox take an event it once dead-lettered
(docs/decisions/0010-dead-letter-redrive.md): a redriven event takes effect once,
and redriving one that has been handled since changes nothing. A plain redelivery
of the original record is still a duplicate.

The redriven record lands at the end of the original topic, after anything that
was published for the same key since: redrive after the cause is fixed, and mind
that the event is applied later than it was first delivered.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

DLQ_HEADER_PREFIX = "dlq-"
REDRIVEN_FROM = "dlq-redriven-from"


def header(record: ConsumerRecord, name: str) -> str:
    for key, value in record.headers or ():
        if key == name and value is not None:
            return value.decode(errors="replace")
    return ""


def original_headers(record: ConsumerRecord) -> list[tuple[str, bytes | None]]:
    """The headers the record had before it was dead-lettered, plus where it was redriven from."""
    kept = [(k, v) for k, v in record.headers or () if not k.startswith(DLQ_HEADER_PREFIX)]
    return [*kept, (REDRIVEN_FROM, f"{record.topic}:{record.partition}:{record.offset}".encode())]


async def read_dead_letters(bootstrap: str, topic: str) -> list[ConsumerRecord]:
    """Every record on the dead-letter topic now, in order per partition."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", isolation_level="read_committed",
                                client_id="cc-redrive")
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            raise SystemExit(f"topic {topic} not found on {bootstrap}")
        ends = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord] = []
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            batch = await consumer.getmany(timeout_ms=1000)
            records += [r for tp, part in batch.items() for r in part if r.offset < ends[tp]]
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        await consumer.stop()


async def redrive(bootstrap: str, dead_letter_topic: str, chosen: Callable[[ConsumerRecord], bool],
                  dry_run: bool = False) -> list[ConsumerRecord]:
    """Re-publish the chosen dead letters to their original topics; returns them."""
    records = [r for r in await read_dead_letters(bootstrap, dead_letter_topic) if chosen(r)]
    if dry_run or not records:
        return records
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all",
                                client_id="cc-redrive")
    await producer.start()
    try:
        sent = [await producer.send(header(r, "dlq-original-topic"), key=r.key, value=r.value,
                                    headers=original_headers(r)) for r in records]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return records


def _position(text: str) -> tuple[int, int]:
    partition, _, offset = text.rpartition(":")
    try:
        return int(partition or 0), int(offset)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not OFFSET or PARTITION:OFFSET") from None


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cc-redrive", description=__doc__.split("\n\n")[0])
    parser.add_argument("--service", required=True, help="whose dead letters: reads <service>.dlq.v1")
    parser.add_argument("--bootstrap", default=os.environ.get("CC_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
                        help="Kafka brokers (default: $CC_KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092)")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--offset", type=_position, action="append", metavar="[PARTITION:]OFFSET",
                       help="a dead letter's position on the DLQ topic (partition 0 unless given); repeatable")
    which.add_argument("--all", action="store_true", help="every record on the DLQ topic")
    parser.add_argument("--dry-run", action="store_true", help="list what would be redriven, publish nothing")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    topic = f"{args.service}.dlq.v1"
    wanted = set(args.offset or ())
    records = asyncio.run(redrive(args.bootstrap, topic, lambda r: args.all or (r.partition, r.offset) in wanted,
                                  args.dry_run))
    for record in records:
        print(f"{record.partition}:{record.offset} -> {header(record, 'dlq-original-topic')} "
              f"{header(record, 'ce_type') or '?'} ce_id={header(record, 'ce_id') or '?'} "
              f"[{header(record, 'dlq-code')}] {header(record, 'dlq-reason')[:120]}")
    missing = sorted(wanted - {(r.partition, r.offset) for r in records})
    print(f"{'would redrive' if args.dry_run else 'redrove'} {len(records)} record(s) from {topic}")
    if missing:
        print("not on " + topic + ": " + ", ".join(f"{p}:{o}" for p, o in missing), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
