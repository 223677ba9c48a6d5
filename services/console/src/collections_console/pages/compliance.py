"""Compliance views, read-only: a customer's contact ledger (every evaluation and
attempt, by the bank or an agency) filtered by agent, agency or rule, the blocks and
deferrals in it counted by rule, and the partners' PII reads."""

from __future__ import annotations

import re
from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from collections_console.security import User, requires
from collections_console.upstream import UpstreamProblem
from collections_console.web import render

router = APIRouter(prefix="/compliance")
Compliance = Annotated[User, Depends(requires("compliance"))]
IDENTIFIER = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def ledger_matching(ledger: list[dict], actor: str, rule: str) -> list[dict]:
    """Entries whose actor contains `actor` (an agent id or agency:<id>) and whose rule is `rule`."""
    return [entry for entry in ledger
            if (not actor or actor in (entry.get("actor") or "")) and (not rule or entry.get("rule") == rule)]


def refusals_by_rule(ledger: list[dict]) -> dict[str, Counter]:
    counts: dict[str, Counter] = {"block": Counter(), "defer": Counter()}
    for entry in ledger:
        if entry.get("decision") in counts:
            counts[entry["decision"]][entry.get("rule") or "?"] += 1
    return counts


@router.get("")
async def compliance(request: Request, user: Compliance):
    apis, query = request.app.state.upstreams, request.query_params
    customer, actor, rule = (query.get(name, "").strip() for name in ("customer_id", "actor", "rule"))
    partner = query.get("partner_id", "").strip()
    history, problem = None, None
    if customer:
        try:
            if not IDENTIFIER.match(customer):
                raise UpstreamProblem(422, "Invalid customer id", "ids are 1 to 64 letters, digits or . _ : -")
            history = await apis.notifier.call("GET", f"/v1/customers/{customer}/contact-history", user.token)
        except UpstreamProblem as found:
            if found.status == 401:
                raise
            problem = found
    reads = await apis.gateway.call("GET", "/v1/audit/pii-reads", user.token, params={
        key: value for key, value in (("partner_id", partner), ("customer_id", customer)) if value})
    ledger = ledger_matching(history["ledger"], actor, rule) if history else []
    return render(request, "compliance.html", status_code=problem.status if problem else 200,
                  history=history, ledger=ledger, refusals=refusals_by_rule(ledger), reads=reads["reads"],
                  problem=problem, search={"customer_id": customer, "actor": actor, "rule": rule,
                                           "partner_id": partner})
