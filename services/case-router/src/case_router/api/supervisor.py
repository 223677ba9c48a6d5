"""Supervisor actions: reassign a task, override a case's stage. Both need the
supervisor role and a reason, and both are on the case's timeline with who did it
(the audit trail)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import ConfigDict
from sqlalchemy import select, update
from sqlmodel import Field, SQLModel

from case_router import casebook
from case_router.api.common import Identifier, IdempotencyKey, Supervisor, case_for_update, idempotent, runtime
from case_router.domain.strategy import Stage
from case_router.tables import cases, tasks
from collections_core.contracts.collections.v1 import cases_pb2
from collections_core.http import Problem, problems
from collections_core.wire import date_to_proto, instant_to_proto

router = APIRouter(prefix="/v1", tags=["supervisor"])
OVERRIDE_RULE = "override.supervisor"


class Reassignment(SQLModel):
    model_config = ConfigDict(extra="forbid")
    assignee: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=3, max_length=200)


class StageOverride(SQLModel):
    model_config = ConfigDict(extra="forbid")
    stage: Literal["reminder", "early", "letter", "field", "agency", "legal"]
    reason: str = Field(min_length=3, max_length=200)


class Reassigned(SQLModel):
    task_id: str
    assignee: str


class StageOverridden(SQLModel):
    case_id: str
    from_stage: str
    to_stage: str


@router.post("/tasks/{task_id}/assignment", response_model=Reassigned, responses=problems(404, 409))
async def reassign_task(request: Request, task_id: Identifier, body: Reassignment, principal: Supervisor,
                        key: IdempotencyKey):
    lease = timedelta(seconds=runtime(request).settings.task_lease_seconds)

    async def write(work) -> dict:
        row = (await work.connection.execute(select(tasks).where(tasks.c.task_id == task_id))).first()
        if row is None:
            raise Problem(404, "Task not found", f"no task {task_id}")
        if row.status != "waiting":
            raise Problem(409, "Task finished", f"task {task_id} is {row.status}")
        await work.connection.execute(update(tasks).where(tasks.c.task_id == task_id).values(
            assignee=body.assignee, lease_expires_at=work.now + lease))
        await casebook.note(work, row.case_id, "task-reassigned", f"{task_id} → {body.assignee}: {body.reason}",
                            actor=principal.subject)
        return {"task_id": task_id, "assignee": body.assignee}
    return await idempotent(request, principal, key, body.model_dump(), write)


@router.post("/cases/{case_id}/stage", response_model=StageOverridden, responses=problems(404, 409))
async def override_stage(request: Request, case_id: Identifier, body: StageOverride, principal: Supervisor,
                         key: IdempotencyKey):
    strategy = runtime(request).strategy

    async def write(work) -> dict:
        case = await case_for_update(work, case_id)
        target, current = Stage.of(body.stage), Stage.of(case.stage)
        if target == current:
            raise Problem(409, "Stage unchanged", f"case {case_id} is already at {body.stage}")
        await work.connection.execute(update(cases).where(cases.c.case_id == case_id).values(stage=body.stage))
        await casebook.note(work, case_id, "stage-overridden", f"{case.stage} → {body.stage}: {body.reason}",
                            rule=OVERRIDE_RULE, strategy=f"{strategy.id}@{strategy.version}", variant=case.variant,
                            actor=principal.subject)
        work.emit(casebook.CASE_EVENTS, cases_pb2.StageChanged(
            case_id=case_id, account_id=case.account_id, from_stage=int(current), to_stage=int(target),
            rule=OVERRIDE_RULE, changed_at=instant_to_proto(work.now), strategy_id=strategy.id,
            strategy_version=strategy.version, variant=case.variant, business_date=date_to_proto(work.now.date())),
            key=case.account_id)
        return {"case_id": case_id, "from_stage": case.stage, "to_stage": body.stage}
    return await idempotent(request, principal, key, body.model_dump(), write)
