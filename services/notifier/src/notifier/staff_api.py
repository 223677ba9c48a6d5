"""HTTP for the bank's staff: a customer's contact details masked, their reveal in
clear, and for compliance the reveal audit, the contact ledger searched across
customers, and the template catalogue's lint status.

A reveal writes its audit row (who, which customer, which fields, why, when on the
service clock) in the transaction that reads the clear values, so no one sees them
without the row existing. The clear values never reach a log line. Audit and ledger
pages come newest first; ``next_cursor`` asks for the page after.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, BeforeValidator, Field, StringConstraints
from sqlalchemy import and_, insert, or_, select

from collections_core.auth import Principal, require_roles
from collections_core.http import Problem, problems
from collections_core.logs import get_logger
from notifier.domain.masking import FIELDS, in_full, masked
from notifier.facts import as_utc
from notifier.tables import contact_ledger, contact_points, pii_reveals
from notifier.templates import Catalogue

router = APIRouter(prefix="/v1", tags=["bank staff"], responses=problems(404))
log = get_logger(__name__)
Staff = Annotated[Principal, Depends(require_roles("agent", "supervisor", "compliance"))]
Revealer = Annotated[Principal, Depends(require_roles("agent", "supervisor"))]
Compliance = Annotated[Principal, Depends(require_roles("compliance"))]
IDENTIFIER = r"^[A-Za-z0-9._:-]+$"
CustomerId = Annotated[str, Path(min_length=1, max_length=64, pattern=IDENTIFIER)]
ContactField = Literal["name", "phone", "email", "address"]


def _rfc3339(value):
    # pydantic would also read a bare number as a Unix time; an audit query says what it means.
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}.*", value):
        raise ValueError("an RFC 3339 date-time with its offset, e.g. 2026-11-29T08:00:00Z")
    return value


Instant = Annotated[datetime | None, BeforeValidator(_rfc3339), Query(description="RFC 3339 date-time")]
Cursor = Annotated[str | None, Query(pattern=r"^\d{1,18}$", description="next_cursor of the page before")]
Limit = Annotated[int, Query(ge=1, le=500)]
Filter = Annotated[str | None, Query(min_length=1, max_length=80, pattern=IDENTIFIER)]


class RevealRequest(BaseModel):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)] = Field(
        description="why the clear values are needed (kept in the audit)")
    fields: list[ContactField] = Field(default=list(FIELDS), min_length=1, max_length=4)


def _stored(request: Request, point, fields) -> dict[str, str]:
    cipher = request.app.state.runtime.cipher
    return {field: cipher.decrypt(point._mapping[field], point.customer_id, field) for field in fields}


async def _contact_point(connection, customer_id: str):
    point = (await connection.execute(select(contact_points).where(
        contact_points.c.customer_id == customer_id))).first()
    if point is None:
        raise Problem(404, "Unknown customer", "no contact point is known for this customer")
    return point


@router.get("/customers/{customer_id}/contact-details")
async def contact_details(customer_id: CustomerId, request: Request, _: Staff) -> dict:
    """The customer's name, phone, e-mail and address, masked (not audited: nothing is shown in clear)."""
    async with request.app.state.runtime.database.reading() as connection:
        point = await _contact_point(connection, customer_id)
    return {"customer_id": customer_id, **masked(_stored(request, point, FIELDS)), "time_zone": point.time_zone,
            "language": point.language}


@router.post("/customers/{customer_id}/contact-details/reveals")
async def reveal_contact_details(customer_id: CustomerId, body: RevealRequest, request: Request,
                                 principal: Revealer) -> dict:
    """The chosen fields in clear, once the reveal is on the audit."""
    fields = [field for field in FIELDS if field in body.fields]
    async with request.app.state.runtime.unit_of_work() as work:
        point = await _contact_point(work.connection, customer_id)
        clear = in_full(_stored(request, point, fields))
        result = await work.connection.execute(insert(pii_reveals).values(
            customer_id=customer_id, actor=principal.subject, roles=",".join(sorted(principal.roles)),
            fields=",".join(fields), reason=body.reason, revealed_at=work.now))
        revealed_at = work.now
    log.info("contact details revealed", customer_id=customer_id, actor=principal.subject, fields=fields)
    return {"reveal_id": str(result.inserted_primary_key[0]), "customer_id": customer_id,
            "revealed_at": revealed_at, "details": clear}


@router.get("/audit/pii-reveals")
async def pii_reveal_audit(request: Request, _: Compliance, customer_id: Filter = None, actor: Filter = None,
                           since: Instant = None, until: Instant = None, cursor: Cursor = None,
                           limit: Limit = 100) -> dict:
    """Every reveal of contact details in clear: who, whose, which fields, why, when."""
    query = select(pii_reveals)
    for column, value in ((pii_reveals.c.customer_id, customer_id), (pii_reveals.c.actor, actor)):
        if value is not None:
            query = query.where(column == value)
    query = _window(query, pii_reveals.c.revealed_at, pii_reveals.c.id, since, until, cursor)
    rows, next_cursor = await _page(request, query.order_by(pii_reveals.c.id.desc()), limit)
    return {"reveals": [{"id": str(r.id), "revealed_at": as_utc(r.revealed_at), "customer_id": r.customer_id,
                         "actor": r.actor, "roles": r.roles.split(","), "fields": r.fields.split(","),
                         "reason": r.reason} for r in rows], "next_cursor": next_cursor}


@router.get("/contact-ledger")
async def contact_ledger_search(request: Request, _: Compliance, customer_id: Filter = None,
                                actor: Filter = None, agency: Filter = None, rule: Filter = None,
                                decision: Literal["allow", "defer", "block"] | None = None,
                                since: Instant = None, until: Instant = None, cursor: Cursor = None,
                                limit: Limit = 100) -> dict:
    """Every evaluation and attempt, across customers. ``actor`` is an agent's id (a bank
    agent's or an agency's) or a ledger actor as written (``bank``, ``bank-agent:<id>``,
    ``agency:<agency>:<id>``); ``agency`` is every agent of that agency."""
    ledger = contact_ledger.c
    query = select(contact_ledger)
    if customer_id is not None:
        query = query.where(ledger.customer_id == customer_id)
    if actor is not None:
        query = query.where(ledger.actor == actor if ":" in actor or actor == "bank" else or_(
            ledger.actor == f"bank-agent:{actor}",
            and_(ledger.actor.startswith("agency:"), ledger.actor.endswith(f":{actor}", autoescape=True))))
    if agency is not None:
        query = query.where(ledger.actor.startswith(f"agency:{agency}:", autoescape=True))
    if rule is not None:
        query = query.where(ledger.rule == rule)
    if decision is not None:
        query = query.where(ledger.decision == decision)
    query = _window(query, ledger.at, ledger.id, since, until, cursor)
    rows, next_cursor = await _page(request, query.order_by(ledger.id.desc()), limit)
    return {"entries": [{"id": str(e.id), "at": as_utc(e.at), "customer_id": e.customer_id,
                         "account_id": e.account_id, "channel": e.channel, "actor": e.actor,
                         "recipient": e.recipient, "decision": e.decision, "rule": e.rule, "outcome": e.outcome,
                         "request_id": e.request_id, "permit_id": e.permit_id} for e in rows],
            "next_cursor": next_cursor}


def _window(query, at, id_, since: datetime | None, until: datetime | None, cursor: str | None):
    for bound in (since, until):
        if bound is not None and bound.tzinfo is None:
            raise Problem(422, "Invalid request", "since and until need a time-zone offset")
    if since is not None:
        query = query.where(at >= since)
    if until is not None:
        query = query.where(at < until)
    if cursor is not None:
        query = query.where(id_ < int(cursor))
    return query


async def _page(request: Request, query, limit: int) -> tuple[list, str | None]:
    async with request.app.state.runtime.database.reading() as connection:
        rows = (await connection.execute(query.limit(limit + 1))).all()
    return rows[:limit], str(rows[limit - 1].id) if len(rows) > limit else None


@router.get("/templates/lint")
async def template_lint(request: Request, _: Compliance) -> dict:
    """Each template of the loaded catalogue with its lint findings (none: it passes)."""
    return {"templates": lint_status(request.app.state.notifier.catalogue)}


def lint_status(catalogue: Catalogue) -> list[dict]:
    found: dict[str, list[dict]] = {f"{key}.{language}": [] for key, language in catalogue.keys()}
    for finding in catalogue.lint():
        found.setdefault(finding.template, []).append({"rule": finding.rule, "detail": finding.detail})
    status = []
    for name in sorted(found):
        key, _, language = name.rpartition(".")
        purpose, _, channel = key.rpartition(".")
        status.append({"template": key, "purpose": purpose, "channel": channel, "language": language,
                       "ok": not found[name], "findings": found[name]})
    return status
