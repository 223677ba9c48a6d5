"""Compliance views, read-only: the contact ledger (every evaluation and attempt, by
the bank or an agency) searched by customer, agent, agency, rule or decision, alone or
together, with the blocks and deferrals on the page counted by rule; the staff's PII
reveals beside the partners' PII reads; and the lint status of the notifier's templates."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from collections_console.security import User, requires
from collections_console.upstream import UpstreamProblem
from collections_console.web import render

router = APIRouter(prefix="/compliance")
Compliance = Annotated[User, Depends(requires("compliance"))]
SEARCH = ("customer_id", "actor", "agency", "rule", "decision", "since", "partner_id")
PAGE_SIZE = 50


def refusals_by_rule(ledger: list[dict]) -> dict[str, Counter]:
    counts: dict[str, Counter] = {"block": Counter(), "defer": Counter()}
    for entry in ledger:
        if entry.get("decision") in counts:
            counts[entry["decision"]][entry.get("rule") or "?"] += 1
    return counts


def ledger_filters(search: dict[str, str], cursor: str) -> dict[str, str]:
    """The notifier's query for the form's fields: the day "since" starts at midnight UTC."""
    filters = {name: search[name] for name in ("customer_id", "actor", "agency", "rule", "decision") if search[name]}
    if search["since"]:
        try:
            filters["since"] = f"{date.fromisoformat(search['since']).isoformat()}T00:00:00Z"
        except ValueError:
            raise UpstreamProblem(422, "Invalid date", "since is a day, e.g. 2026-11-29") from None
    if cursor:
        filters["cursor"] = cursor
    return {**filters, "limit": str(PAGE_SIZE)}


@router.get("")
async def compliance(request: Request, user: Compliance):
    apis, query = request.app.state.upstreams, request.query_params
    search = {name: query.get(name, "").strip() for name in SEARCH}
    ledger, problem = {"entries": [], "next_cursor": None}, None
    try:
        ledger = await apis.notifier.call("GET", "/v1/contact-ledger", user.token,
                                          params=ledger_filters(search, query.get("cursor", "").strip()))
    except UpstreamProblem as found:
        if found.status == 401:
            raise
        problem = found
    # The audits are narrowed by the same customer and staff member once the notifier accepted them.
    # (a reveal names the staff member by their user name, the ledger a bank agent as bank-agent:<name>).
    staff = {} if problem else {k: v for k, v in (("customer_id", search["customer_id"]), ("actor", search["actor"]))
                                if v and not (k == "actor" and ":" in v)}
    reveals = await apis.notifier.call("GET", "/v1/audit/pii-reveals", user.token, params=staff)
    reads = await apis.gateway.call("GET", "/v1/audit/pii-reads", user.token, params={
        key: value for key, value in (("customer_id", staff.get("customer_id")), ("partner_id", search["partner_id"]))
        if value})
    lint = await apis.notifier.call("GET", "/v1/templates/lint", user.token)
    older = {**{k: v for k, v in search.items() if v}, "cursor": ledger["next_cursor"]} if ledger["next_cursor"] else None
    return render(request, "compliance.html", status_code=problem.status if problem else 200,
                  ledger=ledger["entries"], older=older, refusals=refusals_by_rule(ledger["entries"]),
                  reveals=reveals["reveals"], reads=reads["reads"], templates=lint["templates"],
                  problem=problem, search=search)
