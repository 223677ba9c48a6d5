"""Bank-staff API: partners (operations), signing-key rotation, operations recalls,
delivery logs, commission statements, and the PII access audit (compliance).
Every route takes the platform's bearer JWT (collections_core.auth)."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, BeforeValidator, Field, HttpUrl
from sqlalchemy import and_, select, update
from sqlalchemy.exc import IntegrityError

from agency_gateway.domain.commission import Attribution, statement_lines
from agency_gateway.partner_api import NO_NUL, delivery_view
from agency_gateway.partners import PARTNER_SCOPES, PartnerTerms, register, rotate_client_secret
from agency_gateway.tables import partners, payment_attributions, pii_access_audit, placements, webhook_deliveries
from collections_core.auth import Principal, require_roles
from collections_core.http import Problem, problems
from collections_core.money import Money

router = APIRouter(prefix="/v1", tags=["bank staff"], responses=problems(404, 409, 503))
Operations = Annotated[Principal, Depends(require_roles("operations"))]
OperationsOrCompliance = Annotated[Principal, Depends(require_roles("operations", "compliance"))]
Compliance = Annotated[Principal, Depends(require_roles("compliance"))]
ID = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


def _rfc3339(value):
    # pydantic also reads a bare number as a Unix time; an audit query says what it means.
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}.*", value):
        raise ValueError("an RFC 3339 date-time, e.g. 2026-11-29T08:00:00Z")
    return value


Instant = Annotated[datetime | None, BeforeValidator(_rfc3339), Query(description="RFC 3339 date-time")]
Scope = Literal["placements:read", "placements:write", "activities:write", "calls:write"]
Region = Annotated[str, Field(min_length=1, max_length=64, pattern=NO_NUL)]


class PartnerIn(BaseModel):
    partner_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    name: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    kind: Literal["agency", "legal"]
    regions: list[Region] = Field(min_length=1, max_length=100)
    capacity: int = Field(ge=0, le=1_000_000)
    commission_bps: int = Field(ge=0, le=10_000, description="commission in basis points (1250 = 12.5 %)")
    contract_id: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    webhook_url: HttpUrl | None = None
    scopes: list[Scope] = Field(default_factory=lambda: list(PARTNER_SCOPES))
    rate_limit_per_second: int = Field(default=20, ge=1, le=10_000)


class PartnerChange(BaseModel):
    """A partial change: a field left out stays as it is. Only webhook_url may be null
    (no webhooks); for the others null is not a value, and the schema says so."""

    name: str = Field(default=None, min_length=1, max_length=200, pattern=NO_NUL)
    regions: list[Region] = Field(default=None, min_length=1, max_length=100)
    capacity: int = Field(default=None, ge=0, le=1_000_000)
    commission_bps: int = Field(default=None, ge=0, le=10_000)
    contract_id: str = Field(default=None, min_length=1, max_length=64, pattern=NO_NUL)
    webhook_url: HttpUrl | None = None
    scopes: list[Scope] = None
    rate_limit_per_second: int = Field(default=None, ge=1, le=10_000)
    status: Literal["active", "suspended"] = None


def partner_view(row) -> dict:
    return {"partner_id": row.partner_id, "name": row.name, "kind": row.kind, "regions": row.regions.split(","),
            "capacity": row.capacity, "commission_bps": row.commission_bps, "contract_id": row.contract_id,
            "webhook_url": row.webhook_url, "client_id": row.client_id, "scopes": row.scopes.split(),
            "rate_limit_per_second": row.rate_limit_per_second, "status": row.status,
            "created_at": row.created_at.isoformat(), "updated_at": row.updated_at.isoformat()}


async def _partner(connection, partner_id: str):
    row = (await connection.execute(select(partners).where(partners.c.partner_id == partner_id))).first()
    if row is None:
        raise Problem(404, "Not found", "no such partner")
    return row


@router.post("/admin/partners", status_code=201, summary="Register a partner; its secrets are shown only here")
async def create_partner(request: Request, partner: PartnerIn, _: Operations) -> dict:
    runtime, keyring = request.app.state.runtime, request.app.state.keyring
    terms = PartnerTerms(partner.partner_id, partner.name, partner.kind, tuple(partner.regions), partner.capacity,
                         partner.commission_bps, partner.contract_id,
                         str(partner.webhook_url) if partner.webhook_url else None, tuple(partner.scopes),
                         partner.rate_limit_per_second)
    try:
        async with runtime.unit_of_work() as work:
            issued = await register(work.connection, keyring, terms, work.now)
            row = await _partner(work.connection, partner.partner_id)
    except IntegrityError:
        raise Problem(409, "Conflict", "a partner with this id or client id exists") from None
    return {**partner_view(row), "client_secret": issued.client_secret, "webhook_secret": issued.webhook_secret}


@router.get("/admin/partners", summary="Every partner")
async def list_partners(request: Request, _: OperationsOrCompliance) -> dict:
    async with request.app.state.runtime.database.reading() as connection:
        rows = (await connection.execute(select(partners).order_by(partners.c.partner_id))).all()
    return {"partners": [partner_view(r) for r in rows]}


@router.get("/admin/partners/{partner_id}", summary="One partner")
async def get_partner(request: Request, partner_id: ID, _: OperationsOrCompliance) -> dict:
    async with request.app.state.runtime.database.reading() as connection:
        return partner_view(await _partner(connection, partner_id))


@router.patch("/admin/partners/{partner_id}", summary="Change a partner's terms, or suspend it")
async def change_partner(request: Request, partner_id: ID, change: PartnerChange, _: Operations) -> dict:
    values = change.model_dump(exclude_unset=True)
    if "regions" in values:
        values["regions"] = ",".join(values["regions"])
    if "scopes" in values:
        values["scopes"] = " ".join(values["scopes"])
    if "webhook_url" in values and values["webhook_url"] is not None:
        values["webhook_url"] = str(values["webhook_url"])
    async with request.app.state.runtime.unit_of_work() as work:
        await _partner(work.connection, partner_id)
        if values:
            await work.connection.execute(update(partners).where(partners.c.partner_id == partner_id)
                                          .values(**values, updated_at=work.now))
        return partner_view(await _partner(work.connection, partner_id))


@router.post("/admin/partners/{partner_id}/client-secret", summary="Issue a new client secret (the old one stops)")
async def new_client_secret(request: Request, partner_id: ID, _: Operations) -> dict:
    async with request.app.state.runtime.unit_of_work() as work:
        row = await _partner(work.connection, partner_id)
        secret = await rotate_client_secret(work.connection, partner_id, work.now)
    return {"client_id": row.client_id, "client_secret": secret}


@router.post("/admin/signing-keys", status_code=201, summary="Rotate the key that signs partner tokens")
async def rotate_signing_key(request: Request, _: Operations) -> dict:
    tokens = request.app.state.tokens
    async with request.app.state.runtime.unit_of_work() as work:
        kid = await tokens.rotate(work.connection)
    await tokens.refresh(request.app.state.runtime.database, force=True)
    return {"kid": kid}


class RecallIn(BaseModel):
    reason: Literal["operations", "complaint", "dispute", "hardship"] = "operations"


@router.post("/admin/placements/{placement_id}/recall", summary="Take a placement back from its partner")
async def recall_placement(request: Request, placement_id: ID, recall: RecallIn, _: Operations) -> dict:
    async with request.app.state.runtime.unit_of_work() as work:
        row = (await work.connection.execute(select(placements).where(
            placements.c.placement_id == placement_id))).first()
        if row is None:
            raise Problem(404, "Not found", "no such placement")
        recalled = await request.app.state.gateway.recall(work, row, recall.reason)
    return {"placement_id": placement_id, "recalled": recalled,
            "status": "recalled" if recalled else row.status}


@router.get("/admin/partners/{partner_id}/webhook-deliveries", summary="A partner's webhook delivery log")
async def deliveries(request: Request, partner_id: ID, _: OperationsOrCompliance,
                     status: Literal["pending", "delivered"] | None = None,
                     limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict:
    query = select(webhook_deliveries).where(webhook_deliveries.c.partner_id == partner_id)
    if status is not None:
        query = query.where(webhook_deliveries.c.status == status)
    async with request.app.state.runtime.database.reading() as connection:
        await _partner(connection, partner_id)
        rows = (await connection.execute(query.order_by(webhook_deliveries.c.created_at.desc()).limit(limit))).all()
    return {"deliveries": [delivery_view(r) for r in rows]}


Month = Annotated[str, Path(pattern=r"^(19|2\d)\d{2}-(0[1-9]|1[0-2])$", description="YYYY-MM, years 1900 to 2999")]


@router.get("/admin/partners/{partner_id}/commission-statements/{month}",
            summary="A partner's commission statement for a month (JSON, or CSV with ?format=csv)",
            responses={200: {"content": {"text/csv": {}}}})
async def commission_statement(request: Request, partner_id: ID, month: Month, _: OperationsOrCompliance,
                               format: Literal["json", "csv"] = "json"):
    year, number = map(int, month.split("-"))
    first = date(year, number, 1)
    after = date(year + (number == 12), number % 12 + 1, 1)
    async with request.app.state.runtime.database.reading() as connection:
        partner = await _partner(connection, partner_id)
        rows = (await connection.execute(select(payment_attributions).where(and_(
            payment_attributions.c.partner_id == partner_id, payment_attributions.c.booked_on >= first,
            payment_attributions.c.booked_on < after)).order_by(payment_attributions.c.id))).all()
    items = [Attribution(r.payment_id, r.placement_id, r.entry, Money(r.amount_minor, r.currency), r.booked_on,
                         r.commission_bps) for r in rows]
    lines = statement_lines(items)
    if format == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["partner_id", "contract_id", "month", "booked_on", "placement_id", "payment_id", "entry",
                         "currency", "amount_minor", "rate_bps"])
        for item in items:
            writer.writerow([partner_id, partner.contract_id, month, item.booked_on.isoformat(), item.placement_id,
                             item.payment_id, item.entry, item.amount.currency, item.amount.amount_minor,
                             item.rate_basis_points])
        for line in lines:
            writer.writerow([partner_id, partner.contract_id, month, "", "", "", "total", line.currency,
                             line.net.amount_minor, line.rate_basis_points])
            writer.writerow([partner_id, partner.contract_id, month, "", "", "", "commission", line.currency,
                             line.commission.amount_minor, line.rate_basis_points])
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="commission-{partner_id}-{month}.csv"'})
    return {"partner_id": partner_id, "contract_id": partner.contract_id, "month": month,
            "rounding": "per line: net x rate / 10000, to the minor unit, halves away from zero",
            "lines": [{"currency": l.currency, "rate_bps": l.rate_basis_points, "payments": l.payments,
                       "reversals": l.reversals, "net": {"amount_minor": l.net.amount_minor, "currency": l.currency},
                       "commission": {"amount_minor": l.commission.amount_minor, "currency": l.currency}}
                      for l in lines],
            "attributions": [{"payment_id": i.payment_id, "placement_id": i.placement_id, "entry": i.entry,
                              "booked_on": i.booked_on.isoformat(),
                              "amount": {"amount_minor": i.amount.amount_minor, "currency": i.amount.currency}}
                             for i in items]}


@router.get("/audit/pii-reads", summary="Every partner read of customer PII (who, what, when)")
async def pii_reads(request: Request, _: Compliance,
                    partner_id: Annotated[str | None, Query(min_length=1, max_length=64, pattern=NO_NUL)] = None,
                    placement_id: Annotated[str | None, Query(min_length=1, max_length=64, pattern=NO_NUL)] = None,
                    customer_id: Annotated[str | None, Query(min_length=1, max_length=64, pattern=NO_NUL)] = None,
                    since: Instant = None, until: Instant = None,
                    after_id: Annotated[int | None, Query(ge=0, le=2**62, description="cursor: next_after_id of a page")] = None,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict:
    query = select(pii_access_audit)
    for column, value in ((pii_access_audit.c.partner_id, partner_id),
                          (pii_access_audit.c.placement_id, placement_id),
                          (pii_access_audit.c.customer_id, customer_id)):
        if value is not None:
            query = query.where(column == value)
    for bound in (since, until):
        if bound is not None and bound.tzinfo is None:
            raise Problem(422, "Invalid request", "since and until need a time-zone offset")
    if since is not None:
        query = query.where(pii_access_audit.c.accessed_at >= since)
    if until is not None:
        query = query.where(pii_access_audit.c.accessed_at < until)
    if after_id is not None:
        query = query.where(pii_access_audit.c.id > after_id)
    async with request.app.state.runtime.database.reading() as connection:
        rows = (await connection.execute(query.order_by(pii_access_audit.c.id).limit(limit + 1))).all()
    page = rows[:limit]
    return {"reads": [{"id": r.id, "accessed_at": r.accessed_at.isoformat(), "partner_id": r.partner_id,
                       "client_id": r.client_id, "placement_id": r.placement_id, "customer_id": r.customer_id,
                       "fields": r.fields.split(","), "route": r.route} for r in page],
            "next_after_id": page[-1].id if len(rows) > limit else None}
