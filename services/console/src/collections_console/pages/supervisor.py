"""Supervisor views: queues, the portfolio's reports drawn as inline SVG, stage
overrides and reassignments with a reason, and agents' certification records."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from collections_console.charts import rate_bars, roll_rate_matrix
from collections_console.security import User, checked_form, requires
from collections_console.upstream import UpstreamProblem
from collections_console.web import render

router = APIRouter(prefix="/supervisor")
Supervisor = Annotated[User, Depends(requires("supervisor"))]
Form = Annotated[FormData, Depends(checked_form)]
IDENTIFIER = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
STAGES = ("reminder", "early", "letter", "field", "agency", "legal")


def _day(text: str | None, default: date) -> date:
    try:
        return date.fromisoformat(text) if text else default
    except ValueError:
        return default


@router.get("")
async def overview(request: Request, user: Supervisor):
    return await overview_page(request, user)


async def overview_page(request: Request, user: User, errors: dict | None = None, status_code: int = 200):
    api = request.app.state.upstreams.router
    today = request.app.state.clock.now().date()
    end = _day(request.query_params.get("to"), today)
    start = _day(request.query_params.get("from"), end - timedelta(days=30))
    queues = await api.call("GET", "/v1/queues", user.token)
    rolls = await api.call("GET", "/v1/reports/roll-rates", user.token,
                           params={"from": start.isoformat(), "to": end.isoformat()})
    cures = await api.call("GET", "/v1/reports/cure-rates", user.token)
    kept = await api.call("GET", "/v1/reports/promise-kept-rates", user.token)
    productivity = await api.call("GET", "/v1/reports/agent-productivity", user.token)
    charts = {
        "rolls": {variant: roll_rate_matrix(f"roll rates {variant} {start} → {end}", rows)
                  for variant, rows in rolls["variants"].items()},
        "cures": {variant: rate_bars(f"cure rate by stage, {variant}",
                                     [(stage, figures["cure_rate"]) for stage, figures in stages.items()])
                  for variant, stages in cures["variants"].items()},
        "kept": rate_bars("promise kept rate", [(variant, figures["kept_rate"])
                                                for variant, figures in kept["variants"].items()]),
    }
    cases_by_stage: dict[str, int] = {}
    for stages in cures["variants"].values():
        for stage, figures in stages.items():
            cases_by_stage[stage] = cases_by_stage.get(stage, 0) + figures["cases"]
    return render(request, "supervisor.html", status_code=status_code, queues=queues, charts=charts,
                  promises=kept["variants"], productivity=productivity["agents"], cases_by_stage=cases_by_stage,
                  start=start, end=end, stages=STAGES,
                  errors=errors or {}, done=request.query_params.get("done"))


@router.post("/stage-override")
async def override_stage(request: Request, user: Supervisor, form: Form):
    case_id = str(form.get("case_id", "")).strip()
    return await _write(request, user, form, "override", "POST", f"/v1/cases/{case_id}/stage",
                        {"stage": form.get("stage"), "reason": str(form.get("reason", "")).strip()},
                        done=f"/cases/{case_id}#timeline", ids=(case_id,))


@router.post("/reassignment")
async def reassign(request: Request, user: Supervisor, form: Form):
    task_id = str(form.get("task_id", "")).strip()
    return await _write(request, user, form, "reassign", "POST", f"/v1/tasks/{task_id}/assignment",
                        {"assignee": str(form.get("assignee", "")).strip(),
                         "reason": str(form.get("reason", "")).strip()}, done="/supervisor?done=reassign",
                        ids=(task_id,))


async def _write(request: Request, user: User, form: FormData, name: str, method: str, path: str, body: dict,
                 done: str, ids: tuple[str, ...], page=None):
    if not all(IDENTIFIER.match(identifier) for identifier in ids):
        problem = UpstreamProblem(422, "Invalid identifier", "ids are 1 to 64 letters, digits or . _ : -")
        return await (page or overview_page)(request, user, errors={name: problem}, status_code=422)
    try:
        await request.app.state.upstreams.router.call(method, path, user.token, json=body,
                                                      idempotency_key=str(form.get("idempotency_key", "")))
    except UpstreamProblem as problem:
        if problem.status == 401:
            raise
        return await (page or overview_page)(request, user, errors={name: problem}, status_code=problem.status)
    return RedirectResponse(done, status_code=303)


@router.get("/certifications")
async def certifications(request: Request, user: Supervisor):
    return await certifications_page(request, user)


async def certifications_page(request: Request, user: User, errors: dict | None = None, status_code: int = 200):
    records = await request.app.state.upstreams.router.call("GET", "/v1/certifications", user.token)
    today = request.app.state.clock.now().date()
    return render(request, "certifications.html", status_code=status_code, records=records, errors=errors or {},
                  today=today.isoformat())


@router.post("/certifications")
async def record_certification(request: Request, user: Supervisor, form: Form):
    agent, course = str(form.get("agent_id", "")).strip(), str(form.get("course", "")).strip()
    return await _write(request, user, form, "certification", "PUT",
                        f"/v1/agents/{agent}/certifications/{course}",
                        {"passed_on": form.get("passed_on"), "valid_for_days": form.get("valid_for_days")},
                        done="/supervisor/certifications", ids=(agent, course), page=certifications_page)
