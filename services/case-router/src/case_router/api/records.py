"""What an agent records on a case: call outcomes, promises, plans, hardship,
disputes, notes and flags. Each is an idempotent write (Idempotency-Key) that goes
through the same judgement and casebook as partner activities and events."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import ConfigDict
from sqlalchemy import delete
from sqlmodel import Field, SQLModel

from case_router import casebook, judgement
from case_router.casebook import business_day
from case_router.api.common import Identifier, IdempotencyKey, Staff, case_for_update, idempotent, runtime
from case_router.api.desk import record_call
from case_router.domain.plans import Instalment, InvalidPlan, RepaymentPlan, split_into_instalments
from case_router.domain.promises import InvalidPromise, PromiseToPay
from case_router.handlers.accounts import set_flag
from case_router.tables import account_flags
from collections_core.http import Problem, problems

router = APIRouter(prefix="/v1", tags=["case records"])
_MINOR = Field(gt=0, le=10**13)


class _Input(SQLModel):
    model_config = ConfigDict(extra="forbid")


class CallOutcome(_Input):
    outcome: Literal["no-answer", "right-party-contact", "wrong-number", "refused"]
    note: str = Field(default="", max_length=400)


class PromiseIn(_Input):
    amount_minor: int = _MINOR
    due_on: date


class InstalmentIn(_Input):
    due_on: date
    amount_minor: int = _MINOR


class InstalmentPlanIn(_Input):
    kind: Literal["instalments", "minimum-payment"]
    instalments: list[InstalmentIn] = Field(min_length=1, max_length=60)


class SplitPlanIn(_Input):
    """A total split into equal instalments every 30 days from the first due date."""

    kind: Literal["instalments", "minimum-payment"]
    total_minor: int = Field(gt=0, le=10**13)
    count: int = Field(ge=1, le=60)
    first_due_on: date


class Reason(_Input):
    reason: str = Field(min_length=3, max_length=200)


class DisputeResolution(_Input):
    outcome: Literal["upheld", "rejected"]
    reason: str = Field(min_length=3, max_length=200)


class NoteIn(_Input):
    text: str = Field(min_length=1, max_length=400)


class CallRecorded(SQLModel):
    case_id: str
    outcome: str


class PromiseTaken(SQLModel):
    promise_id: str
    hold_until: date


class PlanAgreed(SQLModel):
    plan_id: str
    total_minor: int
    instalments: list[InstalmentIn]


class HoldStarted(SQLModel):
    hold_id: str
    until: date | None = None


class DisputeResolved(SQLModel):
    case_id: str
    outcome: str


class NoteAdded(SQLModel):
    case_id: str


class FlagChanged(SQLModel):
    account_id: str
    flag: str
    set: bool


class FlagIn(_Input):
    flag: Literal["cease-contact", "attorney", "bankruptcy", "deceased", "breathing-space", "vulnerable"]
    set: bool = True
    reason: str = Field(min_length=3, max_length=200)



@router.post("/cases/{case_id}/call-outcomes", response_model=CallRecorded, responses=problems(404, 409))
async def record_call_outcome(request: Request, case_id: Identifier, body: CallOutcome, principal: Staff,
                              key: IdempotencyKey):
    async def write(work) -> dict:
        case = await case_for_update(work, case_id)
        await record_call(work, case, body.outcome, body.note, principal.subject)
        return {"case_id": case_id, "outcome": body.outcome}
    return await idempotent(request, principal, key, body.model_dump(mode="json"), write)


@router.post("/cases/{case_id}/promises", status_code=201, response_model=PromiseTaken, responses=problems(404, 409))
async def take_promise(request: Request, case_id: Identifier, body: PromiseIn, principal: Staff,
                       key: IdempotencyKey):
    strategy = runtime(request).strategy

    async def write(work) -> dict:
        case = await case_for_update(work, case_id)
        try:
            promise = PromiseToPay(body.amount_minor, body.due_on, business_day(work, case))
            promise_id = await judgement.take_promise(work, strategy, case, promise, principal.subject, key)
        except InvalidPromise as error:
            raise Problem(422, "Invalid promise", str(error)) from None
        return {"promise_id": promise_id, "hold_until": promise.hold_until(strategy.humane.promise_tolerance_days)}
    return await idempotent(request, principal, key, body.model_dump(mode="json"), write, status_code=201)


@router.post("/cases/{case_id}/plans", status_code=201, response_model=PlanAgreed, responses=problems(404, 409))
async def agree_plan(request: Request, case_id: Identifier, body: InstalmentPlanIn | SplitPlanIn, principal: Staff,
                     key: IdempotencyKey):
    async def write(work) -> dict:
        case = await case_for_update(work, case_id)
        try:
            instalments = tuple(Instalment(i.due_on, i.amount_minor) for i in body.instalments) \
                if isinstance(body, InstalmentPlanIn) else split_into_instalments(body.total_minor, body.count,
                                                                            body.first_due_on)
            if instalments[0].due_on < business_day(work, case):
                raise InvalidPlan("the first instalment cannot fall due in the past")
            plan = RepaymentPlan(body.kind, instalments)
        except (InvalidPlan, OverflowError) as error:
            raise Problem(422, "Invalid plan", str(error)) from None
        plan_id = await judgement.make_plan(work, case, plan, business_day(work, case), principal.subject, key)
        return {"plan_id": plan_id, "total_minor": plan.total_minor,
                "instalments": [{"due_on": i.due_on, "amount_minor": i.amount_minor} for i in instalments]}
    return await idempotent(request, principal, key, body.model_dump(mode="json"), write, status_code=201)


@router.post("/cases/{case_id}/hardship", status_code=201, response_model=HoldStarted, responses=problems(404, 409),
             description="Opens a hardship review: holds escalation and creates a review task")
async def open_hardship(request: Request, case_id: Identifier, body: Reason, principal: Staff, key: IdempotencyKey):
    strategy = runtime(request).strategy

    async def write(work) -> dict:
        case = await case_for_update(work, case_id)
        today = business_day(work, case)
        until = today + timedelta(days=strategy.humane.hardship_review_days)
        hold_id = await casebook.start_hold(work, case, "hardship", today, until, body.reason, actor=principal.subject)
        await casebook.create_task(work, case, hold_id, "hardship-review", strategy.humane.hardship_queue, 2, today,
                                   rule="hold.hardship")
        await casebook.recall_placements(work, case, "hardship")
        return {"hold_id": hold_id, "until": until}
    return await idempotent(request, principal, key, body.model_dump(), write, status_code=201)


@router.post("/cases/{case_id}/disputes", status_code=201, response_model=HoldStarted, responses=problems(404, 409), description="A dispute holds the case until resolved")
async def open_dispute(request: Request, case_id: Identifier, body: Reason, principal: Staff, key: IdempotencyKey):
    async def write(work) -> dict:
        case = await case_for_update(work, case_id)
        hold_id = await casebook.start_hold(work, case, "dispute", business_day(work, case), None, body.reason,
                                            actor=principal.subject)
        await casebook.recall_placements(work, case, "dispute")
        return {"hold_id": hold_id}
    return await idempotent(request, principal, key, body.model_dump(), write, status_code=201)


@router.post("/cases/{case_id}/disputes/resolution", response_model=DisputeResolved, responses=problems(404, 409))
async def resolve_dispute(request: Request, case_id: Identifier, body: DisputeResolution, principal: Staff,
                          key: IdempotencyKey):
    async def write(work) -> dict:
        case = await case_for_update(work, case_id)
        ended = await casebook.end_holds(work, case, "dispute", business_day(work, case), f"{body.outcome}: {body.reason}",
                                         actor=principal.subject)
        if not ended:
            raise Problem(409, "No open dispute", f"case {case_id} has no dispute to resolve")
        return {"case_id": case_id, "outcome": body.outcome}
    return await idempotent(request, principal, key, body.model_dump(), write)


@router.post("/cases/{case_id}/notes", status_code=201, response_model=NoteAdded, responses=problems(404, 409))
async def add_note(request: Request, case_id: Identifier, body: NoteIn, principal: Staff, key: IdempotencyKey):
    async def write(work) -> dict:
        case = await case_for_update(work, case_id, open_only=False)
        await casebook.note(work, case.case_id, "note", body.text, actor=principal.subject)
        return {"case_id": case_id}
    return await idempotent(request, principal, key, body.model_dump(), write, status_code=201)


@router.post("/accounts/{account_id}/flags", response_model=FlagChanged, responses=problems(409))
async def set_account_flag(request: Request, account_id: Identifier, body: FlagIn, principal: Staff,
                           key: IdempotencyKey):
    async def write(work) -> dict:
        case = await casebook.open_case_of(work, account_id)
        if body.set:
            changed = await set_flag(work, account_id, body.flag)
        else:
            changed = (await work.connection.execute(delete(account_flags).where(
                account_flags.c.account_id == account_id, account_flags.c.flag == body.flag))).rowcount > 0
        if case is not None and changed:
            await casebook.note(work, case.case_id, "flag-set" if body.set else "flag-cleared",
                                f"{body.flag}: {body.reason}", actor=principal.subject)
        return {"account_id": account_id, "flag": body.flag, "set": body.set}
    return await idempotent(request, principal, key, body.model_dump(), write)

