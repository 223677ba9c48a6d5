"""The notifier's HTTP API behind the shared JWT verifier: call permits and
outcomes in the one ledger, opt-outs, holds, the masked history, signed webhooks."""

import json
import time

import httpx
import pytest
from collections_core.auth import mint_token
from collections_core.contracts.corebanking.v1 import customers_pb2
from notifier.main import create_app
from notifier.webhooks import sign

pytestmark = pytest.mark.integration
JWT_SECRET = "notifier-test-secret-of-32-bytes!!"
WEBHOOK_SECRET = "test-webhook-secret"


def bearer(*roles: str, subject: str = "alice") -> dict:
    # Minted when the module is collected: a whole test run can take longer than minutes
    # before these tests run, so they live for a run's length.
    return {"Authorization": f"Bearer {mint_token(JWT_SECRET, subject, roles, ttl_seconds=7200)}"}


AGENT, GATEWAY = bearer("agent"), bearer("agency-gateway", subject="agency-gateway")


def permit_body(n: int, customer: str = "C-1", kind: str = "bank-agent", **extra) -> dict:
    return {"permit_request_id": f"P-{customer}-{n}", "customer_id": customer, "account_id": f"A-{customer}",
            "caller": {"kind": kind, "id": f"agent-{n}", "agency_id": "AG-1" if kind == "agency" else None},
            **extra}


@pytest.fixture
async def api(notifier_runtime, deliver):
    runtime = await notifier_runtime()
    for customer_id, zone in (("C-1", "Asia/Shanghai"), ("C-UK", "Europe/London")):
        await deliver(runtime, customers_pb2.CustomerUpserted(
            customer_id=customer_id, name="韩梅梅", phone="+8613800138000", email="han.meimei@example.cn",
            time_zone=zone, language="zh-CN"), customer_id)
    app = create_app(runtime=runtime)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://notifier") as client:
        client.runtime = runtime
        yield client


async def test_call_permits_count_bank_and_agency_calls_in_one_ledger(api):
    """CN pack: at most 6 unanswered calls a day, whoever dials."""
    answers = []
    for n in range(7):
        kind, headers = ("agency", GATEWAY) if n % 2 else ("bank-agent", AGENT)
        response = await api.post("/v1/call-permits", json=permit_body(n, kind=kind), headers=headers)
        assert response.status_code == 200, response.text
        answers.append(response.json())
        if answers[-1]["decision"] == "allow":
            outcome = await api.post("/v1/call-outcomes", headers=headers,
                                     json={"permit_id": answers[-1]["permit_id"], "outcome": "no-answer"})
            assert outcome.json() == {"recorded": True}
    assert [a["decision"] for a in answers] == ["allow"] * 6 + ["defer"]
    assert answers[-1]["rule"] == "unanswered-calls-cap"
    assert answers[-1]["retry_after"].startswith("2026-11-03T00:00:00")  # 08:00 tomorrow in Shanghai
    assert answers[0]["customer_local_time"] == "2026-11-02T09:00:00+08:00"
    metrics = (await api.get("/metrics")).text
    assert 'notifier_policy_decisions_total{decision="defer",rule="unanswered-calls-cap"}' in metrics
    assert 'notifier_contacts_total{channel="call",outcome="no-answer"}' in metrics


async def test_a_permit_request_is_idempotent_and_so_is_its_outcome(api):
    first = (await api.post("/v1/call-permits", json=permit_body(1), headers=AGENT)).json()
    again = (await api.post("/v1/call-permits", json=permit_body(1), headers=AGENT)).json()
    assert first == again
    body = {"permit_id": first["permit_id"], "outcome": "conversation"}
    assert (await api.post("/v1/call-outcomes", json=body, headers=AGENT)).json() == {"recorded": True}
    assert (await api.post("/v1/call-outcomes", json=body, headers=AGENT)).json() == {"recorded": True}
    clash = await api.post("/v1/call-outcomes", json={**body, "outcome": "no-answer"}, headers=AGENT)
    assert clash.status_code == 409 and clash.headers["content-type"] == "application/problem+json"


async def test_quiet_hours_defer_a_call_and_holds_block_it(api):
    night = (await api.post("/v1/call-permits", json=permit_body(1, "C-UK"), headers=AGENT)).json()
    assert (night["decision"], night["rule"]) == ("defer", "quiet-hours")
    assert night["retry_after"].startswith("2026-11-02T08:00:00")
    held = await api.put("/v1/customers/C-1/holds/dispute", json={"until": None}, headers=AGENT)
    assert held.status_code == 200
    blocked = (await api.post("/v1/call-permits", json=permit_body(2), headers=AGENT)).json()
    assert (blocked["decision"], blocked["rule"], blocked["retry_after"]) == ("block", "dispute", None)


async def test_bad_input_and_missing_rights_are_problems(api):
    assert (await api.post("/v1/call-permits", json=permit_body(1))).status_code == 401
    assert (await api.post("/v1/call-permits", json=permit_body(1), headers=bearer("compliance"))).status_code == 403
    agency_as_agent = await api.post("/v1/call-permits", json=permit_body(1, kind="agency"), headers=AGENT)
    assert agency_as_agent.status_code == 403
    nameless_agency = permit_body(1, kind="agency")
    nameless_agency["caller"]["agency_id"] = None
    assert (await api.post("/v1/call-permits", json=nameless_agency, headers=GATEWAY)).status_code == 422
    invalid = await api.post("/v1/call-permits", json={"permit_request_id": "x"}, headers=AGENT)
    assert invalid.status_code == 422 and invalid.json()["status"] == 422
    unknown = await api.post("/v1/call-permits", json=permit_body(1, "C-NOBODY"), headers=AGENT)
    assert unknown.status_code == 404
    assert (await api.put("/v1/customers/C-1/opt-outs/fax", headers=AGENT)).status_code == 422
    naive = await api.put("/v1/customers/C-1/holds/breathing-space", json={"until": "2027-01-01T00:00:00"},
                          headers=AGENT)
    assert naive.status_code == 422


async def test_opt_out_api_and_the_history_shows_masked_contact_points_only(api):
    assert (await api.put("/v1/customers/C-1/opt-outs/call", headers=AGENT)).status_code == 200
    blocked = (await api.post("/v1/call-permits", json=permit_body(1), headers=AGENT)).json()
    assert (blocked["decision"], blocked["rule"]) == ("block", "opt-out")
    history = await api.get("/v1/customers/C-1/contact-history", headers=AGENT)
    text = history.text
    assert history.status_code == 200
    assert "13800138000" not in text and "han.meimei" not in text and "韩梅梅" not in text
    body = history.json()
    assert body["contact_points"]["phone"] == "+86138****8000"
    assert [o["channel"] for o in body["opt_outs"]] == ["call"]
    ledger = [(e["decision"], e["rule"], e["actor"]) for e in body["ledger"]]
    assert ledger == [("block", "opt-out", "bank-agent:agent-1")]
    assert (await api.delete("/v1/customers/C-1/opt-outs/call", headers=AGENT)).status_code == 200
    again = (await api.post("/v1/call-permits", json=permit_body(2), headers=AGENT)).json()
    assert again["decision"] == "allow"


def signed(body: dict, secret: str = WEBHOOK_SECRET, at: float | None = None) -> dict:
    raw = json.dumps(body).encode()
    stamp = int(at if at is not None else time.time())
    return {"content": raw, "headers": {"Content-Type": "application/json", "X-Timestamp": str(stamp),
                                        "X-Signature": sign(secret, stamp, raw)}}


async def test_a_stop_reply_opts_the_sender_out_of_sms(api, emitted):
    assert (await api.post("/v1/webhooks/sms/replies", **signed({"from": "+8613800138000", "text": "退订"}))
            ).json() == {"opted_out": True}
    assert (await api.post("/v1/webhooks/sms/replies", **signed({"from": "+8613800138000", "text": "hello"}))
            ).json() == {"opted_out": False}
    events = [kind for kind, _ in await emitted(api.runtime)]
    assert events == ["OptOutRecorded", "OptOutRecorded"]  # both customers share the phone number
    history = (await api.get("/v1/customers/C-1/contact-history", headers=AGENT)).json()
    assert history["opt_outs"][0]["channel"] == "sms" and history["opt_outs"][0]["source"] == "customer"


async def test_webhooks_refuse_bad_signatures_and_replays(api):
    forged = await api.post("/v1/webhooks/sms/replies", **signed({"from": "+8613800138000", "text": "STOP"},
                                                                  secret="guess"))
    assert forged.status_code == 401
    stale = await api.post("/v1/webhooks/sms/receipts", **signed({"reference": "R-1", "status": "delivered"},
                                                                  at=time.time() - 3600))
    assert stale.status_code == 401


async def test_a_signed_receipt_marks_the_contact_delivered(api, deliver, emitted):
    from collections_core.contracts.collections.v1 import contacts_pb2
    runtime = api.runtime
    await deliver(runtime, contacts_pb2.ContactRequested(
        request_id="R-1", account_id="A-1", customer_id="C-1", case_id="K-1", channel=contacts_pb2.CHANNEL_SMS,
        template="overdue.sms", parameters={"amount_minor": "100", "currency": "CNY", "card_last4": "1"}), "C-1")
    await runtime.dispatcher.dispatch_due(runtime)
    receipt = await api.post("/v1/webhooks/sms/receipts", **signed({"id": "x", "reference": "R-1",
                                                                    "status": "delivered"}))
    assert receipt.json() == {"recorded": True}
    assert [kind for kind, _ in await emitted(runtime)] == ["ContactSent", "ContactDelivered"]


async def test_a_receipt_that_overtakes_the_dispatchers_commit_counts_the_send_too(api, deliver, emitted):
    from collections_core.contracts.collections.v1 import contacts_pb2
    from prometheus_client import REGISTRY
    from sqlalchemy import update

    from notifier.tables import contact_requests

    def counted(outcome: str) -> float:
        return REGISTRY.get_sample_value("notifier_contacts_total", {"channel": "sms", "outcome": outcome}) or 0.0

    runtime = api.runtime
    await deliver(runtime, contacts_pb2.ContactRequested(
        request_id="R-2", account_id="A-1", customer_id="C-1", case_id="K-1", channel=contacts_pb2.CHANNEL_SMS,
        template="overdue.sms", parameters={"amount_minor": "100", "currency": "CNY", "card_last4": "1"}), "C-1")
    # Handed to the provider, the dispatcher's commit not yet made: the receipt comes first.
    async with runtime.database.transaction() as connection:
        await connection.execute(update(contact_requests).where(contact_requests.c.request_id == "R-2")
                                 .values(status="sending"))
    sent, delivered = counted("sent"), counted("delivered")
    receipt = await api.post("/v1/webhooks/sms/receipts", **signed({"id": "x2", "reference": "R-2",
                                                                    "status": "delivered"}))
    assert receipt.json() == {"recorded": True}
    assert [kind for kind, _ in await emitted(runtime)] == ["ContactSent", "ContactDelivered"]
    assert (counted("sent") - sent, counted("delivered") - delivered) == (1, 1)
