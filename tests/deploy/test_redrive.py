"""deploy/ops/redrive.py on the real broker: dead letters go back to their topics under
ids the inbox has not seen, and a second run sends the same ids again."""

import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from redrive import redrive
from support import encode, header, payment, produce, read_topic

pytestmark = pytest.mark.integration


def dead_letter(record, code: str, original_topic: str, offset: int):
    key, value, headers = record
    return key, value, headers + [("dlq-reason", b"why"), ("dlq-code", code.encode()),
                                  ("dlq-service", b"ledger"), ("dlq-original-topic", original_topic.encode()),
                                  ("dlq-original-partition", b"0"), ("dlq-original-offset", str(offset).encode())]


async def test_dead_letters_return_to_their_topic_under_a_new_stable_id(kafka):
    run = uuid.uuid4().hex[:8]
    service, payments, other = f"redrive-{run}", f"payments-{run}", f"other-{run}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, 1, 1) for t in (f"{service}.dlq.v1", payments, other)])
    finally:
        await admin.close()
    first, second, third = (encode(payment(f"ACC-{i}", f"PAY-{run}-{i}"), f"ACC-{i}") for i in range(3))
    broken_key, broken_value, broken_headers = encode(payment("ACC-9", "PAY-9"), "ACC-9")
    without_id = (broken_key, broken_value, [(k, v) for k, v in broken_headers if k != "ce_id"])
    await produce(kafka.bootstrap, f"{service}.dlq.v1", [
        dead_letter(first, "unknown-type", payments, 10), dead_letter(second, "bad-payload", payments, 11),
        dead_letter(third, "unknown-type", other, 12), dead_letter(without_id, "unknown-type", payments, 13)])

    result = await redrive(kafka.bootstrap, service, codes={"unknown-type"}, original_topics={payments})
    assert dict(result.sent) == {payments: 1} and dict(result.skipped) == {"no ce_id": 1}
    [back] = await read_topic(kafka.bootstrap, payments, expect=1)
    original_id = dict(first[2])["ce_id"].decode()
    assert header(back, "ce_id") == f"{original_id}:redrive-0-0"
    assert (back.key, back.value) == (first[0], first[1])
    assert not [k for k, _ in back.headers if k.startswith("dlq-")]
    assert {k for k, _ in back.headers} == {k for k, _ in first[2]}

    again = await redrive(kafka.bootstrap, service, codes={"unknown-type", "bad-payload"}, dry_run=False)
    assert dict(again.sent) == {payments: 2, other: 1}
    records = await read_topic(kafka.bootstrap, payments, expect=3)
    assert [header(r, "ce_id") for r in records].count(f"{original_id}:redrive-0-0") == 2, "same id again"
    assert len(await read_topic(kafka.bootstrap, other, expect=1)) == 1
    dry = await redrive(kafka.bootstrap, service, dry_run=True)
    assert dict(dry.sent) == {payments: 2, other: 1}
    assert len(await read_topic(kafka.bootstrap, payments, expect=3)) == 3, "a dry run sends nothing"
