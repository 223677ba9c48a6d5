from datetime import UTC, datetime

import pytest

from collections_core.codec import EventCodec, PoisonRecord, TypeRegistry, type_of
from collections_core.contracts.collections.v1 import delinquency_pb2
from collections_core.contracts.corebanking.v1 import payments_pb2
from collections_core.money import Money
from collections_core.tracing import TraceContext
from collections_core.wire import date_to_proto

REGISTRY = TypeRegistry.of_contracts()
CODEC = EventCodec(REGISTRY, "/card-collections/test")
AT = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)


def payment() -> payments_pb2.PaymentPosted:
    return payments_pb2.PaymentPosted(
        account_id="A-1", payment_id="P-1", amount=Money(12_345, "CNY").to_proto(),
        posted_on=date_to_proto(AT.date()), value_date=date_to_proto(AT.date()),
    )


def test_registry_holds_every_contract_type():
    for name in ["corebanking.v1.StatementIssued", "corebanking.v1.BusinessDayClosed",
                 "collections.v1.AccountBecameDelinquent", "collections.v1.PlacementRequested",
                 "collections.v1.ContactSent", "collections.v1.CaseOpened"]:
        assert REGISTRY.resolve(name).DESCRIPTOR.full_name == name


def test_binary_mode_round_trip():
    trace = TraceContext.new()
    headers, value = CODEC.encode(payment(), subject="A-1", time=AT, trace=trace, event_id="evt-1")
    names = dict(headers)
    assert names["ce_type"] == b"corebanking.v1.PaymentPosted"
    assert names["ce_specversion"] == b"1.0" and names["content-type"] == b"application/protobuf"
    assert names["ce_time"] == b"2026-11-28T09:30:00Z"
    event = CODEC.decode(headers, value)
    assert (event.id, event.subject, event.source, event.time) == ("evt-1", "A-1", "/card-collections/test", AT)
    assert event.message == payment()
    assert event.trace.trace_id == trace.trace_id


def test_ids_are_unique_when_not_given():
    first, _ = CODEC.encode(payment(), "A-1", AT, TraceContext.new())
    second, _ = CODEC.encode(payment(), "A-1", AT, TraceContext.new())
    assert dict(first)["ce_id"] != dict(second)["ce_id"]


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda h, v: ([x for x in h if x[0] != "ce_id"], v), "bad-envelope"),
        (lambda h, v: ([(k, b"x.v1.Nope" if k == "ce_type" else b) for k, b in h], v), "unknown-type"),
        (lambda h, v: (h, b"\xff\xff\xff garbage"), "bad-payload"),
        (lambda h, v: ([(k, b"\xff\xfe" if k == "ce_source" else b) for k, b in h], v), "bad-header"),
        (lambda h, v: ([(k, b"0.3" if k == "ce_specversion" else b) for k, b in h], v), "bad-envelope"),
        (lambda h, v: ([], v), "bad-envelope"),
        (lambda h, v: ([x for x in h if x[0] != "ce_time"], v), "bad-envelope"),
        (lambda h, v: ([x for x in h if x[0] != "ce_subject"], v), "bad-envelope"),
        (lambda h, v: ([x for x in h if x[0] != "content-type"], v), "bad-envelope"),
        (lambda h, v: ([x for x in h if x[0] != "ce_source"], v), "bad-envelope"),
        (lambda h, v: ([(k, b"application/json" if k == "content-type" else b) for k, b in h], v), "bad-envelope"),
        (lambda h, v: ([(k, b"yesterday" if k == "ce_time" else b) for k, b in h], v), "bad-envelope"),
        (lambda h, v: ([(k, b"2026-11-28T09:30:00" if k == "ce_time" else b) for k, b in h], v), "bad-envelope"),
        (lambda h, v: ([(k, b"e" * 201 if k == "ce_id" else b) for k, b in h], v), "bad-envelope"),
        (lambda h, v: ([(k, b"evt\x00-1" if k == "ce_id" else b) for k, b in h], v), "bad-envelope"),
        (lambda h, v: ([(k, b"evt\n1" if k == "ce_id" else b) for k, b in h], v), "bad-envelope"),
        (lambda h, v: ([(k, None if k == "ce_subject" else b) for k, b in h], v), "bad-header"),
        (lambda h, v: ([(k, b"" if k == "ce_subject" else b) for k, b in h], v), "bad-envelope"),
    ],
    ids=["no ce_id", "unknown type", "garbage value", "non-UTF-8 ce_source", "old specversion", "no headers",
         "no ce_time", "no ce_subject", "no content-type", "no ce_source", "JSON content", "ce_time not RFC 3339",
         "ce_time without offset", "ce_id longer than the inbox column", "ce_id with NUL", "ce_id with newline",
         "null ce_subject", "empty ce_subject"],
)
def test_undecodable_records_are_poison(mutate, code):
    headers, value = CODEC.encode(payment(), "A-1", AT, TraceContext.new())
    with pytest.raises(PoisonRecord) as caught:
        CODEC.decode(*mutate(headers, value))
    assert caught.value.code == code and caught.value.reason


def test_headers_outside_the_envelope_never_poison_a_valid_event():
    headers, value = CODEC.encode(payment(), "A-1", AT, TraceContext.new(), event_id="e" * 200)
    noisy = [("baggage", None), ("x-partner-blob", b"\xff\xfe\x00"), *headers, ("dlq-reason", None)]
    event = CODEC.decode(noisy, value)
    assert event.id == "e" * 200 and event.message == payment()


@pytest.mark.parametrize("header", [
    "00-zz-bad", "", None, "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01", "00-00000000000000000000000000000000-b7ad6b7169203331-01",
    "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-",
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1"])
def test_malformed_traceparent_starts_a_new_trace(header):
    trace = TraceContext.parse(header)
    assert len(trace.trace_id) == 32 and trace.trace_id != "0af7651916cd43dd8448eb211c80319c"
    assert TraceContext.parse(trace.traceparent()) == trace


def test_a_valid_traceparent_is_kept():
    trace = TraceContext.parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    assert (trace.trace_id, trace.span_id, trace.flags) == ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", "01")


def test_an_empty_traceparent_header_does_not_poison_the_event():
    headers, value = CODEC.encode(payment(), "A-1", AT, TraceContext.new())
    event = CODEC.decode([(k, b"" if k == "traceparent" else b) for k, b in headers], value)
    assert event.message == payment() and len(event.trace.trace_id) == 32


def test_type_of_message_and_class_agree():
    assert type_of(delinquency_pb2.AccountCured) == type_of(delinquency_pb2.AccountCured()) == "collections.v1.AccountCured"


def test_event_ids_stay_unique_across_many_events_and_a_fork():
    import os

    headers = [CODEC.encode(payment(), "A-1", AT, TraceContext.new())[0] for _ in range(10_000)]
    ids = {dict(h)["ce_id"] for h in headers}
    assert len(ids) == 10_000
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, dict(CODEC.encode(payment(), "A-1", AT, TraceContext.new())[0])["ce_id"])
        os._exit(0)
    os.waitpid(pid, 0)
    child_id = os.read(read, 200)
    assert child_id not in ids and child_id.rsplit(b"-", 1)[0] != next(iter(ids)).rsplit(b"-", 1)[0]


def test_child_spans_keep_the_trace_and_change_the_span():
    parent = TraceContext.new()
    children = {parent.child() for _ in range(1000)}
    assert {c.trace_id for c in children} == {parent.trace_id}
    assert len({c.span_id for c in children}) == 1000
    assert all(TraceContext.parse(c.traceparent()) == c for c in children)
