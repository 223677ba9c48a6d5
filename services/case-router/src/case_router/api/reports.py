"""Reports per strategy variant: roll rates between two business dates, cure rate per
stage, promise kept rate. SQL adds up; domain/reports.py turns counts into rates."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import and_, func, literal_column, select
from sqlalchemy import case as when
from sqlalchemy.orm import aliased

from case_router.api.common import runtime
from case_router.domain.reports import rate, roll_rates
from case_router.tables import cases, delinquency_days, promises, timeline
from collections_core.auth import Principal, require_roles

router = APIRouter(prefix="/v1/reports", tags=["reports"])
Readers = Annotated[Principal, Depends(require_roles("supervisor", "operations", "agent"))]
Managers = Annotated[Principal, Depends(require_roles("supervisor", "operations"))]


@router.get("/roll-rates", description="Of the accounts in each bucket on `from`, the share in each bucket on `to` "
                                       "(\"cured\" when no longer delinquent), per variant")
async def roll_rate_report(request: Request, _: Readers, start: Annotated[date, Query(alias="from")],
                           end: Annotated[date, Query(alias="to")]) -> dict:
    first, second = aliased(delinquency_days), aliased(delinquency_days)
    ended_in = func.coalesce(second.c.bucket, literal_column("'cured'"))
    query = (select(first.c.variant, first.c.bucket, ended_in, func.count())
             .select_from(first.outerjoin(second, and_(second.c.account_id == first.c.account_id,
                                                       second.c.business_date == end)))
             .where(first.c.business_date == start)
             .group_by(first.c.variant, first.c.bucket, ended_in))
    async with runtime(request).database.reading() as connection:
        moves = (await connection.execute(query)).all()
    return {"from": start, "to": end, "variants": roll_rates(moves)}


@router.get("/cure-rates", description="Per variant and stage reached: cases closed as cured out of all cases")
async def cure_rate_report(request: Request, _: Readers) -> dict:
    cured = func.sum(when((cases.c.close_reason == "cured", 1), else_=0))
    query = select(cases.c.variant, cases.c.stage, func.count(), cured).group_by(cases.c.variant, cases.c.stage)
    async with runtime(request).database.reading() as connection:
        found = (await connection.execute(query)).all()
    report: dict[str, dict] = {}
    for variant, stage, total, cures in found:
        report.setdefault(variant, {})[stage] = {"cases": total, "cured": int(cures or 0),
                                                 "cure_rate": rate(int(cures or 0), total)}
    return {"variants": report}


@router.get("/promise-kept-rates", description="Per variant: promises kept out of promises judged")
async def promise_report(request: Request, _: Readers) -> dict:
    query = (select(cases.c.variant, promises.c.status, func.count())
             .select_from(promises.join(cases, cases.c.case_id == promises.c.case_id))
             .group_by(cases.c.variant, promises.c.status))
    async with runtime(request).database.reading() as connection:
        found = (await connection.execute(query)).all()
    report: dict[str, dict] = {}
    for variant, status, count in found:
        report.setdefault(variant, {"active": 0, "kept": 0, "broken": 0})[status] = count
    for counts in report.values():
        counts["kept_rate"] = rate(counts["kept"], counts["kept"] + counts["broken"])
    return {"variants": report}


@router.get("/agent-productivity", description="Per agent: calls recorded, right-party contacts among them, "
                                               "promises taken and promises kept")
async def agent_productivity(request: Request, _: Managers) -> dict:
    right_party = func.sum(when((timeline.c.detail.like("right-party-contact%"), 1), else_=0))
    calls = (select(timeline.c.actor, func.count(), right_party)
             .where(timeline.c.entry == "call-outcome", timeline.c.actor.is_not(None)).group_by(timeline.c.actor))
    kept = func.sum(when((promises.c.status == "kept", 1), else_=0))
    taken = select(promises.c.source, func.count(), kept).group_by(promises.c.source)
    agents: dict[str, dict[str, int]] = {}

    def of(agent: str) -> dict[str, int]:
        return agents.setdefault(agent, {"calls": 0, "right_party_contacts": 0, "promises": 0, "kept": 0})
    async with runtime(request).database.reading() as connection:
        for agent, count, contacts in (await connection.execute(calls)).all():
            of(agent).update(calls=count, right_party_contacts=int(contacts or 0))
        for agent, count, kept_count in (await connection.execute(taken)).all():
            of(agent).update(promises=count, kept=int(kept_count or 0))
    return {"agents": [{"agent": agent, **figures} for agent, figures in sorted(agents.items())]}
