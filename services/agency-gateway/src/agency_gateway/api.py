"""Placement listing (partner auth and the partner API come with the gateway issue)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from agency_gateway.tables import placements

router = APIRouter(prefix="/v1")


@router.get("/placements")
async def list_placements(request: Request, limit: int = Query(100, ge=1, le=1000),
                          offset: int = Query(0, ge=0, le=10_000_000)) -> dict:
    async with request.app.state.runtime.database.reading() as connection:
        rows = (await connection.execute(
            select(placements).order_by(placements.c.requested_at, placements.c.placement_id)
            .limit(limit).offset(offset))).all()
    return {"placements": [
        {"placement_id": r.placement_id, "case_id": r.case_id, "account_id": r.account_id, "kind": r.kind,
         "amount": {"amount_minor": r.amount_minor, "currency": r.currency}, "dpd": r.dpd, "status": r.status,
         "requested_at": r.requested_at.isoformat()} for r in rows],
        "limit": limit, "offset": offset}
