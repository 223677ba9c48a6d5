"""What every agent-desk route shares: roles, identifiers, the idempotent write."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Path, Request
from fastapi.responses import JSONResponse
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from case_router.tables import cases, idempotent_requests
from collections_core.auth import Principal, require_roles
from collections_core.http import Problem
from collections_core.unit_of_work import UnitOfWork

Identifier = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
Staff = Annotated[Principal, Depends(require_roles("agent", "supervisor"))]
Supervisor = Annotated[Principal, Depends(require_roles("supervisor"))]
IdempotencyKey = Annotated[str, Header(alias="Idempotency-Key", min_length=8, max_length=200,
                                       description="client-chosen key: the same key and body give the same answer")]


def runtime(request: Request):
    return request.app.state.runtime


async def idempotent(request: Request, principal: Principal, key: str, payload: dict,
                     write: Callable[[UnitOfWork], Awaitable[dict]], status_code: int = 200) -> JSONResponse:
    """Run `write` once per (key, caller); a retry with the same key and body gets the first
    answer, the same key with another body is a 409. The answer is stored in the write's
    own transaction, so there is never an effect without its answer or the reverse."""
    fingerprint = hashlib.sha256(json.dumps([request.method, request.url.path, payload], sort_keys=True,
                                            default=str).encode()).hexdigest()
    try:
        async with runtime(request).unit_of_work() as work:
            stored = (await work.connection.execute(select(idempotent_requests).where(
                idempotent_requests.c.key == key, idempotent_requests.c.subject == principal.subject))).first()
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    # 409 rather than the draft standard's 422: the request itself is valid, it
                    # conflicts with an earlier one (and 422 means "invalid input" everywhere else here).
                    raise Problem(409, "Idempotency key reused",
                                  "this Idempotency-Key was used for a different request")
                return JSONResponse(json.loads(stored.body), status_code=stored.status_code,
                                    headers={"Idempotent-Replayed": "true"})
            body = await write(work)
            await work.connection.execute(insert(idempotent_requests).values(
                key=key, subject=principal.subject, fingerprint=fingerprint, status_code=status_code,
                body=json.dumps(body, default=str), created_at=work.now))
    except IntegrityError:
        raise Problem(409, "Request in progress", "a request with this Idempotency-Key is being handled; retry",
                      headers={"Retry-After": "1"}) from None
    return JSONResponse(json.loads(json.dumps(body, default=str)), status_code=status_code)


async def case_for_update(work: UnitOfWork, case_id: str, *, open_only: bool = True):
    case = (await work.connection.execute(select(cases).where(cases.c.case_id == case_id))).first()
    if case is None:
        raise Problem(404, "Case not found", f"no case {case_id}")
    if open_only and case.status != "open":
        raise Problem(409, "Case closed", f"case {case_id} is closed ({case.close_reason})")
    return case
