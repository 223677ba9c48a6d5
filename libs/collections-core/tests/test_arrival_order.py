"""A poll batch is decided in the order its records were produced, across partitions,
and never out of a partition's own order."""

from aiokafka import ConsumerRecord, TopicPartition

from collections_core.consumer import in_arrival_order


def _records(topic: str, stamps: list[int]) -> list[ConsumerRecord]:
    return [ConsumerRecord(topic=topic, partition=0, offset=offset, timestamp=stamp, timestamp_type=0, key=None,
                           value=f"{topic}-{offset}".encode(), checksum=None, serialized_key_size=0,
                           serialized_value_size=0, headers=[])
            for offset, stamp in enumerate(stamps)]


def _values(records) -> list[str]:
    return [r.value.decode() for r in records]


def test_records_of_two_topics_interleave_by_when_they_were_produced():
    payments, days = _records("payments", [100, 400]), _records("days", [200, 300, 500])
    batches = {TopicPartition("days", 0): days, TopicPartition("payments", 0): payments}
    assert _values(in_arrival_order(batches)) == ["payments-0", "days-0", "days-1", "payments-1", "days-2"]


def test_a_partition_keeps_its_own_order_even_where_its_timestamps_go_back():
    skewed, other = _records("skewed", [300, 100, 200]), _records("other", [150, 250])
    merged = _values(in_arrival_order({TopicPartition("skewed", 0): skewed, TopicPartition("other", 0): other}))
    assert [v for v in merged if v.startswith("skewed")] == ["skewed-0", "skewed-1", "skewed-2"]
    assert sorted(merged) == sorted(_values(skewed + other))


def test_one_partition_is_taken_as_it_came():
    records = _records("days", [300, 100])
    assert _values(in_arrival_order({TopicPartition("days", 0): records})) == ["days-0", "days-1"]
