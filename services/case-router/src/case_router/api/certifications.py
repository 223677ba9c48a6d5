"""Certification records: supervisors record the courses agents passed; an agent
reads their own. The claim route asks `lapsed_for` before leasing a task."""

from __future__ import annotations

from datetime import date, timedelta
from fastapi import APIRouter, Request
from pydantic import ConfigDict
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import Field, SQLModel

from case_router.api.common import Identifier, IdempotencyKey, Staff, Supervisor, idempotent, runtime
from case_router.domain.certifications import Certification, Lapsed, lapsed_certification
from case_router.tables import AgentCertification, agent_certifications
from collections_core.http import Problem, problems

router = APIRouter(prefix="/v1", tags=["certifications"])


class CertificationIn(SQLModel):
    """A course passed on a day and valid for a number of days (365 for a yearly renewal):
    an expiry before the pass cannot be written."""

    model_config = ConfigDict(extra="forbid")
    passed_on: date
    valid_for_days: int = Field(ge=1, le=3660)

    @property
    def expires_on(self) -> date:
        # A pass in the calendar's last years is valid to its end rather than an error.
        return self.passed_on + timedelta(days=min(self.valid_for_days, (date.max - self.passed_on).days))


class AgentCertifications(SQLModel):
    agent_id: str
    lapsed: bool
    certifications: list[AgentCertification]


async def lapsed_for(connection: AsyncConnection, agent_id: str, today: date) -> Lapsed | None:
    found = await connection.execute(select(agent_certifications).where(agent_certifications.c.agent_id == agent_id))
    return lapsed_certification([Certification(r.course, r.passed_on, r.expires_on) for r in found], today)


@router.get("/certifications", response_model=list[AgentCertification], description="Every agent's records")
async def list_certifications(request: Request, _: Supervisor) -> list[AgentCertification]:
    async with runtime(request).database.reading() as connection:
        found = await connection.execute(select(agent_certifications).order_by(
            agent_certifications.c.agent_id, agent_certifications.c.course))
        return [AgentCertification.model_validate(dict(r._mapping)) for r in found]


@router.get("/agents/{agent_id}/certifications", response_model=AgentCertifications, responses=problems(403))
async def agent_certifications_view(request: Request, agent_id: Identifier, principal: Staff) -> AgentCertifications:
    if "supervisor" not in principal.roles and principal.subject != agent_id:
        raise Problem(403, "Forbidden", "agents read their own certifications only")
    today = runtime(request).clock.now().date()
    async with runtime(request).database.reading() as connection:
        found = (await connection.execute(select(agent_certifications).where(
            agent_certifications.c.agent_id == agent_id).order_by(agent_certifications.c.course))).all()
        lapsed = await lapsed_for(connection, agent_id, today)
    return AgentCertifications(agent_id=agent_id, lapsed=lapsed is not None,
                               certifications=[AgentCertification.model_validate(dict(r._mapping)) for r in found])


@router.put("/agents/{agent_id}/certifications/{course}", response_model=AgentCertification, responses=problems(409))
async def record_certification(request: Request, agent_id: Identifier, course: Identifier, body: CertificationIn,
                               principal: Supervisor, key: IdempotencyKey):
    async def write(work) -> dict:
        # Replaced whole: a renewal is the same course passed again.
        await work.connection.execute(delete(agent_certifications).where(
            agent_certifications.c.agent_id == agent_id, agent_certifications.c.course == course))
        row = {"agent_id": agent_id, "course": course, "passed_on": body.passed_on, "expires_on": body.expires_on,
               "recorded_by": principal.subject, "recorded_at": work.now}
        await work.connection.execute(agent_certifications.insert().values(**row))
        return AgentCertification.model_validate(row).model_dump(mode="json")
    return await idempotent(request, principal, key, {"agent": agent_id, "course": course, **body.model_dump()}, write)
