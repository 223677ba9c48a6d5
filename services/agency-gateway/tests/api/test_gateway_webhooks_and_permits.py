"""Webhooks to a real HTTP receiver that verifies signatures and fails at first;
call permits forwarded to a real HTTP stand-in of the notifier's permit API."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from datetime import date

import httpx
import jwt
import pytest
from agency_gateway.main import observe_placements
from agency_gateway.notifier import Notifier
from agency_gateway.tables import activities
from agency_gateway.webhooks import WebhookSender
from collections_core.contracts.collections.v1 import placements_pb2
from collections_core.contracts.corebanking.v1 import payments_pb2
from collections_core.money import Money
from collections_core.wire import date_to_proto
from gateway_testkit import STAFF_SECRET, LocalServer, gateway_settings, staff
from prometheus_client import REGISTRY
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

pytestmark = pytest.mark.integration
TOLERANCE = 300


class PartnerReceiver:
    """What a partner runs: verify the signature and the timestamp, dedupe on the delivery id."""

    def __init__(self, secret: str, failures: int) -> None:
        self.secret = secret.encode()
        self.failures_left = failures
        self.accepted: list[str] = []  # delivery ids, once each
        self.requests: list[tuple[dict, bytes]] = []
        self.clock_skew = 0
        self.app = Starlette(routes=[Route("/hooks", self.hook, methods=["POST"])])

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        self.requests.append((headers, body))
        timestamp = headers.get("x-cc-timestamp", "")
        expected = "v1=" + hmac.new(self.secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, headers.get("x-cc-signature", "")):
            return Response(status_code=401)
        if abs(time.time() + self.clock_skew - int(timestamp)) > TOLERANCE:
            return Response(status_code=401)  # a replay of a captured request
        if self.failures_left > 0:
            self.failures_left -= 1
            return Response(status_code=503)
        delivery = headers["x-cc-delivery-id"]
        if delivery not in self.accepted:
            self.accepted.append(delivery)
        assert json.loads(body)["id"] == delivery
        return Response(status_code=204)


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, {"service": "agency-gateway", **labels}) or 0.0


async def test_webhooks_are_signed_retried_and_delivered_exactly_once_each(gateway):
    receiver = PartnerReceiver("", failures=4)
    failed_before = sample("gateway_webhook_attempts_total", partner="AG-1", result="failed")
    delivered_before = sample("gateway_webhook_attempts_total", partner="AG-1", result="delivered")
    recalls_before = sample("gateway_recalls_total", reason="cured")
    timed_before = sample("gateway_webhook_latency_seconds_count")
    async with LocalServer(receiver.app) as server:
        partner = await gateway.partner("AG-1", webhook_url=f"{server.url}/hooks")
        receiver.secret = partner["webhook_secret"].encode()
        for n in range(3):
            await gateway.place(f"PL-{n}", f"A-{n}")
        await gateway.handle(placements_pb2.RecallRequested(placement_id="PL-0", account_id="A-0",
                                                            reason="cured"), key="A-0")
        await gateway.handle(payments_pb2.PaymentPosted(
            account_id="A-1", payment_id="PAY-1", amount=Money(9_000, "CNY").to_proto(),
            posted_on=date_to_proto(date(2026, 11, 5)), value_date=date_to_proto(date(2026, 11, 5))), key="A-1")
        settings = gateway_settings(gateway.runtime.settings.database_url, webhook_retry_base_seconds=0.1,
                                    webhook_retry_cap_seconds=0.5)
        sender = WebhookSender(settings, gateway.runtime.keyring, gateway.runtime.database)
        try:
            deadline = time.monotonic() + 60
            while len(receiver.accepted) < 5 and time.monotonic() < deadline:
                await sender.deliver_due()
                await asyncio.sleep(0.05)
            for _ in range(3):  # nothing more goes out once everything is delivered
                assert await sender.deliver_due() == 0
        finally:
            await sender.close()

        log = (await gateway.client.get("/v1/admin/partners/AG-1/webhook-deliveries",
                                        headers=staff("operations"))).json()["deliveries"]
        assert sorted(receiver.accepted) == sorted(d["delivery_id"] for d in log)
        assert len(receiver.accepted) == 5 and all(d["status"] == "delivered" for d in log)
        assert sorted(d["type"] for d in log) == ["payment.posted", "placement.created", "placement.created",
                                                  "placement.created", "placement.recalled"]
        assert sum(d["attempts"] for d in log) == 5 + 4 and all(d["last_error"] is None for d in log)
        assert len(receiver.requests) == 9  # 4 refused, then each delivery once: none doubled

        # A captured request replayed ten minutes later is refused by the receiver.
        headers, body = receiver.requests[-1]
        receiver.clock_skew = 600
        async with httpx.AsyncClient() as client:
            replay = await client.post(f"{server.url}/hooks", content=body, headers={
                k: v for k, v in headers.items() if k.startswith("x-cc-") or k == "content-type"})
        assert replay.status_code == 401 and len(receiver.accepted) == 5

    partner_view = (await gateway.client.get("/v1/webhook-deliveries", headers=await gateway.token(partner))).json()
    assert len(partner_view["deliveries"]) == 5
    assert sample("gateway_webhook_attempts_total", partner="AG-1", result="failed") == failed_before + 4
    assert sample("gateway_webhook_attempts_total", partner="AG-1", result="delivered") == delivered_before + 5
    assert sample("gateway_recalls_total", reason="cured") == recalls_before + 1
    assert sample("gateway_webhook_latency_seconds_count") == timed_before + 5, "each delivery's latency, once"
    await observe_placements(gateway.runtime)
    assert sample("gateway_placements", partner="AG-1", state="recalled") == 1
    assert sample("gateway_placements", partner="AG-1", state="placed") == 2


async def test_a_committed_webhook_rings_the_worker(gateway):
    """The worker polls once a minute here: a webhook reaches the partner within seconds
    only because the transaction that queued it rang the worker's doorbell."""
    receiver = PartnerReceiver("", failures=0)
    async with LocalServer(receiver.app) as server:
        partner = await gateway.partner("AG-1", webhook_url=f"{server.url}/hooks")
        receiver.secret = partner["webhook_secret"].encode()
        settings = gateway_settings(gateway.runtime.settings.database_url, webhook_poll_seconds=60)
        sender = WebhookSender(settings, gateway.runtime.keyring, gateway.runtime.database,
                               queued=gateway.runtime.gateway.webhooks_queued)
        worker = asyncio.create_task(sender.run())
        try:
            await asyncio.sleep(0.5)  # the worker's first round found nothing; it now rests for the minute
            await gateway.place("PL-0", "A-0")
            await until_accepted(receiver, 1)
            await gateway.handle(placements_pb2.RecallRequested(placement_id="PL-0", account_id="A-0",
                                                                reason="cured"), key="A-0")
            await until_accepted(receiver, 2)
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
    assert [json.loads(body)["type"] for _, body in receiver.requests] == ["placement.created", "placement.recalled"]


async def until_accepted(receiver: PartnerReceiver, count: int, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while len(receiver.accepted) < count:
        assert time.monotonic() < deadline, f"{count} webhooks not delivered within {within} s"
        await asyncio.sleep(0.05)


class NotifierStandIn:
    """The notifier's permit API as interfaces.md fixes it, checking the gateway's service token."""

    def __init__(self) -> None:
        self.permits: dict[str, dict] = {}
        self.outcomes: list[dict] = []
        self.app = Starlette(routes=[Route("/v1/call-permits", self.permit, methods=["POST"]),
                                     Route("/v1/call-outcomes", self.outcome, methods=["POST"])])

    def _authorised(self, request: Request) -> bool:
        token = request.headers.get("authorization", "")[7:]
        try:
            claims = jwt.decode(token, STAFF_SECRET, algorithms=["HS256"], audience="card-collections")
        except jwt.PyJWTError:
            return False
        return "agency-gateway" in claims["roles"]

    async def permit(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"status": 401}, status_code=401)
        body = await request.json()
        if body["permit_request_id"] not in self.permits:
            blocked = body["customer_id"] == "C-CEASE"
            self.permits[body["permit_request_id"]] = {
                "permit_id": f"PM-{len(self.permits) + 1}", "decision": "block" if blocked else "allow",
                "rule": "cease-contact" if blocked else None, "retry_after": None,
                "customer_local_time": "2026-11-02T10:00:00+08:00", "request": body}
        answer = dict(self.permits[body["permit_request_id"]])
        answer.pop("request")
        return JSONResponse(answer)

    async def outcome(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"status": 401}, status_code=401)
        self.outcomes.append(await request.json())
        return JSONResponse({"recorded": True})


async def test_call_permits_go_through_the_notifier(gateway):
    notifier = NotifierStandIn()
    async with LocalServer(notifier.app) as server:
        gateway.app.state.notifier = Notifier(gateway_settings(gateway.runtime.settings.database_url,
                                                               notifier_url=server.url))
        partner = await gateway.partner("AG-1")
        await gateway.place("PL-1", "A-1", customer_id="C-1")
        await gateway.place("PL-2", "A-2", customer_id="C-CEASE")
        headers = await gateway.token(partner)
        allowed = await gateway.client.post("/v1/placements/PL-1/call-permits", json={"agent_id": "agent-7"},
                                            headers={**headers, "Idempotency-Key": "call-1"})
        again = await gateway.client.post("/v1/placements/PL-1/call-permits", json={"agent_id": "agent-7"},
                                          headers={**headers, "Idempotency-Key": "call-1"})
        assert allowed.status_code == 200 and allowed.json()["decision"] == "allow"
        assert again.json()["permit_id"] == allowed.json()["permit_id"] and len(notifier.permits) == 1
        [forwarded] = [p["request"] for p in notifier.permits.values()]
        assert forwarded["customer_id"] == "C-1" and forwarded["account_id"] == "A-1"
        assert forwarded["caller"] == {"kind": "agency", "id": "agent-7", "agency_id": "AG-1"}

        blocked = await gateway.client.post("/v1/placements/PL-2/call-permits", json={"agent_id": "agent-7"},
                                            headers={**headers, "Idempotency-Key": "call-2"})
        assert blocked.json()["decision"] == "block" and blocked.json()["rule"] == "cease-contact"

        outcome = {"permit_id": allowed.json()["permit_id"], "outcome": "no-answer"}
        recorded = await gateway.client.post("/v1/placements/PL-1/call-outcomes", json=outcome,
                                             headers={**headers, "Idempotency-Key": "out-1"})
        assert recorded.json() == {"recorded": True} and notifier.outcomes[0]["outcome"] == "no-answer"
        # A permit issued for another placement cannot be reported on this one.
        crossed = await gateway.client.post("/v1/placements/PL-2/call-outcomes", json=outcome,
                                            headers={**headers, "Idempotency-Key": "out-2"})
        assert crossed.status_code == 404
        await gateway.app.state.notifier.close()

    gateway.app.state.notifier = Notifier(gateway_settings(gateway.runtime.settings.database_url,
                                                           notifier_url=server.url))
    down = await gateway.client.post("/v1/placements/PL-1/call-permits", json={"agent_id": "agent-7"},
                                     headers={**headers, "Idempotency-Key": "call-3"})
    assert down.status_code == 503 and down.headers["retry-after"] == "5"
    await gateway.app.state.notifier.close()


async def test_reported_calls_go_by_a_permit_for_that_placement(gateway):
    notifier = NotifierStandIn()
    async with LocalServer(notifier.app) as server:
        gateway.app.state.notifier = Notifier(gateway_settings(gateway.runtime.settings.database_url,
                                                               notifier_url=server.url))
        headers = await gateway.token(await gateway.partner("AG-1"))
        await gateway.place("PL-1", "A-1", customer_id="C-1")
        await gateway.place("PL-2", "A-2", customer_id="C-CEASE")
        await gateway.place("PL-3", "A-3", customer_id="C-1")  # the same customer's other card

        async def permit(placement: str, key: str) -> str:
            answer = await gateway.client.post(f"/v1/placements/{placement}/call-permits", json={"agent_id": "a-7"},
                                               headers={**headers, "Idempotency-Key": key})
            return answer.json()["permit_id"]

        allowed, blocked = await permit("PL-1", "ask-1"), await permit("PL-2", "ask-2")
        await gateway.app.state.notifier.close()

    async def report(placement: str, key: str, kind: str = "call-attempt", **extra) -> httpx.Response:
        return await gateway.client.post(f"/v1/placements/{placement}/activities", headers={
            **headers, "Idempotency-Key": key}, json={"kind": kind, "occurred_at": "2026-11-02T10:05:00+08:00",
                                                      **extra})

    refusals = [
        (await report("PL-1", "r-1"), 422, "permit-required"),
        (await report("PL-1", "r-2", permit_id="PM-404"), 422, "unknown-permit"),
        (await report("PL-2", "r-3", "contact", permit_id=allowed), 409, "permit-for-another-customer"),
        (await report("PL-3", "r-4", permit_id=allowed), 409, "permit-for-another-placement"),
        (await report("PL-2", "r-5", permit_id=blocked), 409, "permit-refused"),
        (await report("PL-1", "r-6", "note", permit_id=allowed), 422, "permit-not-expected"),
    ]
    for answer, status, reason in refusals:
        assert (answer.status_code, answer.json()["reason"]) == (status, reason), answer.text
        assert answer.headers["content-type"] == "application/problem+json"
    assert "cease-contact" in refusals[4][0].json()["detail"]

    called = await report("PL-1", "r-7", permit_id=allowed)
    assert called.status_code == 201
    assert (await report("PL-1", "r-7", permit_id=allowed)).json() == called.json()  # a retry is a replay
    reused = await report("PL-1", "r-8", "contact", permit_id=allowed)
    assert (reused.status_code, reused.json()["reason"]) == (409, "permit-used")
    async with gateway.runtime.database.reading() as connection:
        recorded = (await connection.execute(select(activities.c.kind, activities.c.permit_id))).all()
    assert recorded == [("call-attempt", allowed)]  # nothing written by the refused ones
