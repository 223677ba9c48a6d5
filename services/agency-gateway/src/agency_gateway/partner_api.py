"""Partner API v1: the token endpoint, the JWKS, and a partner's own placements.

A partner sees only its own placements: another partner's is answered 404, the
same as one that does not exist. A placement that has ended (recalled or returned)
is 410 Gone at once. Every write takes an Idempotency-Key.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
from datetime import date, datetime
from typing import Annotated, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import bindparam, insert, select

from agency_gateway import metrics
from agency_gateway.domain.placement import ENDED
from agency_gateway.domain.pii import minimum_view
from agency_gateway.driver_statements import DriverStatement
from agency_gateway.handlers import ACTIVITY_KINDS, SUMMARY_COLUMNS, permit_of, placement_summary, with_permit
from agency_gateway.idempotency import STORED_ANSWER, as_key, once, replay, request_fingerprint, require_key
from agency_gateway.partner_auth import (
    ACTIVE_PARTNER,
    PartnerPrincipal,
    as_partner,
    check_active,
    partner_with,
    require_active,
)
from agency_gateway.partners import secret_matches
from agency_gateway.tables import call_permits, partners, pii_access_audit, placements, webhook_deliveries
from collections_core.http import Problem, problems
from collections_core.money import Money

# The runtime documents 401/403/422/500 (and 400 with a body) as problems; these are the gateway's own.
PROBLEMS = problems(400, 404, 409, 410, 428, 429, 503)
router = APIRouter(responses=PROBLEMS)
# PostgreSQL text cannot hold NUL: free text refuses it up front (a 422, not a failed write).
NO_NUL = r"^[^\x00]*$"
ID = Annotated[str, Path(min_length=1, max_length=64, pattern=NO_NUL)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


# -- OAuth2 ------------------------------------------------------------------------

def _token_error(status: int, error: str, description: str, headers: dict | None = None) -> Problem:
    # RFC 6749 §5.2 members inside an RFC 9457 problem: OAuth clients find "error".
    return Problem(status, "Token request refused", description, headers=headers, error=error,
                   error_description=description)


@router.post("/oauth/token", tags=["oauth"], summary="Client-credentials access token",
             responses=problems(401), openapi_extra={
    "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
        "type": "object", "required": ["grant_type"], "properties": {
            "grant_type": {"type": "string", "enum": ["client_credentials"]},
            "client_id": {"type": "string"}, "client_secret": {"type": "string"},
            "scope": {"type": "string", "description": "space-separated subset of the partner's scopes"}}}}}}})
async def issue_token(request: Request) -> dict:
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("basic "):
        try:
            client_id, _, client_secret = base64.b64decode(authorization[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise _token_error(401, "invalid_client", "malformed client authentication",
                               {"WWW-Authenticate": 'Basic realm="agency-gateway"'}) from None
    if form.get("grant_type") != "client_credentials":
        raise _token_error(400, "unsupported_grant_type", "only grant_type=client_credentials is supported")
    if not client_id or not client_secret or "\x00" in client_id + client_secret:
        raise _token_error(401, "invalid_client", "client_id and client_secret are required",
                           {"WWW-Authenticate": 'Basic realm="agency-gateway"'})
    runtime = request.app.state.runtime
    async with runtime.database.reading() as connection:
        partner = (await connection.execute(select(partners).where(partners.c.client_id == client_id))).first()
    if partner is None or partner.status != "active" or not secret_matches(client_secret, partner.client_secret_hash):
        raise _token_error(401, "invalid_client", "unknown client or wrong secret",
                           {"WWW-Authenticate": 'Basic realm="agency-gateway"'})
    granted = partner.scopes.split()
    asked = form.get("scope", "").split() or granted
    if not set(asked) <= set(granted):
        raise _token_error(400, "invalid_scope", f"the client may ask only for: {' '.join(granted)}")
    await request.app.state.tokens.refresh(runtime.database)
    token, ttl = request.app.state.tokens.issue(partner.partner_id, client_id, asked)
    metrics.TOKENS_ISSUED.labels(runtime.settings.service_name, partner.partner_id).inc()
    return {"access_token": token, "token_type": "Bearer", "expires_in": ttl, "scope": " ".join(asked)}


@router.get("/.well-known/jwks.json", tags=["oauth"], summary="Public keys that sign partner tokens")
async def jwks(request: Request) -> dict:
    await request.app.state.tokens.refresh(request.app.state.runtime.database)
    return request.app.state.tokens.jwks()


# -- placements --------------------------------------------------------------------

Status = Literal["placed", "acknowledged", "returned", "recalled"]


def _cursor(placement_id: str) -> str:
    return base64.urlsafe_b64encode(placement_id.encode()).decode().rstrip("=")


def _after(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        after = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        after = None
    if not after or _cursor(after) != cursor:  # the decoder skips stray characters: insist on a round trip
        raise Problem(400, "Invalid cursor", "the cursor is not one this API returned")
    return after


@functools.cache
def _page_query(filters: frozenset[str]):
    """A page of the partner's placements with the ``filters`` given, built once per set of
    filters (16 at most) with bound parameters, not per request (decision 0072)."""
    query = select(*SUMMARY_COLUMNS, ACTIVE_PARTNER).where(placements.c.partner_id == bindparam("partner_id"))
    for name, condition in (("status", placements.c.status == bindparam("status")),
                            ("kind", placements.c.kind == bindparam("kind")),
                            ("account_id", placements.c.account_id == bindparam("account_id")),
                            ("after", placements.c.placement_id > bindparam("after"))):
        if name in filters:
            query = query.where(condition)
    return DriverStatement(query.order_by(placements.c.placement_id).limit(bindparam("limit")))


@router.get("/v1/placements", tags=["partner"], summary="The partner's placements, a page at a time")
async def list_placements(request: Request, principal: Annotated[PartnerPrincipal, Depends(
                              partner_with("placements:read"))],
                          status: Status | None = None, kind: Literal["agency", "legal"] | None = None,
                          account_id: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
                          cursor: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
                          limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict:
    filters = {"status": status, "kind": kind, "account_id": account_id, "after": _after(cursor)}
    given = {name: value for name, value in filters.items() if value is not None}
    async with request.app.state.runtime.database.reading() as connection:
        rows = await _page_query(frozenset(given)).run(connection, {
            **given, "partner_id": principal.partner_id, "limit": limit + 1, **as_partner(principal)})
        if rows:
            check_active(rows[0])
        else:
            await require_active(connection, principal)
    page = rows[:limit]
    return {"placements": [placement_summary(r) for r in page],
            "next_cursor": _cursor(page[-1].placement_id) if len(rows) > limit else None}


_PLACEMENT = select(placements, ACTIVE_PARTNER).where(placements.c.placement_id == bindparam("placement_id"))
# What a write reads first, in one statement (_write).
_FOR_WRITE = DriverStatement(_PLACEMENT.add_columns(*STORED_ANSWER))
_FOR_WRITE_BY_PERMIT = DriverStatement(with_permit(_PLACEMENT.add_columns(*STORED_ANSWER)))
_STORED = select(*STORED_ANSWER)


async def _owned(connection, principal: PartnerPrincipal, placement_id: str):
    """The partner's own placement still in its hands, else 401 (the partner is no longer
    active), 404 (not its own) or 410 (ended)."""
    row = (await connection.execute(_PLACEMENT, {"placement_id": placement_id, **as_partner(principal)})).first()
    if row is None:
        await require_active(connection, principal)
    else:
        check_active(row)
    return _in_hands(principal, row)


def _in_hands(principal: PartnerPrincipal, row):
    if row is None or row.partner_id != principal.partner_id:
        raise Problem(404, "Not found", "no such placement")
    if row.status in ENDED:
        raise Problem(410, "Gone", f"the placement was {row.status}; it is no longer in your hands",
                      reason=row.end_reason)
    return row


@router.get("/v1/placements/{placement_id}", tags=["partner"],
            summary="One placement with the customer's minimum PII (every read is audited)")
async def get_placement(request: Request, placement_id: ID,
                        principal: Annotated[PartnerPrincipal, Depends(partner_with("placements:read"))]) -> dict:
    state = request.app.state
    # A write transaction: the audit row is committed before any PII leaves the gateway.
    async with state.runtime.unit_of_work() as work:
        row = await _owned(work.connection, principal, placement_id)
        view = minimum_view(await state.gateway.customer(work.connection, row.customer_id),
                            Money(row.amount_minor, row.currency), row.dpd)
        if view.fields_shared:
            await work.connection.execute(insert(pii_access_audit).values(
                accessed_at=work.now, partner_id=principal.partner_id, client_id=principal.client_id,
                placement_id=placement_id, customer_id=row.customer_id, fields=",".join(view.fields_shared),
                route="GET /v1/placements/{placement_id}"))
    if view.fields_shared:
        metrics.PII_READS.labels(state.runtime.settings.service_name, principal.partner_id).inc()
    address = view.address
    return {**placement_summary(row), "customer": {
        "name": view.name, "phone": view.phone,
        "address": None if address is None else {"lines": list(address.lines), "city": address.city,
                                                  "region": address.region, "postal_code": address.postal_code,
                                                  "country": address.country}}}


async def _write(request: Request, principal: PartnerPrincipal, key: str | None, placement_id: str, body: dict,
                 status: int, action, permit_id: str | None = None):
    """A write under an Idempotency-Key. One statement reads what it needs: the
    placement, whether the partner is active, the key's stored answer and (for a call)
    the permit; the checks then run in the order of the rules: 401, replay, 404/410."""
    key = require_key(key)
    fingerprint = request_fingerprint(request.method, request.url.path, body)

    async def write(work):
        parameters = {"placement_id": placement_id, **as_partner(principal), **as_key(principal.partner_id, key)}
        if permit_id is None:
            row = await _FOR_WRITE.first(work.connection, parameters)
        else:
            row = await _FOR_WRITE_BY_PERMIT.first(work.connection, {**parameters, "permit_id": permit_id})
        stored = row
        if row is None:  # no such placement: the same checks, one statement each
            await require_active(work.connection, principal)
            stored = (await work.connection.execute(_STORED, as_key(principal.partner_id, key))).one()
        else:
            check_active(row)
        answered = replay(stored, fingerprint)
        if answered is not None:
            return answered
        return await action(work, _in_hands(principal, row), permit_of(row, permit_id))

    return await once(request.app.state.runtime.unit_of_work, principal.partner_id, key, fingerprint, status, write)


@router.post("/v1/placements/{placement_id}/acknowledgement", tags=["partner"],
             summary="Acknowledge that the partner has taken the placement on")
async def acknowledge(request: Request, placement_id: ID,
                      principal: Annotated[PartnerPrincipal, Depends(partner_with("placements:write"))],
                      idempotency_key: IdempotencyKey = None):
    gateway = request.app.state.gateway
    return await _write(request, principal, idempotency_key, placement_id, {}, 200,
                        lambda work, placement, _permit: gateway.acknowledge(work, placement))


class MoneyIn(BaseModel):
    amount_minor: int = Field(gt=0, le=10**15)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class ActivityIn(BaseModel):
    kind: Literal["call-attempt", "contact", "field-visit", "promise-to-pay", "dispute", "hardship", "note"]
    occurred_at: datetime
    note: str | None = Field(default=None, max_length=2000, pattern=NO_NUL)
    promised_amount: MoneyIn | None = None
    promised_on: date | None = None
    permit_id: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=NO_NUL,
        description="a call-attempt or contact names the call permit it went by (one permit, one call)")


@router.post("/v1/placements/{placement_id}/activities", status_code=201, tags=["partner"],
             summary="Report what the partner did: a call, a visit, a promise, a dispute …")
async def report_activity(request: Request, placement_id: ID, activity: ActivityIn,
                          principal: Annotated[PartnerPrincipal, Depends(partner_with("activities:write"))],
                          idempotency_key: IdempotencyKey = None):
    if activity.occurred_at.tzinfo is None:
        raise Problem(422, "Invalid request", "occurred_at needs a time-zone offset")
    is_promise = activity.kind == "promise-to-pay"
    if is_promise != (activity.promised_amount is not None and activity.promised_on is not None):
        raise Problem(422, "Invalid request",
                      "a promise to pay (and only a promise) carries promised_amount and promised_on")
    if activity.kind not in ACTIVITY_KINDS:
        raise Problem(422, "Invalid request", "unknown activity kind")
    gateway = request.app.state.gateway
    promised = Money(activity.promised_amount.amount_minor, activity.promised_amount.currency) \
        if activity.promised_amount else None
    return await _write(request, principal, idempotency_key, placement_id, activity.model_dump(mode="json"), 201,
                        lambda work, placement, permit: gateway.report_activity(
                            work, placement, activity.kind, activity.occurred_at, activity.note, promised,
                            activity.promised_on, activity.permit_id, permit), activity.permit_id)


class ReturnIn(BaseModel):
    reason: str = Field(min_length=1, max_length=200, pattern=NO_NUL)


@router.post("/v1/placements/{placement_id}/return", tags=["partner"],
             summary="Hand the placement back to the bank")
async def return_placement(request: Request, placement_id: ID, returned: ReturnIn,
                           principal: Annotated[PartnerPrincipal, Depends(partner_with("placements:write"))],
                           idempotency_key: IdempotencyKey = None):
    gateway = request.app.state.gateway
    return await _write(request, principal, idempotency_key, placement_id, returned.model_dump(), 200,
                        lambda work, placement, _permit: gateway.return_placement(work, placement, returned.reason))


# -- call permits (the bank's contact policy, via the notifier) ---------------------

class CallPermitIn(BaseModel):
    agent_id: str = Field(min_length=1, max_length=64, pattern=NO_NUL, description="the partner's agent who will dial")


class CallOutcomeIn(BaseModel):
    permit_id: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    outcome: Literal["no-answer", "connected", "conversation", "wrong-number"]
    occurred_at: datetime | None = None


@router.post("/v1/placements/{placement_id}/call-permits", tags=["partner"],
             summary="Ask before dialing: allow, defer (with retry_after) or block, with the rule")
async def ask_call_permit(request: Request, placement_id: ID, asked: CallPermitIn,
                          principal: Annotated[PartnerPrincipal, Depends(partner_with("calls:write"))],
                          idempotency_key: IdempotencyKey = None) -> dict:
    key = require_key(idempotency_key)
    state = request.app.state
    async with state.runtime.database.reading() as connection:
        placement = await _owned(connection, principal, placement_id)
    # The notifier answers the same permit_request_id with the same permit: that is the idempotency.
    permit_request_id = hashlib.sha256(f"{principal.partner_id}\n{key}".encode()).hexdigest()[:40]
    answer = await state.notifier.post("/v1/call-permits", {
        "permit_request_id": permit_request_id, "customer_id": placement.customer_id,
        "account_id": placement.account_id,
        "caller": {"kind": "agency", "id": asked.agent_id, "agency_id": principal.partner_id}})
    async with state.runtime.unit_of_work() as work:
        known = (await work.connection.execute(select(call_permits.c.permit_id).where(
            call_permits.c.permit_id == answer["permit_id"]))).first()
        if known is None:
            await work.connection.execute(insert(call_permits).values(
                permit_id=answer["permit_id"], placement_id=placement_id, partner_id=principal.partner_id,
                customer_id=placement.customer_id, decision=answer["decision"], rule=answer.get("rule"),
                issued_at=work.now))
    return answer


@router.post("/v1/placements/{placement_id}/call-outcomes", tags=["partner"],
             summary="Report how a permitted call went")
async def report_call_outcome(request: Request, placement_id: ID, reported: CallOutcomeIn,
                              principal: Annotated[PartnerPrincipal, Depends(partner_with("calls:write"))],
                              idempotency_key: IdempotencyKey = None) -> dict:
    require_key(idempotency_key)
    state = request.app.state
    async with state.runtime.database.reading() as connection:
        await _owned(connection, principal, placement_id)
        permit = (await connection.execute(select(call_permits).where(
            call_permits.c.permit_id == reported.permit_id))).first()
    if permit is None or permit.partner_id != principal.partner_id or permit.placement_id != placement_id:
        raise Problem(404, "Not found", "no such call permit for this placement")
    return await state.notifier.post("/v1/call-outcomes", reported.model_dump(mode="json"))


@router.get("/v1/webhook-deliveries", tags=["partner"], summary="The partner's webhook delivery log")
async def partner_deliveries(request: Request,
                             principal: Annotated[PartnerPrincipal, Depends(partner_with("placements:read"))],
                             limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict:
    async with request.app.state.runtime.database.reading() as connection:
        rows = (await connection.execute(select(webhook_deliveries, ACTIVE_PARTNER).where(
            webhook_deliveries.c.partner_id == principal.partner_id)
            .order_by(webhook_deliveries.c.created_at.desc()).limit(limit), as_partner(principal))).all()
        if rows:
            check_active(rows[0])
        else:
            await require_active(connection, principal)
    return {"deliveries": [delivery_view(r) for r in rows]}


def delivery_view(row) -> dict:
    return {"delivery_id": row.delivery_id, "type": row.event_type, "status": row.status,
            "attempts": row.attempts, "created_at": row.created_at.isoformat(),
            "delivered_at": row.delivered_at.isoformat() if row.delivered_at else None,
            "next_attempt_at": row.next_attempt_at.isoformat() if row.status == "pending" else None,
            "last_error": row.last_error, "body": json.loads(row.body)}
