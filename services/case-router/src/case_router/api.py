"""Case read API (the agent desk comes with the case-router issue)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from sqlalchemy import select

from case_router.tables import cases, timeline
from collections_core.http import Problem, problems

router = APIRouter(prefix="/v1")
Identifier = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


def _case_view(row, entries) -> dict:
    return {
        "case_id": row.case_id, "account_id": row.account_id, "stage": row.stage, "status": row.status,
        "dpd": row.dpd, "opened_at": row.opened_at.isoformat(),
        "timeline": [{"at": e.at.isoformat(), "entry": e.entry, "detail": e.detail} for e in entries],
    }


async def _view(request: Request, condition, missing: str) -> dict:
    async with request.app.state.runtime.database.reading() as connection:
        row = (await connection.execute(select(cases).where(condition).order_by(cases.c.opened_at.desc()))).first()
        if row is None:
            raise Problem(404, "Case not found", missing)
        entries = (await connection.execute(
            select(timeline).where(timeline.c.case_id == row.case_id).order_by(timeline.c.id))).all()
    return _case_view(row, entries)


@router.get("/cases/{case_id}", responses=problems(404))
async def get_case(request: Request, case_id: Identifier) -> dict:
    return await _view(request, cases.c.case_id == case_id, f"no case {case_id}")


@router.get("/accounts/{account_id}/case", responses=problems(404))
async def get_account_case(request: Request, account_id: Identifier) -> dict:
    return await _view(request, cases.c.account_id == account_id, f"no case for account {account_id}")
