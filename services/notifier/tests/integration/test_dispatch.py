"""Contacts go out once, at the allowed moment, through a real stand-in provider
that fails and times out on purpose, on SQLite and PostgreSQL.

Tests of the store's rounds (claim, judge again, lease, settle) turn the hand-over on
arrival off (``dispatch_on_arrival=False``), so that their requests wait in the store
as a deferred contact or one whose process died would. The last tests cover the
hand-over on arrival: a contact the policy allows when it arrives is rendered, recorded
as an attempt and leased in the consumer's transaction, and handed to the dispatcher
once that commits (decision 0065); a hand-over lost to a crash, a rollback or a long
wait is sent by the store's rounds once the lease is over, once."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from collections_core.contracts.collections.v1 import contacts_pb2
from collections_core.contracts.corebanking.v1 import customers_pb2
from collections_core.wire import instant_to_proto
from notifier.channels import ChannelUnavailable
from notifier.metrics import DISPATCHER_BUSY, PENDING
from notifier.tables import contact_ledger, contact_requests
from sqlalchemy import select

pytestmark = pytest.mark.integration


def customer(customer_id: str, zone: str, phone: str = "+8613800138000", language: str = "zh-CN", consents=()):
    return customers_pb2.CustomerUpserted(
        customer_id=customer_id, name="李雷", phone=phone, email=f"{customer_id.lower()}@example.cn",
        address=customers_pb2.PostalAddress(lines=["1 Road"], city="Shanghai", country="CN"),
        time_zone=zone, language=language, consents=list(consents))


OVERDUE = {"amount_minor": "123456", "currency": "CNY", "card_last4": "1234"}


def request(request_id: str, customer_id: str, template: str = "overdue.sms", parameters=OVERDUE, **extra):
    return contacts_pb2.ContactRequested(
        request_id=request_id, account_id=f"A-{customer_id}", customer_id=customer_id, case_id="K-1",
        channel=contacts_pb2.CHANNEL_SMS, template=template, parameters=parameters, **extra)


async def statuses(runtime) -> dict[str, str]:
    async with runtime.database.reading() as connection:
        rows = (await connection.execute(select(contact_requests.c.request_id, contact_requests.c.status))).all()
    return dict(rows)


async def test_a_5xx_storm_delays_contacts_but_never_doubles_them(notifier_runtime, sms_provider, deliver, emitted):
    runtime = await notifier_runtime()
    await deliver(runtime, customer("C-1", "Asia/Shanghai"), "C-1")
    for n in range(3):
        await deliver(runtime, request(f"R-{n}", "C-1", template="reminder.sms",
                                       parameters={"amount_minor": "100", "currency": "CNY", "card_last4": "1",
                                                   "due_date": "2026-11-25"}), "C-1")
    await deliver(runtime, customer("C-2", "Asia/Shanghai", phone="+8613900139000"), "C-2")
    await deliver(runtime, request("R-9", "C-2"), "C-2")
    await sms_provider.control(fail_next=7, fail_status=503)
    rounds = 0
    while (await statuses(runtime)).values() != {"sent"} and rounds < 10:
        rounds += 1
        try:
            await runtime.dispatcher.dispatch_due(runtime)
        except ChannelUnavailable:
            pass
    stats = await sms_provider.stats()
    assert rounds > 1, "the storm must have cost at least one round"
    # C-1's daily SMS cap (2 in the CN pack) defers the third reminder to tomorrow.
    assert await statuses(runtime) == {"R-0": "sent", "R-1": "sent", "R-2": "pending", "R-9": "sent"}
    assert stats["messages"] == 3 and stats["duplicates"] == 0 and stats["failed_on_purpose"] == 7
    kinds = [kind for kind, _ in await emitted(runtime)]
    assert kinds.count("ContactSent") == 3 and kinds.count("ContactDeferred") == 1


async def test_an_answer_lost_after_the_provider_accepted_is_retried_under_the_same_key(
        notifier_runtime, sms_provider, deliver, emitted):
    runtime = await notifier_runtime(sms_provider_timeout_seconds=0.3)
    await deliver(runtime, customer("C-1", "Asia/Shanghai"), "C-1")
    await deliver(runtime, request("R-1", "C-1"), "C-1")
    await sms_provider.control(accept_then_hang_next=1, hang_seconds=2.0)
    await runtime.dispatcher.dispatch_due(runtime)
    stats = await sms_provider.stats()
    assert stats["messages"] == 1 and stats["replayed"] == 1 and stats["duplicates"] == 0
    assert await statuses(runtime) == {"R-1": "sent"}


async def test_a_crash_between_hand_over_and_commit_sends_nothing_twice(notifier_runtime, sms_provider, clock,
                                                                        deliver, emitted):
    """The first process commits `sending`, the provider accepts, and the process dies
    before recording it. A new process on the same database finishes the job."""
    first = await notifier_runtime(dispatch_on_arrival=False)
    await deliver(first, customer("C-1", "Asia/Shanghai"), "C-1")
    await deliver(first, request("R-1", "C-1"), "C-1")
    async with first.unit_of_work() as work:
        [(_, outgoing)] = await first.dispatcher.prepare(work, await first.dispatcher.claim(work))
    await first.dispatcher.channels["sms"].send(outgoing)  # accepted; the process "dies" here
    assert await statuses(first) == {"R-1": "sending"}
    second = await notifier_runtime(dispatch_on_arrival=False)
    await second.dispatcher.dispatch_due(second)
    assert (await sms_provider.stats())["requests"] == 1, "the claim is the first process's until its lease ends"
    clock.advance(timedelta(seconds=second.settings.dispatch_claim_seconds))
    await second.dispatcher.dispatch_due(second)
    stats = await sms_provider.stats()
    assert stats["messages"] == 1 and stats["replayed"] == 1
    assert await statuses(second) == {"R-1": "sent"}
    assert [kind for kind, _ in await emitted(second)] == ["ContactSent"]


async def test_a_deferred_contact_survives_a_restart_and_goes_out_at_eight_in_the_customers_zone(
        notifier_runtime, sms_provider, clock, deliver, emitted):
    first = await notifier_runtime()
    await deliver(first, customer("C-UK", "Europe/London", phone="+447700900123", language="en"), "C-UK")
    await deliver(first, request("R-1", "C-UK"), "C-UK")  # 01:00 in London
    [(kind, deferred)] = await emitted(first)
    assert kind == "ContactDeferred" and deferred.rule == "quiet-hours"
    assert deferred.deferred_until.ToDatetime(tzinfo=UTC) == datetime(2026, 11, 2, 8, tzinfo=UTC)
    await first.dispatcher.dispatch_due(first)
    assert (await sms_provider.stats())["messages"] == 0
    second = await notifier_runtime()  # a restart: only the database carries the deferral
    clock.set(datetime(2026, 11, 2, 7, 59, tzinfo=UTC))
    await second.dispatcher.dispatch_due(second)
    assert (await sms_provider.stats())["messages"] == 0
    clock.set(datetime(2026, 11, 2, 8, 0, tzinfo=UTC))
    await second.dispatcher.dispatch_due(second)
    [message] = await sms_provider.messages()
    assert (message["to"], message["reference"], message["template"]) == ("+447700900123", "R-1", "overdue.sms")
    assert message["text"].startswith("Example Bank: Dear 李雷")


async def test_opt_out_cancel_expiry_and_provider_refusal_each_end_a_contact_with_its_reason(
        notifier_runtime, sms_provider, clock, deliver, emitted):
    runtime = await notifier_runtime()
    refused = customers_pb2.Consent(channel=customers_pb2.CONTACT_CHANNEL_SMS, granted=False)
    await deliver(runtime, customer("C-OUT", "Asia/Shanghai", consents=[refused]), "C-OUT")
    await deliver(runtime, request("R-OUT", "C-OUT"), "C-OUT")
    await deliver(runtime, customer("C-BAD", "Asia/Shanghai", phone="12345"), "C-BAD")
    await deliver(runtime, request("R-BAD", "C-BAD"), "C-BAD")
    await deliver(runtime, customer("C-UK", "Europe/London", phone="+447700900123", language="en"), "C-UK")
    await deliver(runtime, request("R-LATE", "C-UK", expires_at=instant_to_proto(clock.now() + timedelta(hours=3))),
                  "C-UK")
    await deliver(runtime, request("R-CANCEL", "C-UK"), "C-UK")
    await deliver(runtime, contacts_pb2.ContactCancelled(request_id="R-CANCEL", account_id="A-C-UK",
                                                         customer_id="C-UK", reason="cured"), "C-UK")
    await runtime.dispatcher.dispatch_due(runtime)
    assert await statuses(runtime) == {"R-OUT": "blocked", "R-BAD": "failed", "R-LATE": "blocked",
                                       "R-CANCEL": "cancelled"}
    events = {(kind, getattr(m, "rule", "") or getattr(m, "reason", "")) for kind, m in await emitted(runtime)}
    assert ("ContactBlocked", "opt-out") in events and ("ContactBlocked", "expired") in events
    assert any(kind == "ContactFailed" and "HTTP 400" in reason for kind, reason in events)
    assert (await sms_provider.stats())["messages"] == 0


async def test_a_request_without_the_templates_parameters_fails_at_once(notifier_runtime, sms_provider, deliver,
                                                                         emitted):
    runtime = await notifier_runtime()
    await deliver(runtime, customer("C-UK", "Europe/London", phone="+447700900123", language="en"), "C-UK")
    await deliver(runtime, request("R-1", "C-UK", template="reminder.sms"), "C-UK")  # no due_date; 01:00 in London
    [(kind, failed)] = await emitted(runtime)
    assert kind == "ContactFailed" and failed.reason == "template: missing parameters due_date"
    assert await statuses(runtime) == {"R-1": "failed"}


async def test_a_round_hands_its_sms_over_in_one_batch_and_a_bad_number_fails_alone(
        notifier_runtime, sms_provider, deliver, emitted):
    runtime = await notifier_runtime(dispatch_on_arrival=False, sms_batch_size=100)
    for n in range(4):
        await deliver(runtime, customer(f"C-{n}", "Asia/Shanghai", phone=f"+86138000000{n:02d}"), f"C-{n}")
        await deliver(runtime, request(f"R-{n}", f"C-{n}"), f"C-{n}")
    await deliver(runtime, customer("C-BAD", "Asia/Shanghai", phone="12345"), "C-BAD")
    await deliver(runtime, request("R-BAD", "C-BAD"), "C-BAD")
    async with runtime.unit_of_work() as work:
        round_ = await runtime.dispatcher.prepare(work, await runtime.dispatcher.claim(work))
    results, _ = await runtime.dispatcher.hand_over(round_)
    stats = await sms_provider.stats()
    assert stats["requests"] == 1 and stats["messages"] == 4, "one request to the provider for the round"
    # The round dies before settling; the batch goes again and the provider answers from its keys.
    again = await runtime.dispatcher.channels["sms"].send_many([message for _, message in round_])
    assert again == [result for _, result in results]
    async with runtime.unit_of_work() as work:
        await runtime.dispatcher.settle(work, results)
    stats = await sms_provider.stats()
    assert stats["messages"] == 4 and stats["duplicates"] == 0 and stats["replayed"] == 4
    assert await statuses(runtime) == {**{f"R-{n}": "sent" for n in range(4)}, "R-BAD": "failed"}
    failed = [m.reason for kind, m in await emitted(runtime) if kind == "ContactFailed"]
    assert len(failed) == 1 and "HTTP 400" in failed[0]


async def test_rounds_back_to_back_hand_a_round_over_only_after_the_one_before_settled(
        notifier_runtime, sms_provider, deliver, emitted):
    """The worker prepares the next round while the previous one is with the provider
    (decision 0063); every contact still goes out once, in due order, and a round is
    handed over only once the round before it is settled."""
    runtime = await notifier_runtime(dispatch_on_arrival=False, dispatch_batch_size=2, sms_batch_size=100)
    for n in range(5):
        await deliver(runtime, customer(f"C-{n}", "Asia/Shanghai", phone=f"+86138000000{n:02d}"), f"C-{n}")
        await deliver(runtime, request(f"R-{n}", f"C-{n}"), f"C-{n}")
    sms = runtime.dispatcher.channels["sms"]
    handed_over: list[tuple[list[str], dict[str, str]]] = []
    send_many = sms.send_many

    async def watched(messages):
        handed_over.append(([m.idempotency_key for m in messages], await statuses(runtime)))
        return await send_many(messages)

    sms.send_many = watched
    assert await runtime.dispatcher.dispatch_while_due(runtime) == 5
    assert [keys for keys, _ in handed_over] == [["R-0", "R-1"], ["R-2", "R-3"], ["R-4"]]
    for done, (_, seen) in enumerate(handed_over):
        assert all(seen[f"R-{n}"] == "sent" for n in range(2 * done)), "the rounds before are settled"
    stats = await sms_provider.stats()
    assert stats["messages"] == 5 and stats["duplicates"] == 0
    assert await statuses(runtime) == {f"R-{n}": "sent" for n in range(5)}
    assert [kind for kind, _ in await emitted(runtime)].count("ContactSent") == 5


async def test_a_provider_down_mid_rounds_ends_them_with_the_prepared_round_released(
        notifier_runtime, sms_provider, clock, deliver):
    """The round prepared while the failing one was in flight is handed over too and,
    failing, released (due now) instead of waiting out its lease; nothing goes twice."""
    runtime = await notifier_runtime(dispatch_on_arrival=False, dispatch_batch_size=1)
    for n in range(3):
        await deliver(runtime, customer(f"C-{n}", "Asia/Shanghai", phone=f"+86138000000{n:02d}"), f"C-{n}")
        await deliver(runtime, request(f"R-{n}", f"C-{n}"), f"C-{n}")
    await sms_provider.control(fail_next=100, fail_status=503)
    with pytest.raises(ChannelUnavailable):
        await runtime.dispatcher.dispatch_while_due(runtime)
    async with runtime.database.reading() as connection:
        rows = {r.request_id: (r.status, r.due_at.replace(tzinfo=UTC)) for r in await connection.execute(
            select(contact_requests.c.request_id, contact_requests.c.status, contact_requests.c.due_at))}
    assert rows == {"R-0": ("sending", clock.now()), "R-1": ("sending", clock.now()),
                    "R-2": ("pending", clock.now())}, "both rounds released, the third never claimed"
    await sms_provider.control(fail_next=0)
    assert await runtime.dispatcher.dispatch_while_due(runtime) == 3
    stats = await sms_provider.stats()
    assert stats["messages"] == 3 and stats["duplicates"] == 0
    assert await statuses(runtime) == {f"R-{n}": "sent" for n in range(3)}


async def test_a_round_decrypts_each_customer_once_and_addresses_every_message_to_its_own_customer(
        notifier_runtime, sms_provider, deliver):
    runtime = await notifier_runtime(dispatch_on_arrival=False, sms_batch_size=100)
    for n, name in enumerate(["李雷", "韩梅梅"]):
        await deliver(runtime, customers_pb2.CustomerUpserted(
            customer_id=f"C-{n}", name=name, phone=f"+86138000000{n:02d}", email=f"c{n}@example.cn",
            time_zone="Asia/Shanghai", language="zh-CN"), f"C-{n}")
    for request_id, customer_id in [("R-A", "C-0"), ("R-B", "C-1"), ("R-C", "C-0")]:
        await deliver(runtime, request(request_id, customer_id), customer_id)
    cipher = runtime.dispatcher.cipher
    decrypted: list[tuple[str, str]] = []
    decrypt = cipher.decrypt
    cipher.decrypt = lambda stored, owner, field: decrypted.append((owner, field)) or decrypt(stored, owner, field)
    assert await runtime.dispatcher.dispatch_due(runtime) == 3
    assert sorted(decrypted) == [("C-0", "name"), ("C-0", "phone"), ("C-1", "name"), ("C-1", "phone")]
    sent = {m["reference"]: (m["to"], m["text"]) for m in await sms_provider.messages()}
    assert sent["R-A"][0] == sent["R-C"][0] == "+8613800000000" and sent["R-B"][0] == "+8613800000001"
    assert "韩梅梅" in sent["R-B"][1] and all("李雷" in sent[r][1] for r in ("R-A", "R-C"))


async def test_the_pending_gauges_are_counted_at_most_once_a_second(notifier_runtime, sms_provider, deliver):
    runtime = await notifier_runtime(dispatch_on_arrival=False)
    await deliver(runtime, customer("C-1", "Asia/Shanghai"), "C-1")
    await deliver(runtime, request("R-1", "C-1"), "C-1")
    await deliver(runtime, customer("C-UK", "Europe/London", phone="+447700900123", language="en"), "C-UK")
    await deliver(runtime, request("R-UK", "C-UK"), "C-UK")  # 01:00 in London: deferred, still waiting
    await runtime.dispatcher.dispatch_due(runtime)
    assert PENDING._value.get() == 2, "counted in the round, before it settled"
    await deliver(runtime, request("R-2", "C-1", template="reminder.sms", parameters={**OVERDUE, "due_date": "2"}),
                  "C-1")
    await runtime.dispatcher.dispatch_due(runtime)
    assert PENDING._value.get() == 2, "not counted again within the second"
    runtime.dispatcher._gauges_due = 0.0  # the second is over
    await runtime.dispatcher.dispatch_due(runtime)
    assert PENDING._value.get() == 1


async def _count_request_updates(runtime) -> None:
    """A trigger (this test's database only) that counts every update of a request row."""
    async with runtime.database.transaction() as connection:
        await connection.exec_driver_sql("CREATE TABLE request_writes (request_id VARCHAR(64), status VARCHAR(12))")
        if connection.dialect.name == "postgresql":
            await connection.exec_driver_sql(
                "CREATE FUNCTION count_request_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "INSERT INTO request_writes VALUES (NEW.request_id, NEW.status); RETURN NEW; END $$")
            await connection.exec_driver_sql(
                "CREATE TRIGGER request_written AFTER UPDATE ON contact_requests "
                "FOR EACH ROW EXECUTE FUNCTION count_request_write()")
        else:
            await connection.exec_driver_sql(
                "CREATE TRIGGER request_written AFTER UPDATE ON contact_requests FOR EACH ROW BEGIN "
                "INSERT INTO request_writes VALUES (NEW.request_id, NEW.status); END")


async def test_a_contact_sent_is_written_twice_by_the_dispatcher_its_decision_with_the_lease_then_its_outcome(
        notifier_runtime, sms_provider, deliver, clock):
    """Claim, decision and lease in one write, the settlement in a second (decision 0064): the
    round's lease is committed before the hand-over, so the request is not due again meanwhile."""
    runtime = await notifier_runtime(dispatch_on_arrival=False, sms_batch_size=100)
    for n in range(3):
        await deliver(runtime, customer(f"C-{n}", "Asia/Shanghai", phone=f"+86138000000{n:02d}"), f"C-{n}")
        await deliver(runtime, request(f"R-{n}", f"C-{n}"), f"C-{n}")
    await _count_request_updates(runtime)
    async with runtime.unit_of_work() as work:
        round_ = await runtime.dispatcher.prepare(work, await runtime.dispatcher.claim(work))
    async with runtime.database.reading() as connection:
        leased = dict((await connection.execute(
            select(contact_requests.c.request_id, contact_requests.c.due_at))).all())
    lease_end = clock.now() + timedelta(seconds=runtime.settings.dispatch_claim_seconds)
    assert {key: value.replace(tzinfo=UTC) for key, value in leased.items()} == {f"R-{n}": lease_end for n in range(3)}
    async with runtime.unit_of_work() as work:
        assert await runtime.dispatcher.claim(work) == [], "a leased round is not due again"
    results, _ = await runtime.dispatcher.hand_over(round_)
    async with runtime.unit_of_work() as work:
        await runtime.dispatcher.settle(work, results)
    async with runtime.database.reading() as connection:
        writes = (await connection.exec_driver_sql("SELECT request_id, status FROM request_writes")).all()
    assert sorted(writes) == sorted([(f"R-{n}", status) for n in range(3) for status in ("sending", "sent")])


async def ledger(runtime) -> list[tuple[str, str, str | None]]:
    async with runtime.database.reading() as connection:
        rows = await connection.execute(select(contact_ledger.c.request_id, contact_ledger.c.decision,
                                               contact_ledger.c.outcome).order_by(contact_ledger.c.id))
        return [tuple(row) for row in rows]


async def due_at(runtime, request_id: str):
    async with runtime.database.reading() as connection:
        value = (await connection.execute(select(contact_requests.c.due_at).where(
            contact_requests.c.request_id == request_id))).scalar_one()
    return value.replace(tzinfo=UTC)


async def test_a_contact_allowed_on_arrival_is_leased_with_it_and_sent_without_being_claimed(
        notifier_runtime, sms_provider, deliver, emitted, clock):
    runtime = await notifier_runtime()
    await deliver(runtime, customer("C-1", "Asia/Shanghai"), "C-1")  # 09:00 in Shanghai
    await deliver(runtime, request("R-1", "C-1"), "C-1")
    lease_end = clock.now() + timedelta(seconds=runtime.settings.dispatch_claim_seconds)
    assert await statuses(runtime) == {"R-1": "sending"} and await due_at(runtime, "R-1") == lease_end
    assert await ledger(runtime) == [("R-1", "allow", "sent")], "the attempt is in the arrival's transaction"
    assert (await sms_provider.stats())["messages"] == 0, "handed over, not yet sent"
    async with runtime.unit_of_work() as work:
        assert await runtime.dispatcher.claim(work) == [], "not claimable while the dispatcher holds it"
    assert await runtime.dispatcher.dispatch_while_due(runtime) == 1
    stats = await sms_provider.stats()
    assert stats["messages"] == 1 and stats["duplicates"] == 0
    assert await statuses(runtime) == {"R-1": "sent"}
    assert await ledger(runtime) == [("R-1", "allow", "sent")], "judged once"
    assert [kind for kind, _ in await emitted(runtime)] == ["ContactSent"]


async def test_a_hand_over_lost_with_the_process_is_sent_once_by_the_store_after_the_lease(
        notifier_runtime, sms_provider, deliver, clock):
    first = await notifier_runtime()
    await deliver(first, customer("C-1", "Asia/Shanghai"), "C-1")
    await deliver(first, request("R-1", "C-1"), "C-1")  # committed and handed over; the process dies here
    second = await notifier_runtime()  # a restart: nothing in memory, the lease in the store
    assert await second.dispatcher.dispatch_while_due(second) == 0
    clock.advance(timedelta(seconds=second.settings.dispatch_claim_seconds))
    assert await second.dispatcher.dispatch_while_due(second) == 1
    stats = await sms_provider.stats()
    assert stats["messages"] == 1 and stats["duplicates"] == 0
    assert await statuses(second) == {"R-1": "sent"}


async def test_an_arrival_that_rolls_back_hands_nothing_over(notifier_runtime, sms_provider, deliver, event_for):
    runtime = await notifier_runtime()
    await deliver(runtime, customer("C-1", "Asia/Shanghai"), "C-1")
    event = event_for(runtime, request("R-1", "C-1"), "C-1")
    with pytest.raises(RuntimeError):
        async with runtime.unit_of_work() as work:
            await runtime.notifier.batch_handlers()[event.type]([event], work)
            raise RuntimeError("the consumer's transaction fails after the handler")
    assert runtime.dispatcher.room_on_arrival() == 2 * runtime.settings.dispatch_batch_size
    assert await runtime.dispatcher.dispatch_while_due(runtime) == 0
    assert await statuses(runtime) == {} and (await sms_provider.stats())["messages"] == 0


async def test_a_hand_over_that_waited_past_half_its_lease_is_left_to_the_store(
        notifier_runtime, sms_provider, deliver, clock):
    """Dropped from memory before it could be claimable again: sent once, by the store."""
    runtime = await notifier_runtime()
    await deliver(runtime, customer("C-1", "Asia/Shanghai"), "C-1")
    await deliver(runtime, request("R-1", "C-1"), "C-1")
    clock.advance(timedelta(seconds=runtime.settings.dispatch_claim_seconds * 0.6))
    assert await runtime.dispatcher.dispatch_while_due(runtime) == 0
    assert (await sms_provider.stats())["messages"] == 0
    clock.advance(timedelta(seconds=runtime.settings.dispatch_claim_seconds * 0.4))
    assert await runtime.dispatcher.dispatch_while_due(runtime) == 1
    stats = await sms_provider.stats()
    assert stats["messages"] == 1 and stats["duplicates"] == 0
    assert await statuses(runtime) == {"R-1": "sent"}


async def test_without_room_in_memory_a_run_waits_in_the_store_and_is_judged_again(
        notifier_runtime, sms_provider, deliver, deliver_together, emitted):
    """The dispatcher holds at most two batches in memory, whatever the providers' pace."""
    runtime = await notifier_runtime(dispatch_batch_size=1)
    for n in range(3):
        await deliver(runtime, customer(f"C-{n}", "Asia/Shanghai", phone=f"+86138000000{n:02d}"), f"C-{n}")
    await deliver_together(runtime, [(request(f"R-{n}", f"C-{n}"), f"C-{n}") for n in range(3)])
    assert await statuses(runtime) == {f"R-{n}": "pending" for n in range(3)}, "more than the room left"
    assert await ledger(runtime) == []
    assert await runtime.dispatcher.dispatch_while_due(runtime) == 3
    assert await statuses(runtime) == {f"R-{n}": "sent" for n in range(3)}
    assert (await sms_provider.stats())["duplicates"] == 0
    assert [kind for kind, _ in await emitted(runtime)] == ["ContactSent"] * 3


async def test_a_contact_deferred_on_arrival_is_not_handed_over(notifier_runtime, sms_provider, deliver, clock):
    runtime = await notifier_runtime()
    await deliver(runtime, customer("C-UK", "Europe/London", phone="+447700900123", language="en"), "C-UK")
    await deliver(runtime, request("R-UK", "C-UK"), "C-UK")  # 01:00 in London
    assert runtime.dispatcher.room_on_arrival() == 2 * runtime.settings.dispatch_batch_size
    assert await statuses(runtime) == {"R-UK": "pending"}
    assert await due_at(runtime, "R-UK") == clock.now() + timedelta(hours=7)
    assert await ledger(runtime) == [("R-UK", "defer", None)]


async def test_the_dispatcher_is_busy_from_a_hand_over_or_a_failed_round_until_a_round_finds_nothing_due(
        notifier_runtime, sms_provider, deliver):
    """The gauge a simulated clock waits on before it moves (the simulator's settle): a
    dispatcher backing off after failed rounds still has its contacts to send."""
    runtime = await notifier_runtime(dispatch_interval_seconds=0.01, retry_backoff_max_seconds=0.05)
    DISPATCHER_BUSY.set(0)
    await deliver(runtime, customer("C-1", "Asia/Shanghai"), "C-1")
    await deliver(runtime, request("R-1", "C-1"), "C-1")
    assert DISPATCHER_BUSY._value.get() == 1, "handed over on arrival"
    await sms_provider.control(fail_next=100, fail_status=503)
    worker = asyncio.create_task(runtime.dispatcher.run(runtime))
    try:
        await asyncio.sleep(0.5)
        assert DISPATCHER_BUSY._value.get() == 1 and (await sms_provider.stats())["messages"] == 0
        await sms_provider.control(fail_next=0)
        for _ in range(200):
            if await statuses(runtime) == {"R-1": "sent"} and DISPATCHER_BUSY._value.get() == 0:
                break
            await asyncio.sleep(0.05)
        assert await statuses(runtime) == {"R-1": "sent"} and DISPATCHER_BUSY._value.get() == 0
    finally:
        worker.cancel()
    store = await notifier_runtime(dispatch_on_arrival=False, dispatch_interval_seconds=0.01)
    await deliver(store, request("R-2", "C-1", template="reminder.sms", parameters={**OVERDUE, "due_date": "2"}),
                  "C-1")
    assert DISPATCHER_BUSY._value.get() == 1, "requested due now, in the store"
    assert await store.dispatcher.dispatch_and_rest(store) == 1
    assert DISPATCHER_BUSY._value.get() == 0


async def test_a_resend_after_a_lease_ran_out_at_night_waits_for_the_customers_morning(
        notifier_runtime, sms_provider, deliver, clock):
    """The provider may never have had it: a resend is a contact, so it keeps the hours."""
    runtime = await notifier_runtime(dispatch_on_arrival=False)
    await deliver(runtime, customer("C-1", "Asia/Shanghai"), "C-1")  # 09:00 in Shanghai
    await deliver(runtime, request("R-1", "C-1"), "C-1")
    async with runtime.unit_of_work() as work:
        [(request_row, _)] = await runtime.dispatcher.prepare(work, await runtime.dispatcher.claim(work))
    assert request_row["status"] == "sending"  # the process dies before the hand-over
    clock.advance(timedelta(hours=13))  # 22:00 in Shanghai, the lease long over
    assert await runtime.dispatcher.dispatch_due(runtime) == 1, "claimed, and held back"
    assert (await sms_provider.stats())["messages"] == 0
    assert await statuses(runtime) == {"R-1": "sending"}
    morning = datetime(2026, 11, 3, 0, tzinfo=UTC)  # 08:00 in Shanghai
    async with runtime.database.reading() as connection:
        due = (await connection.execute(select(contact_requests.c.due_at))).scalar_one()
    assert due.replace(tzinfo=UTC) == morning
    clock.set(morning)
    assert await runtime.dispatcher.dispatch_due(runtime) == 1
    stats = await sms_provider.stats()
    assert stats["messages"] == 1 and stats["duplicates"] == 0
    assert await statuses(runtime) == {"R-1": "sent"}
