"""Case view with its timeline (the rule behind each decision), and the credit file."""

from __future__ import annotations

from datetime import date, datetime

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlmodel import SQLModel

from case_router.api.common import Identifier, Staff, runtime
from case_router.tables import (
    CaseHold,
    CreditFileEntry,
    Plan,
    Promise,
    Task,
    TimelineEntry,
    account_flags,
    cases,
    credit_file,
    holds,
    plans,
    promises,
    tasks,
    timeline,
)
from collections_core.auth import Principal, require_roles
from collections_core.http import Problem, problems

router = APIRouter(prefix="/v1", tags=["cases"])


class CaseView(SQLModel):
    case_id: str
    account_id: str
    customer_id: str
    status: str
    stage: str
    strategy_id: str
    strategy_version: int
    variant: str
    currency: str
    dpd: int
    bucket: str
    past_due_minor: int
    balance_minor: int
    opened_on: date
    closed_at: datetime | None
    close_reason: str | None
    last_evaluated_on: date | None
    pre_notice_delivered_on: date | None
    promises_broken: int
    flags: list[str]
    timeline: list[TimelineEntry]
    holds: list[CaseHold]
    promises: list[Promise]
    plans: list[Plan]
    tasks: list[Task]


class CreditFile(SQLModel):
    customer_id: str
    entries: list[CreditFileEntry]


async def _view(request: Request, condition, missing: str) -> CaseView:
    async with runtime(request).database.reading() as connection:
        row = (await connection.execute(select(cases).where(condition).order_by(cases.c.opened_at.desc()))).first()
        if row is None:
            raise Problem(404, "Case not found", missing)

        async def rows(table, model, *where, order):
            found = await connection.execute(select(table).where(*where).order_by(order))
            return [model.model_validate(dict(r._mapping)) for r in found]

        by_case = row.case_id
        return CaseView(
            **{k: v for k, v in row._mapping.items() if k in CaseView.model_fields},
            flags=list((await connection.execute(select(account_flags.c.flag).where(
                account_flags.c.account_id == row.account_id))).scalars()),
            timeline=await rows(timeline, TimelineEntry, timeline.c.case_id == by_case, order=timeline.c.id),
            holds=await rows(holds, CaseHold, holds.c.case_id == by_case, order=holds.c.started_on),
            promises=await rows(promises, Promise, promises.c.case_id == by_case, order=promises.c.taken_on),
            plans=await rows(plans, Plan, plans.c.case_id == by_case, order=plans.c.created_on),
            tasks=await rows(tasks, Task, tasks.c.case_id == by_case, order=tasks.c.created_at),
        )


@router.get("/cases/{case_id}", response_model=CaseView, responses=problems(404))
async def get_case(request: Request, case_id: Identifier, _: Staff) -> CaseView:
    return await _view(request, cases.c.case_id == case_id, f"no case {case_id}")


@router.get("/accounts/{account_id}/case", response_model=CaseView, responses=problems(404),
            description="The account's open case, or its latest one")
async def get_account_case(request: Request, account_id: Identifier, _: Staff) -> CaseView:
    return await _view(request, cases.c.account_id == account_id, f"no case for account {account_id}")


_credit_readers = require_roles("agent", "supervisor", "compliance")


@router.get("/customers/{customer_id}/credit-file", response_model=CreditFile,
            description="The customer's collections history (信用档案): promises kept and broken, plans, cures")
async def get_credit_file(request: Request, customer_id: Identifier,
                          _: Annotated[Principal, Depends(_credit_readers)]) -> CreditFile:
    async with runtime(request).database.reading() as connection:
        found = await connection.execute(select(credit_file).where(credit_file.c.customer_id == customer_id)
                                         .order_by(credit_file.c.id))
        entries = [CreditFileEntry.model_validate(dict(r._mapping)) for r in found]
    return CreditFile(customer_id=customer_id, entries=entries)

