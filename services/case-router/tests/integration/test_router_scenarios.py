"""Collection scenarios through the real broker, on SQLite and PostgreSQL: driven only by
events in (delinquency, contact, agency, payments topics) and the agent-desk API, read
only from events out and the API."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from collections_core.contracts.collections.v1 import cases_pb2, contacts_pb2, delinquency_pb2
from collections_core.contracts.corebanking.v1 import payments_pb2
from collections_core.money import Money
from collections_core.wire import date_from_proto, date_to_proto, instant_to_proto

from router_harness import start_router, token

pytestmark = pytest.mark.integration
FIRST = date(2026, 11, 2)  # the account's first delinquent day (DPD 1)


def on(dpd: int) -> date:
    return FIRST + timedelta(days=dpd - 1)


def of(events, kind: str) -> list:
    return [message for k, message in events if k == kind]


async def test_a_never_paying_account_walks_every_stage_on_the_right_days(router):
    account = router.account()
    for dpd in (1, 7, 8, 30, 31, 60, 61, 90, 91, 180, 181):
        await router.day(account, on(dpd), dpd)
    await router.day(account, on(181), 181)  # the same day again (a replay with a new event id)
    events = await router.events(account)
    moves = [(cases_pb2.Stage.Name(m.from_stage), cases_pb2.Stage.Name(m.to_stage), date_from_proto(m.business_date),
              m.rule) for m in of(events, "StageChanged")]
    assert moves == [
        ("STAGE_REMINDER", "STAGE_EARLY", on(8), "early.8-30"),
        ("STAGE_EARLY", "STAGE_LETTER", on(31), "letter.31-90"),
        ("STAGE_LETTER", "STAGE_FIELD", on(61), "field.61-90"),
        ("STAGE_FIELD", "STAGE_AGENCY", on(91), "agency.91-180"),
        ("STAGE_AGENCY", "STAGE_LEGAL", on(181), "legal.over-180"),
    ]
    assert all(m.strategy_id == "default" and m.strategy_version == 1 and m.variant for m in of(events, "StageChanged"))
    assert len(of(events, "CaseOpened")) == 1
    kinds = [p.kind for p in of(events, "PlacementRequested")]
    assert kinds == [1, 2], "one agency placement, then one law-firm referral"
    templates = [r.template for r in of(events, "ContactRequested")]
    assert templates.count("overdue.sms") == 1 and templates.count("collection-letter.letter") == 1
    assert templates.count("bureau-prenotice.letter") == 1
    assert of(events, "CreditBureauReportRequested") == [], "no report: the pre-notice was never delivered"
    ids = [r.request_id for r in of(events, "ContactRequested")]
    assert len(ids) == len(set(ids)), "no contact requested twice"


async def test_credit_report_only_after_the_pre_notice_was_delivered_and_its_wait_passed(router):
    account = router.account()
    await router.day(account, on(61), 61)
    events = await router.events(account)
    notice = next(r for r in of(events, "ContactRequested") if r.template == "bureau-prenotice.letter")
    await router.send("collections.contact-events.v1", contacts_pb2.ContactSent(
        request_id=notice.request_id, account_id=account, case_id=notice.case_id,
        channel=contacts_pb2.CHANNEL_LETTER), account)
    await router.day(account, on(91), 91)
    assert of(await router.events(account), "CreditBureauReportRequested") == [], "sent is not delivered"
    delivered = on(91)
    await router.send("collections.contact-events.v1", contacts_pb2.ContactDelivered(
        request_id=notice.request_id, account_id=account, channel=contacts_pb2.CHANNEL_LETTER,
        delivered_at=instant_to_proto(datetime(delivered.year, delivered.month, delivered.day, 9, tzinfo=UTC))),
        account)
    await router.day(account, on(104), 104)  # 13 days after delivery: still waiting
    assert of(await router.events(account), "CreditBureauReportRequested") == []
    await router.day(account, on(105), 105)
    await router.day(account, on(106), 106)
    reports = of(await router.events(account), "CreditBureauReportRequested")
    assert [r.dpd for r in reports] == [105], "one report, on the first day the wait is over"


async def test_cure_while_placed_recalls_and_cancels_pending_contacts(router):
    account = router.account()
    await router.day(account, on(91), 91)
    await router.send("collections.delinquency.v1", delinquency_pb2.AccountCured(
        account_id=account, customer_id=f"C-{account}", business_date=date_to_proto(on(93))), account)
    events = await router.events(account)
    placement = of(events, "PlacementRequested")[0]
    assert [r.placement_id for r in of(events, "RecallRequested")] == [placement.placement_id]
    pending = {r.request_id for r in of(events, "ContactRequested")}
    assert {c.request_id for c in of(events, "ContactCancelled")} == pending and pending
    assert [c.reason for c in of(events, "CaseClosed")] == ["cured"]
    behaviours = [b.behaviour for b in of(events, "CreditBehaviourRecorded")]
    assert behaviours == [cases_pb2.CREDIT_BEHAVIOUR_CURED]


async def test_promise_kept_and_promise_broken(router):
    kept, broken = router.account("K"), router.account("B")
    async with router.http() as http:
        for account in (kept, broken):
            await router.day(account, on(10), 10)
            await router.settle()
            case = (await http.get(f"/v1/accounts/{account}/case", headers=token())).json()
            response = await http.post(f"/v1/cases/{case['case_id']}/promises", headers={
                **token(), "Idempotency-Key": f"promise-{account}"},
                json={"amount_minor": 40_000, "due_on": on(20).isoformat()})
            assert response.status_code == 201, response.text
    await router.send("corebanking.payments.v1", payments_pb2.PaymentPosted(
        account_id=kept, payment_id=f"P-{kept}", amount=Money(40_000, "CNY").to_proto(),
        posted_on=date_to_proto(on(15)), value_date=date_to_proto(on(15))), kept)
    for account in (kept, broken):
        await router.day(account, on(35), 35)  # before the promise's date + 3 days
        await router.day(account, on(36), 36)
    kept_events, broken_events = await router.events(kept), await router.events(broken)
    assert [b.behaviour for b in of(kept_events, "CreditBehaviourRecorded")] == [cases_pb2.CREDIT_BEHAVIOUR_PROMISE_KEPT]
    assert of(kept_events, "StageChanged")[-1].to_stage == cases_pb2.STAGE_LETTER, "kept: the ladder resumes"
    # Broken: judged on the first day after 20 + 3, then escalation resumes that very day.
    assert [b.behaviour for b in of(broken_events, "CreditBehaviourRecorded")] == [
        cases_pb2.CREDIT_BEHAVIOUR_PROMISE_BROKEN]
    assert [date_from_proto(m.business_date) for m in of(broken_events, "StageChanged")] == [on(10), on(35)]


async def test_dispute_holds_until_resolved_then_the_ladder_resumes(router):
    account = router.account()
    await router.day(account, on(10), 10)
    await router.settle()
    async with router.http() as http:
        case = (await http.get(f"/v1/accounts/{account}/case", headers=token())).json()
        opened = await http.post(f"/v1/cases/{case['case_id']}/disputes", headers={
            **token(), "Idempotency-Key": f"dispute-{account}"}, json={"reason": "customer disputes the fee"})
        assert opened.status_code == 201
        await router.day(account, on(40), 40)
        await router.settle()
        assert of(await router.events(account), "StageChanged")[-1].to_stage == cases_pb2.STAGE_EARLY
        resolved = await http.post(f"/v1/cases/{case['case_id']}/disputes/resolution", headers={
            **token(), "Idempotency-Key": f"resolve-{account}"}, json={"outcome": "rejected", "reason": "fee is valid"})
        assert resolved.status_code == 200
        await router.day(account, on(41), 41)
        events = await router.events(account)
        view = (await http.get(f"/v1/cases/{case['case_id']}", headers=token())).json()
    assert of(events, "StageChanged")[-1].to_stage == cases_pb2.STAGE_LETTER
    entries = [e["entry"] for e in view["timeline"]]
    assert "hold-started" in entries and "hold-ended" in entries


async def test_hardship_hold_then_a_plan_that_is_kept_resolves_the_case(router):
    account = router.account()
    await router.day(account, on(20), 20)
    await router.settle()
    async with router.http() as http:
        case = (await http.get(f"/v1/accounts/{account}/case", headers=token())).json()
        headers = {**token()}
        assert (await http.post(f"/v1/cases/{case['case_id']}/hardship", headers={
            **headers, "Idempotency-Key": f"hardship-{account}"}, json={"reason": "lost job"})).status_code == 201
        await router.day(account, on(40), 40)
        await router.settle()
        assert len(of(await router.events(account), "StageChanged")) == 1, "hardship review holds escalation"
        plan = await http.post(f"/v1/cases/{case['case_id']}/plans", headers={
            **headers, "Idempotency-Key": f"plan-{account}"},
            json={"kind": "instalments", "total_minor": 50_000, "count": 2, "first_due_on": "2026-12-20"})
        assert plan.status_code == 201, plan.text
    for n, amount in enumerate((25_000, 25_000)):
        await router.send("corebanking.payments.v1", payments_pb2.PaymentPosted(
            account_id=account, payment_id=f"P{n}-{account}", amount=Money(amount, "CNY").to_proto(),
            posted_on=date_to_proto(on(45 + n)), value_date=date_to_proto(on(45 + n))), account)
    events = await router.events(account)
    assert [c.reason for c in of(events, "CaseClosed")] == ["plan-completed"]
    assert [b.behaviour for b in of(events, "CreditBehaviourRecorded")] == [cases_pb2.CREDIT_BEHAVIOUR_PLAN_COMPLETED]


async def test_a_broken_plan_resumes_escalation(router):
    account = router.account()
    await router.day(account, on(20), 20)
    await router.settle()
    async with router.http() as http:
        case = (await http.get(f"/v1/accounts/{account}/case", headers=token())).json()
        plan = await http.post(f"/v1/cases/{case['case_id']}/plans", headers={
            **token(), "Idempotency-Key": f"plan-{account}"},
            json={"kind": "minimum-payment", "instalments": [{"due_on": "2026-11-30", "amount_minor": 10_000},
                                                              {"due_on": "2026-12-30", "amount_minor": 10_000}]})
        assert plan.status_code == 201, plan.text
    await router.day(account, on(31), 31)  # 2 Dec: the 30 Nov instalment is within its 5 days' grace
    await router.day(account, on(36), 36)  # 7 Dec: its grace has passed and nothing was paid
    events = await router.events(account)
    assert [b.behaviour for b in of(events, "CreditBehaviourRecorded")] == [cases_pb2.CREDIT_BEHAVIOUR_PLAN_BROKEN]
    assert [date_from_proto(m.business_date) for m in of(events, "StageChanged")] == [on(20), on(36)]


async def test_the_variant_split_is_stable_across_restarts(kafka, database_url, router_topics, router):
    accounts = [router.account(f"V{n}", variant=None) for n in range(12)]
    for account in accounts:
        await router.day(account, on(3), 3)
    await router.settle()
    async with router.http() as http:
        before = {a: (await http.get(f"/v1/accounts/{a}/case", headers=token())).json()["variant"] for a in accounts}
    await router.runtime.stop()
    run, topics = router_topics
    router.runtime = await start_router(kafka, database_url, run, topics, router.clock)
    for account in accounts:
        await router.day(account, on(31), 31)
    events = {a: of(await router.events(a, topics=("collections.case-events.v1",)), "StageChanged") for a in accounts[:3]}
    assert all(m.variant == before[a] for a, changes in events.items() for m in changes)
    assert set(before.values()) <= {"champion", "challenger"}
