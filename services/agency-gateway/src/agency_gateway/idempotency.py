"""Idempotency-Key on writes: the first answer to a key is stored in the same
transaction as the write it describes, and a retry with the same key and the same
request gets that answer again without writing anything. The same key with a
different request is a client error (422), never a silent second write."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable

from fastapi.responses import JSONResponse
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from agency_gateway.driver_statements import row_insert
from agency_gateway.tables import idempotency_keys
from collections_core.http import Problem
from collections_core.unit_of_work import UnitOfWork

MAX_KEY_LENGTH = 200


def request_fingerprint(method: str, path: str, body: object) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def require_key(key: str | None) -> str:
    if not key:
        raise Problem(428, "Idempotency-Key required", "every write needs an Idempotency-Key header")
    if len(key) > MAX_KEY_LENGTH:
        raise Problem(400, "Invalid Idempotency-Key", f"an Idempotency-Key has at most {MAX_KEY_LENGTH} characters")
    return key


def _stored_answer() -> list:
    stored = select(idempotency_keys).where(idempotency_keys.c.owner == bindparam("stored_owner"),
                                            idempotency_keys.c.key == bindparam("stored_key"))
    return [stored.with_only_columns(column).scalar_subquery().label(f"stored_{column.name}")
            for column in (idempotency_keys.c.request_hash, idempotency_keys.c.status_code, idempotency_keys.c.body)]


# The first answer to a key, as columns (null when there is none) that a write's own
# first statement reads along with what it needs; parameters from ``as_key``.
STORED_ANSWER = _stored_answer()


_STORE = row_insert(idempotency_keys)


def as_key(owner: str, key: str) -> dict:
    return {"stored_owner": owner, "stored_key": key}


def replay(row, fingerprint: str) -> JSONResponse | None:
    """The stored answer again for a retry (``row`` read with ``STORED_ANSWER``), else None."""
    if row.stored_request_hash is None:
        return None
    if row.stored_request_hash != fingerprint:
        raise Problem(422, "Idempotency-Key reused", "this Idempotency-Key was used for a different request")
    return JSONResponse(json.loads(row.stored_body), status_code=row.stored_status_code,
                        headers={"Idempotent-Replayed": "true"})


async def once(unit_of_work, owner: str, key: str, fingerprint: str, status: int,
               write: Callable[[UnitOfWork], Awaitable[dict | JSONResponse]]) -> JSONResponse:
    """``write`` looks up the key's stored answer itself (``STORED_ANSWER``, ``replay``)
    and returns it as a JSONResponse, or writes and returns the new answer's body."""
    for _ in range(2):
        try:
            async with unit_of_work() as work:
                body = await write(work)
                if isinstance(body, JSONResponse):
                    return body  # a replay: nothing was written
                await _STORE.run(work.connection, {
                    "owner": owner, "key": key, "request_hash": fingerprint, "status_code": status,
                    "body": json.dumps(body), "created_at": work.now})
            return JSONResponse(body, status_code=status)
        except IntegrityError:
            continue  # the same key committed concurrently: answer as a replay
    raise Problem(409, "Conflict", "a request with this Idempotency-Key is in progress; retry")
