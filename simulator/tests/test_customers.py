"""Customers learn of the bank only from the stand-ins' delivery logs, and react by segment."""

from __future__ import annotations

import json
from dataclasses import replace

from card_simulator.customers import DeliveryLogs, opted_out_by_number, react
from card_simulator.population import Segment, generate


def _write(folder, name, *entries):
    with open(folder / name, "a", encoding="utf-8") as file:
        for entry in entries:
            file.write(json.dumps(entry) + "\n")


def test_the_logs_are_read_as_they_grow_and_each_delivery_finds_its_customer(tmp_path):
    portfolio = generate(3, 4)
    logs = DeliveryLogs(tmp_path, portfolio)
    one, two = portfolio[0], portfolio[1]
    _write(tmp_path, "sms.jsonl", {"at": "2027-01-04T02:00:00+00:00", "key": "r1", "to": one.customer.phone,
                                   "template": "overdue.sms", "reference": "r1"})
    _write(tmp_path, "email.jsonl", {"at": "2027-01-04T02:00:00+00:00", "message_id": "<r2@notifier.card-collections>",
                                     "to": two.customer.email})
    first = logs.read_new()
    assert [(r.delivery.channel, r.delivery.request_id, r.accounts) for r in first] == [
        ("sms", "r1", (one.account_id,)), ("email", "r2", (two.account_id,))]
    with open(tmp_path / "letters.jsonl", "a") as file:
        file.write('{"at": "2027-01-04T10:00:00+00:00", "key": "r3", "bytes": 9}\n{"at": "2027-01-04T1')
    assert [(r.delivery.channel, r.delivery.request_id, r.accounts) for r in logs.read_new()] == [("letter", "r3", ())]
    assert logs.read_new() == [], "a half-written line waits, nothing is read twice"
    assert len(logs.received) == 3


def test_an_opting_out_customer_replies_stop_to_the_first_sms_only(tmp_path):
    account = replace(generate(3, 1)[0], segment=Segment.OPTS_OUT)
    logs = DeliveryLogs(tmp_path, [account])
    sms = {"at": "2027-01-04T02:00:00+00:00", "to": account.customer.phone, "template": "overdue.sms"}
    _write(tmp_path, "sms.jsonl", {**sms, "key": "r1", "reference": "r1"}, {**sms, "key": "r2", "reference": "r2"})
    stopped: set[str] = set()
    reactions = react(logs.read_new(), {account.account_id: account}, stopped)
    assert [(r.kind, r.phone) for r in reactions] == [
        ("reached", ""), ("stop", account.customer.phone), ("reached", "")]
    assert stopped == {account.account_id}


def test_other_customers_only_read_what_reaches_them(tmp_path):
    account = replace(generate(3, 1)[0], segment=Segment.NEVER_PAYS)
    logs = DeliveryLogs(tmp_path, [account])
    _write(tmp_path, "sms.jsonl", {"at": "2027-01-04T02:00:00+00:00", "to": account.customer.phone,
                                   "template": "overdue.sms", "key": "r1", "reference": "r1"},
           {"at": "2027-01-04T02:00:00+00:00", "to": "+15550000000", "template": "overdue.sms", "key": "r9",
            "reference": "r9"})
    assert [r.kind for r in react(logs.read_new(), {account.account_id: account}, set())] == ["reached"]


def test_a_stop_from_a_shared_number_opts_out_every_customer_on_it():
    portfolio = generate(7, 5000)
    by_phone: dict[str, list[str]] = {}
    for account in portfolio:
        by_phone.setdefault(account.customer.phone, []).append(account.customer_id)
    shared = next(phone for phone, customers in by_phone.items() if len(customers) > 1)
    alone = next(phone for phone, customers in by_phone.items() if len(customers) == 1)
    assert opted_out_by_number({shared}, portfolio) == len(by_phone[shared])
    assert opted_out_by_number({shared, alone}, portfolio) == len(by_phone[shared]) + 1
    assert opted_out_by_number(set(), portfolio) == 0
