"""Work queues: list them, claim the next task under an exclusive lease that expires,
and finish it with the call's outcome.

A claim takes the most urgent waiting task whose lease is free (never leased, or
expired: an agent who walked away gives the task back by doing nothing). The lease
is taken with a compare-and-set on the task row (and SKIP LOCKED on PostgreSQL), so
two agents claiming at once never get the same task.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import ConfigDict
from sqlalchemy import case as when
from sqlalchemy import func, select, update
from sqlmodel import Field, SQLModel

from case_router import casebook
from case_router.api.certifications import lapsed_for
from case_router.api.common import Identifier, IdempotencyKey, Staff, case_for_update, idempotent, runtime
from case_router.casebook import lease_is_free
from case_router.tables import cases, tasks
from collections_core.http import Problem, problems

router = APIRouter(prefix="/v1", tags=["work queues"])


class QueueView(SQLModel):
    queue: str
    waiting: int
    claimable: int
    oldest_due_on: date = Field(description="the longest-waiting task's due day: the queue's age")


class ClaimedTask(SQLModel):
    task_id: str
    case_id: str
    account_id: str
    kind: str
    queue: str
    priority: int
    due_on: date
    collectors: int
    rule: str | None
    lease_expires_at: datetime


class TaskFinished(SQLModel):
    task_id: str
    status: str
    outcome: str


class TaskOutcome(SQLModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Literal["no-answer", "right-party-contact", "wrong-number", "refused", "visited", "done"]
    note: str = Field(default="", max_length=400)


@router.get("/queues", response_model=list[QueueView])
async def list_queues(request: Request, _: Staff) -> list[QueueView]:
    now = runtime(request).clock.now()
    async with runtime(request).database.reading() as connection:
        found = await connection.execute(
            select(tasks.c.queue, func.count(), func.sum(when((lease_is_free(now), 1), else_=0)),
                   func.min(tasks.c.due_on))
            .where(tasks.c.status == "waiting").group_by(tasks.c.queue).order_by(tasks.c.queue))
        return [QueueView(queue=q, waiting=n, claimable=int(free or 0), oldest_due_on=oldest)
                for q, n, free, oldest in found]


@router.post("/queues/{queue}/claims", response_model=ClaimedTask, status_code=201,
             responses=problems(403, 404, 409))
async def claim_next(request: Request, queue: Identifier, principal: Staff, key: IdempotencyKey):
    async def claim(work) -> dict:
        now = work.now
        lease_until = now + timedelta(seconds=runtime(request).settings.task_lease_seconds)
        if lapsed := await lapsed_for(work.connection, principal.subject, now.date()):
            raise Problem(403, "Certification lapsed",
                          f"{principal.subject}'s {lapsed.course} certification expired on {lapsed.expired_on}; "
                          "a supervisor records the renewed course before new work is leased",
                          type_="urn:card-collections:problem:certification-lapsed",
                          course=lapsed.course, expired_on=lapsed.expired_on.isoformat())
        # One row, locked and skipped by concurrent claims on PostgreSQL (SQLite runs writers one at a time).
        candidates = (await work.connection.execute(
            select(tasks.c.task_id).where(tasks.c.queue == queue, lease_is_free(now), tasks.c.due_on <= now.date())
            .order_by(tasks.c.priority, tasks.c.due_on, tasks.c.created_at, tasks.c.task_id).limit(1)
            .with_for_update(skip_locked=True))).scalars().all()
        for task_id in candidates:
            taken = await work.connection.execute(update(tasks).where(tasks.c.task_id == task_id, lease_is_free(now))
                                                  .values(assignee=principal.subject, lease_expires_at=lease_until))
            if taken.rowcount == 1:
                row = (await work.connection.execute(select(tasks).where(tasks.c.task_id == task_id))).first()
                case = (await work.connection.execute(select(cases).where(cases.c.case_id == row.case_id))).first()
                await casebook.note(work, row.case_id, "task-claimed", f"{row.kind} {task_id}",
                                    actor=principal.subject)
                return ClaimedTask.model_validate({**row._mapping, "account_id": case.account_id}).model_dump(
                    mode="json")
        raise Problem(404, "Queue empty", f"no task is waiting in queue {queue}")

    return await idempotent(request, principal, key, {"queue": queue}, claim, status_code=201)


@router.post("/tasks/{task_id}/outcome", response_model=TaskFinished, responses=problems(404, 409))
async def finish_task(request: Request, task_id: Identifier, body: TaskOutcome, principal: Staff,
                      key: IdempotencyKey):
    async def finish(work) -> dict:
        row = (await work.connection.execute(select(tasks).where(tasks.c.task_id == task_id))).first()
        if row is None:
            raise Problem(404, "Task not found", f"no task {task_id}")
        if row.status == "cancelled":
            # Typically the customer paid while the agent held the task: say so, so that the
            # desk moves on without asking for the case.
            case = (await work.connection.execute(select(cases.c.status, cases.c.close_reason)
                                                  .where(cases.c.case_id == row.case_id))).first()
            why = f"its case {row.case_id} closed ({case.close_reason})" if case.status == "closed" else "it was withdrawn"
            raise Problem(409, "Task cancelled", f"task {task_id} was cancelled: {why}",
                          type_="urn:card-collections:problem:task-cancelled",
                          case_id=row.case_id, case_status=case.status)
        if row.status != "waiting" or row.assignee != principal.subject or row.lease_expires_at is None \
                or row.lease_expires_at.replace(tzinfo=work.now.tzinfo) <= work.now:
            raise Problem(409, "Task not held", "finish a task only while you hold its lease")
        await work.connection.execute(update(tasks).where(tasks.c.task_id == task_id).values(
            status="done", outcome=body.outcome, lease_expires_at=None))
        case = await case_for_update(work, row.case_id, open_only=False)
        await record_call(work, case, body.outcome, body.note, principal.subject)
        return {"task_id": task_id, "status": "done", "outcome": body.outcome}

    return await idempotent(request, principal, key, body.model_dump(), finish)


async def record_call(work, case, outcome: str, note: str, actor: str) -> None:
    await casebook.note(work, case.case_id, "call-outcome", f"{outcome} {note}".strip(), actor=actor)
    if outcome == "right-party-contact":
        await work.connection.execute(update(cases).where(cases.c.case_id == case.case_id)
                                      .values(last_right_party_contact_on=work.now.date()))
