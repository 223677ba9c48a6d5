"""HTTP: call permits and outcomes, opt-outs and holds, the masked contact
history, and the SMS provider's signed webhooks. Routes parse, authorise, call
the same policy and ledger code as the event handlers, and answer; bad input is
an RFC 9457 problem."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy import delete, select, update

from collections_core.auth import Principal, require_roles
from collections_core.contracts.collections.v1 import contacts_pb2
from collections_core.http import Problem, problems
from collections_core.unit_of_work import UnitOfWork
from collections_core.wire import instant_to_proto
from notifier import facts
from notifier.domain.masking import mask_email, mask_phone
from notifier.domain.policy import HOLDS, Allow, Block, Defer, evaluate_contact
from notifier.facts import as_utc
from notifier.handlers import upsert
from notifier.judging import CHANNEL_CODES, CONTACT_EVENTS
from notifier.metrics import CONTACTS, POLICY_DECISIONS
from notifier.tables import call_permits, channel_preferences, contact_ledger, contact_points, contact_requests, holds
from notifier.webhooks import verify

router = APIRouter()
CALLERS = ("agent", "supervisor", "agency-gateway")
STOP_WORDS = frozenset({"STOP", "UNSUBSCRIBE", "TD", "T", "退订", "取消"})

Channel = Literal["sms", "email", "letter", "call"]
Hold = Literal[HOLDS]  # type: ignore[valid-type]


class BankAgent(BaseModel):
    kind: Literal["bank-agent"]
    id: str = Field(min_length=1, max_length=64)
    agency_id: None = None


class AgencyAgent(BaseModel):
    kind: Literal["agency"]
    id: str = Field(min_length=1, max_length=64)
    agency_id: str = Field(min_length=1, max_length=64)


class PermitRequest(BaseModel):
    permit_request_id: str = Field(min_length=1, max_length=128)
    customer_id: str = Field(min_length=1, max_length=64)
    account_id: str = Field(min_length=1, max_length=64)
    caller: Annotated[BankAgent | AgencyAgent, Field(discriminator="kind")]
    recipient: Literal["debtor", "third-party"] = "debtor"
    portfolio: str = ""


class Permit(BaseModel):
    permit_id: str
    decision: Literal["allow", "defer", "block"]
    rule: str | None
    retry_after: datetime | None
    customer_local_time: str


class OutcomeReport(BaseModel):
    permit_id: str = Field(min_length=1, max_length=64)
    outcome: Literal["no-answer", "connected", "conversation", "wrong-number"]
    occurred_at: datetime | None = None


class HoldRequest(BaseModel):
    until: datetime | None = None


def _runtime(request: Request):
    return request.app.state.runtime


def _notifier(request: Request):
    return request.app.state.notifier


@router.post("/v1/call-permits", response_model=Permit, responses=problems(404))
async def ask_call_permit(body: PermitRequest, request: Request,
                          principal: Annotated[Principal, Depends(require_roles(*CALLERS))]) -> Permit:
    if body.caller.kind == "agency" and "agency-gateway" not in principal.roles:
        raise Problem(403, "Forbidden", "agency calls are asked for through the agency gateway")
    runtime, notifier = _runtime(request), _notifier(request)
    async with runtime.unit_of_work() as work:
        known = await _permit_by_request(work, body.permit_request_id)
        if known is not None:
            return known
        customer = await facts.load_customer(work.connection, body.customer_id)
        if customer is None:
            raise Problem(404, "Unknown customer", "no contact point is known for this customer")
        pack = notifier.packs[notifier.settings.pack_for(body.portfolio)]
        policy_facts = await facts.policy_facts(work.connection, customer, "call", work.now,
                                                recipient=body.recipient)
        decision = evaluate_contact(policy_facts, pack, work.now)
        permit_id = uuid.uuid4().hex
        verdict = {Allow: "allow", Defer: "defer", Block: "block"}[type(decision)]
        actor = (f"agency:{body.caller.agency_id}:{body.caller.id}" if body.caller.kind == "agency"
                 else f"bank-agent:{body.caller.id}")
        ledger_id = await facts.record(
            work.connection, customer_id=body.customer_id, account_id=body.account_id, channel="call",
            decision=verdict, rule=decision.rule, outcome="pending" if verdict == "allow" else None, at=work.now,
            permit_id=permit_id, actor=actor, recipient=body.recipient)
        if verdict != "allow":
            POLICY_DECISIONS.labels(verdict, decision.rule).inc()
        local_time = work.now.astimezone(ZoneInfo(customer.time_zone)).isoformat()
        await work.connection.execute(call_permits.insert().values(
            permit_id=permit_id, permit_request_id=body.permit_request_id, customer_id=body.customer_id,
            account_id=body.account_id, caller=body.caller.model_dump_json(), decision=verdict,
            rule=decision.rule, retry_after=decision.until if isinstance(decision, Defer) else None,
            customer_local_time=local_time, ledger_id=ledger_id))
    return Permit(permit_id=permit_id, decision=verdict, rule=decision.rule,
                  retry_after=decision.until if isinstance(decision, Defer) else None,
                  customer_local_time=local_time)


async def _permit_by_request(work: UnitOfWork, permit_request_id: str) -> Permit | None:
    row = (await work.connection.execute(select(call_permits).where(
        call_permits.c.permit_request_id == permit_request_id))).first()
    if row is None:
        return None
    return Permit(permit_id=row.permit_id, decision=row.decision, rule=row.rule,
                  retry_after=as_utc(row.retry_after) if row.retry_after else None,
                  customer_local_time=row.customer_local_time)


@router.post("/v1/call-outcomes", responses=problems(404, 409))
async def report_call_outcome(body: OutcomeReport, request: Request,
                              principal: Annotated[Principal, Depends(require_roles(*CALLERS))]) -> dict:
    async with _runtime(request).unit_of_work() as work:
        permit = (await work.connection.execute(select(call_permits).where(
            call_permits.c.permit_id == body.permit_id).with_for_update())).first()
        if permit is None:
            raise Problem(404, "Unknown permit", "no call permit has this id")
        if permit.decision != "allow":
            raise Problem(409, "Call was not permitted", f"the permit was answered {permit.decision}")
        if permit.outcome is not None:
            if permit.outcome != body.outcome:
                raise Problem(409, "Outcome already recorded", f"this call was recorded as {permit.outcome}")
            return {"recorded": True}
        await work.connection.execute(update(call_permits).where(
            call_permits.c.permit_id == body.permit_id).values(outcome=body.outcome))
        await work.connection.execute(update(contact_ledger).where(
            contact_ledger.c.id == permit.ledger_id).values(outcome=body.outcome))
    CONTACTS.labels("call", body.outcome).inc()
    return {"recorded": True}


@router.put("/v1/customers/{customer_id}/opt-outs/{channel}", responses=problems(404))
async def record_opt_out(customer_id: str, channel: Channel, request: Request,
                         principal: Annotated[Principal, Depends(require_roles("agent", "supervisor"))]) -> dict:
    async with _runtime(request).unit_of_work() as work:
        await _known(work, customer_id)
        await opt_out(work, customer_id, channel, source="customer")
    return {"customer_id": customer_id, "channel": channel, "opted_out": True}


@router.delete("/v1/customers/{customer_id}/opt-outs/{channel}", responses=problems(404))
async def withdraw_opt_out(customer_id: str, channel: Channel, request: Request,
                           principal: Annotated[Principal, Depends(require_roles("agent", "supervisor"))]) -> dict:
    async with _runtime(request).unit_of_work() as work:
        await _known(work, customer_id)
        await work.connection.execute(delete(channel_preferences).where(
            channel_preferences.c.customer_id == customer_id, channel_preferences.c.channel == channel))
    return {"customer_id": customer_id, "channel": channel, "opted_out": False}


@router.put("/v1/customers/{customer_id}/holds/{hold}", responses=problems(404))
async def place_hold(customer_id: str, hold: Hold, body: HoldRequest, request: Request,
                     principal: Annotated[Principal, Depends(require_roles("agent", "supervisor", "compliance"))]
                     ) -> dict:
    if body.until is not None and body.until.tzinfo is None:
        raise Problem(422, "Invalid request", "until must carry a UTC offset (RFC 3339)")
    async with _runtime(request).unit_of_work() as work:
        await _known(work, customer_id)
        await work.connection.execute(upsert(work.connection, holds, {
            "customer_id": customer_id, "hold": hold, "until": body.until, "recorded_at": work.now},
            ["customer_id", "hold"], ["until", "recorded_at"]))
    return {"customer_id": customer_id, "hold": hold, "until": body.until}


@router.delete("/v1/customers/{customer_id}/holds/{hold}", responses=problems(404))
async def lift_hold(customer_id: str, hold: Hold, request: Request,
                    principal: Annotated[Principal, Depends(require_roles("supervisor", "compliance"))]) -> dict:
    async with _runtime(request).unit_of_work() as work:
        await _known(work, customer_id)
        await work.connection.execute(delete(holds).where(holds.c.customer_id == customer_id, holds.c.hold == hold))
    return {"customer_id": customer_id, "hold": hold, "lifted": True}


@router.get("/v1/customers/{customer_id}/contact-history", responses=problems(404))
async def contact_history(customer_id: str, request: Request,
                          principal: Annotated[Principal, Depends(require_roles("agent", "supervisor", "compliance"))]
                          ) -> dict:
    """What an agent needs to see: masked contact points, preferences, holds, and every
    evaluation and attempt in the ledger. Clear PII never leaves through this view."""
    cipher = _notifier(request).cipher
    async with _runtime(request).database.reading() as connection:
        point = (await connection.execute(select(contact_points).where(
            contact_points.c.customer_id == customer_id))).first()
        if point is None:
            raise Problem(404, "Unknown customer", "no contact point is known for this customer")
        preferences = (await connection.execute(select(channel_preferences).where(
            channel_preferences.c.customer_id == customer_id))).all()
        held = (await connection.execute(select(holds).where(holds.c.customer_id == customer_id))).all()
        ledger = (await connection.execute(select(contact_ledger).where(
            contact_ledger.c.customer_id == customer_id).order_by(contact_ledger.c.id))).all()
        requests = (await connection.execute(select(contact_requests).where(
            contact_requests.c.customer_id == customer_id).order_by(contact_requests.c.requested_at))).all()
    phone = cipher.decrypt(point.phone, customer_id, "phone")
    email = cipher.decrypt(point.email, customer_id, "email")
    return {
        "customer_id": customer_id,
        "contact_points": {"phone": mask_phone(phone) if phone else None, "email": mask_email(email) if email else None,
                           "time_zone": point.time_zone, "language": point.language},
        "opt_outs": [{"channel": p.channel, "source": p.source, "recorded_at": as_utc(p.recorded_at)}
                     for p in preferences if p.opted_out],
        "holds": [{"hold": h.hold, "until": as_utc(h.until) if h.until else None} for h in held],
        "requests": [{"request_id": r.request_id, "channel": r.channel, "template": r.template,
                      "status": r.status, "rule": r.rule, "due_at": as_utc(r.due_at), "reason": r.reason}
                     for r in requests],
        "ledger": [{"at": as_utc(e.at), "channel": e.channel, "actor": e.actor, "recipient": e.recipient,
                    "decision": e.decision, "rule": e.rule, "outcome": e.outcome, "request_id": e.request_id,
                    "permit_id": e.permit_id} for e in ledger],
    }


# The provider's callbacks are signed, not bearer-authenticated, and documented in the
# README's provider API rather than in the bank's OpenAPI.
@router.post("/v1/webhooks/sms/receipts", include_in_schema=False)
async def sms_receipt(request: Request) -> dict:
    body = await _signed(request)
    reference, status = str(body.get("reference", "")), body.get("status")
    if status not in ("delivered", "failed"):
        raise Problem(422, "Invalid receipt", "status is delivered or failed")
    async with _runtime(request).unit_of_work() as work:
        # Locked: the dispatcher may be settling the same contact right now.
        row = (await work.connection.execute(select(contact_requests).where(
            contact_requests.c.request_id == reference).with_for_update())).first()
        if row is None or row.status not in ("sending", "sent"):
            return {"recorded": False}
        channel = CHANNEL_CODES[row.channel]
        provider_id = str(body.get("id", row.provider_message_id or ""))
        if row.status == "sending":
            # The receipt overtook our own commit after the hand-over: the send is a fact now,
            # and counted here, since the dispatcher's settle will find the contact settled.
            CONTACTS.labels(row.channel, "sent").inc()
            work.emit(CONTACT_EVENTS, contacts_pb2.ContactSent(
                request_id=row.request_id, account_id=row.account_id, customer_id=row.customer_id,
                case_id=row.case_id, channel=channel, sent_at=instant_to_proto(work.now),
                provider_message_id=provider_id), key=row.account_id)
        await work.connection.execute(update(contact_requests).where(
            contact_requests.c.request_id == reference).values(
            status=status, provider_message_id=provider_id, updated_at=work.now,
            reason=str(body.get("reason", "")) or None))
        if status == "delivered":
            work.emit(CONTACT_EVENTS, contacts_pb2.ContactDelivered(
                request_id=row.request_id, account_id=row.account_id, channel=channel,
                delivered_at=instant_to_proto(work.now)), key=row.account_id)
        else:
            work.emit(CONTACT_EVENTS, contacts_pb2.ContactFailed(
                request_id=row.request_id, account_id=row.account_id, channel=channel,
                reason=f"provider receipt: {body.get('reason', 'undelivered')}",
                failed_at=instant_to_proto(work.now)), key=row.account_id)
    CONTACTS.labels("sms", status).inc()
    return {"recorded": True}


@router.post("/v1/webhooks/sms/replies", include_in_schema=False)
async def sms_reply(request: Request) -> dict:
    """Inbound replies: STOP, TD or 退订 opts the sender out of SMS."""
    body = await _signed(request)
    text = str(body.get("text", "")).strip().upper()
    if text not in STOP_WORDS:
        return {"opted_out": False}
    cipher = _notifier(request).cipher
    async with _runtime(request).unit_of_work() as work:
        customers = (await work.connection.execute(select(contact_points.c.customer_id).where(
            contact_points.c.phone_hash == cipher.lookup_hash(str(body.get("from", "")))))).scalars().all()
        for customer_id in customers:
            await opt_out(work, customer_id, "sms", source="customer")
    return {"opted_out": bool(customers)}


async def opt_out(work: UnitOfWork, customer_id: str, channel: str, source: str) -> None:
    await work.connection.execute(upsert(work.connection, channel_preferences, {
        "customer_id": customer_id, "channel": channel, "opted_out": True, "source": source,
        "recorded_at": work.now}, ["customer_id", "channel"], ["opted_out", "source", "recorded_at"]))
    accounts = (await work.connection.execute(select(contact_requests.c.account_id).where(
        contact_requests.c.customer_id == customer_id).distinct())).scalars().all()
    # One event per account: the case-router keys its cases by account.
    for account_id in accounts or [""]:
        work.emit(CONTACT_EVENTS, contacts_pb2.OptOutRecorded(
            account_id=account_id, customer_id=customer_id, channel=CHANNEL_CODES[channel],
            recorded_at=instant_to_proto(work.now)), key=account_id or customer_id)


async def _known(work: UnitOfWork, customer_id: str) -> None:
    if await facts.load_customer(work.connection, customer_id) is None:
        raise Problem(404, "Unknown customer", "no contact point is known for this customer")


async def _signed(request: Request) -> dict:
    settings = _notifier(request).settings
    raw = await request.body()
    if not verify(settings.sms_webhook_secret, request.headers.get("X-Timestamp"),
                  request.headers.get("X-Signature"), raw, time.time(), settings.webhook_tolerance_seconds):
        raise Problem(401, "Unauthorized", "the webhook signature or timestamp does not verify")
    try:
        body = json.loads(raw)
    except ValueError:
        raise Problem(400, "Bad request", "the body is not JSON") from None
    if not isinstance(body, dict):
        raise Problem(400, "Bad request", "the body is a JSON object")
    return body
