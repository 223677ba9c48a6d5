"""The agent desk: queues and the next task, the case page with its call panel and
script, the customer's contact details masked (revealed in clear, once, with a reason
the notifier audits), and the forms that record what happened on the call.

Every write goes to the case-router (or, for a call permit, the notifier) with the
form's Idempotency-Key, and a problem answer is shown inline in the form that sent it."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from collections_console.amounts import BadAmount, minor_units, shown
from collections_console.i18n import translations
from collections_console.scripts import call_script, rule_explained
from collections_console.security import Refused, User, checked_form, requires
from collections_console.upstream import UpstreamProblem
from collections_console.web import language, render

router = APIRouter()
Staff = Annotated[User, Depends(requires("agent", "supervisor"))]
Identifier = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
Form = Annotated[FormData, Depends(checked_form)]
OUTCOMES = ("no-answer", "right-party-contact", "wrong-number", "refused")
FLAGS = ("cease-contact", "attorney", "bankruptcy", "deceased", "breathing-space", "vulnerable")


def _apis(request: Request):
    return request.app.state.upstreams


def _instant(text: str | None) -> datetime | None:
    """The services write instants in UTC; one read back from SQLite comes without its offset."""
    if not text:
        return None
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@router.get("/desk")
async def desk(request: Request, user: Staff):
    return await desk_page(request, user)


async def desk_page(request: Request, user: User, claim_problem: UpstreamProblem | None = None):
    apis = _apis(request)
    queues = await apis.router.call("GET", "/v1/queues", user.token)
    certifications = None
    if user.may("agent"):
        certifications = await apis.router.call("GET", f"/v1/agents/{user.subject}/certifications", user.token)
    return render(request, "desk.html", status_code=claim_problem.status if claim_problem else 200,
                  queues=queues, certifications=certifications, claim_problem=claim_problem)


@router.post("/desk/claims")
async def take_next_task(request: Request, user: Staff, form: Form):
    queue = str(form.get("queue", ""))
    try:
        task = await _apis(request).router.call("POST", f"/v1/queues/{queue}/claims", user.token,
                                                idempotency_key=str(form.get("idempotency_key", "")))
    except UpstreamProblem as problem:
        if problem.status == 401:
            raise
        return await desk_page(request, user, claim_problem=problem)
    return RedirectResponse(f"/cases/{task['case_id']}", status_code=303)


@router.get("/cases")
async def open_case(request: Request, user: Staff):
    wanted = request.query_params.get("case_id", "").strip()
    if not re.match(r"^[A-Za-z0-9._:-]{1,64}$", wanted):
        raise Refused(422, "Invalid case id", "case ids are 1 to 64 letters, digits or . _ : -")
    return RedirectResponse(f"/cases/{wanted}", status_code=303)


@router.get("/cases/{case_id}")
async def case(request: Request, case_id: Identifier, user: Staff):
    return await case_page(request, user, case_id)


async def case_page(request: Request, user: User, case_id: str, *, errors: dict | None = None,
                    permit: dict | None = None, revealed: dict | None = None, status_code: int = 200):
    apis, settings, chosen = _apis(request), request.app.state.settings, language(request)
    view = await apis.router.call("GET", f"/v1/cases/{case_id}", user.token)
    try:
        contact = await apis.notifier.call("GET", f"/v1/customers/{view['customer_id']}/contact-details", user.token)
    except UpstreamProblem as problem:
        if problem.status == 401:
            raise
        contact = None
    now = request.app.state.clock.now()
    held = next((t for t in view["tasks"] if t["assignee"] == user.subject and t["status"] == "waiting"
                 and t["lease_expires_at"] and _instant(t["lease_expires_at"]) > now), None)
    _ = translations(chosen).gettext
    script = call_script(settings.script_pack, view["stage"], chosen, bank=_("the bank"), agent=user.subject,
                         customer=view["customer_id"])
    if permit is not None:
        permit = {**permit, "explained": rule_explained(settings.script_pack, permit["rule"], chosen),
                  "retry_local": _in_zone(permit.get("retry_after"), contact)}
    return render(request, "case.html", status_code=status_code, case=view, contact=contact, held=held,
                  seconds_left=int((_instant(held["lease_expires_at"]) - now).total_seconds()) if held else 0,
                  script=script, permit=permit, revealed=revealed, errors=errors or {}, outcomes=OUTCOMES,
                  flags=FLAGS,
                  money=lambda minor: shown(minor, view["currency"]))


def _in_zone(instant: str | None, contact: dict | None) -> str | None:
    """When calling becomes allowed, in the customer's own time zone (as the rule is written)."""
    if not instant:
        return None
    at = _instant(instant)
    try:
        zone = ZoneInfo(contact["time_zone"]) if contact else None
    except (ZoneInfoNotFoundError, KeyError, ValueError):
        zone = None
    return (at.astimezone(zone) if zone else at).strftime("%Y-%m-%d %H:%M %z")


@router.post("/cases/{case_id}/call-permit")
async def ask_call_permit(request: Request, case_id: Identifier, user: Staff, form: Form):
    view = await _apis(request).router.call("GET", f"/v1/cases/{case_id}", user.token)
    body = {"permit_request_id": str(form.get("idempotency_key", "")), "customer_id": view["customer_id"],
            "account_id": view["account_id"], "caller": {"kind": "bank-agent", "id": user.subject}}
    try:
        permit = await _apis(request).notifier.call("POST", "/v1/call-permits", user.token, json=body)
    except UpstreamProblem as problem:
        if problem.status == 401:
            raise
        return await case_page(request, user, case_id, errors={"permit": problem}, status_code=problem.status)
    return await case_page(request, user, case_id, permit=permit)


@router.post("/cases/{case_id}/reveal")
async def reveal_contact_details(request: Request, case_id: Identifier, user: Staff, form: Form):
    """The customer's contact details in clear on this one page; the notifier audits the reveal."""
    view = await _apis(request).router.call("GET", f"/v1/cases/{case_id}", user.token)
    try:
        answer = await _apis(request).notifier.call(
            "POST", f"/v1/customers/{view['customer_id']}/contact-details/reveals", user.token,
            json={"reason": _text(form, "reason")})
    except UpstreamProblem as problem:
        if problem.status == 401:
            raise
        return await case_page(request, user, case_id, errors={"reveal": problem}, status_code=problem.status)
    page = await case_page(request, user, case_id, revealed=answer["details"])
    page.headers["Cache-Control"] = "no-store"  # the clear values stay on this one page, not in a cache
    return page


def _text(form: FormData, name: str) -> str:
    return str(form.get(name, "")).strip()


def _record(kind: str, view: dict, form: FormData) -> tuple[str, dict]:
    """The router call a form stands for: its path and body."""
    case_id = view["case_id"]
    match kind:
        case "outcome":
            task_id = _text(form, "task_id")
            path = f"/v1/tasks/{task_id}/outcome" if task_id else f"/v1/cases/{case_id}/call-outcomes"
            return path, {"outcome": _text(form, "outcome"), "note": _text(form, "note")}
        case "promise":
            return f"/v1/cases/{case_id}/promises", {
                "amount_minor": minor_units(_text(form, "amount"), view["currency"]), "due_on": _text(form, "due_on")}
        case "plan":
            return f"/v1/cases/{case_id}/plans", {
                "kind": _text(form, "plan_kind"), "total_minor": minor_units(_text(form, "total"), view["currency"]),
                "count": _text(form, "count"), "first_due_on": _text(form, "first_due_on")}
        case "hardship":
            return f"/v1/cases/{case_id}/hardship", {"reason": _text(form, "reason")}
        case "dispute":
            return f"/v1/cases/{case_id}/disputes", {"reason": _text(form, "reason")}
        case "note":
            return f"/v1/cases/{case_id}/notes", {"text": _text(form, "text")}
        case "flag":
            return f"/v1/accounts/{view['account_id']}/flags", {"flag": _text(form, "flag"), "set": True,
                                                                 "reason": _text(form, "reason")}
    raise Refused(404, "Not found", f"there is no {kind} form")


@router.post("/cases/{case_id}/records/{kind}")
async def record(request: Request, case_id: Identifier, kind: str, user: Staff, form: Form):
    view = await _apis(request).router.call("GET", f"/v1/cases/{case_id}", user.token)
    try:
        path, body = _record(kind, view, form)
        await _apis(request).router.call("POST", path, user.token, json=body,
                                         idempotency_key=_text(form, "idempotency_key"))
    except BadAmount as error:
        return await case_page(request, user, case_id, status_code=422,
                               errors={kind: UpstreamProblem(422, "Invalid amount", str(error))})
    except UpstreamProblem as problem:
        if problem.status == 401:
            raise
        return await case_page(request, user, case_id, errors={kind: problem}, status_code=problem.status)
    return RedirectResponse(f"/cases/{case_id}#timeline", status_code=303)
