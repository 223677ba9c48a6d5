"""Who a partner request comes from: a gateway-issued token holding the scopes the
operation needs, within the partner's rate limit, from a partner that is still active.

The dependency reads nothing from the database on most requests (the token's claims
are cached, the rate limit is spent from a lease in memory). That the partner is
still active (not suspended, its client not replaced) is checked on every request
in the route's own first statement, with ``ACTIVE_PARTNER`` as one more column,
so it costs no round trip of its own; ``require_active`` is the statement on its own,
for the rare path where the route's statement finds no row to carry it."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import bindparam, exists, select

from agency_gateway import metrics
from agency_gateway.oauth import InvalidToken
from agency_gateway.rate_limit import RateLimiter
from agency_gateway.tables import partners
from collections_core.http import Problem

_bearer = HTTPBearer(auto_error=False, scheme_name="PartnerToken",
                     description="An access token from POST /oauth/token (client credentials)")
_CHALLENGE = 'Bearer realm="agency-gateway"'


@dataclass(frozen=True, slots=True)
class PartnerPrincipal:
    partner_id: str
    client_id: str
    scopes: frozenset[str]


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "Unauthorized", detail, headers={"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'})


_NOT_ACTIVE = "the partner is not active"


# A column that is true while the principal's partner is active with this client; built
# once (statements built per request cost as much CPU as their round trip on SQLite):
# execute it with ``as_partner(principal)`` among the parameters.
ACTIVE_PARTNER = exists().where(
    partners.c.partner_id == bindparam("active_partner_id"), partners.c.status == "active",
    partners.c.client_id == bindparam("active_client_id")).label("partner_active")
_REQUIRE_ACTIVE = select(ACTIVE_PARTNER)


def as_partner(principal: PartnerPrincipal) -> dict:
    return {"active_partner_id": principal.partner_id, "active_client_id": principal.client_id}


def check_active(row) -> None:
    """401 unless ``row`` (read with ``ACTIVE_PARTNER``) says the partner is active."""
    if not row.partner_active:
        raise _unauthorized(_NOT_ACTIVE)


async def require_active(connection, principal: PartnerPrincipal) -> None:
    check_active((await connection.execute(_REQUIRE_ACTIVE, as_partner(principal))).one())


def partner_with(*scopes: str):
    wanted = frozenset(scopes)

    async def dependency(request: Request,
                         credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> PartnerPrincipal:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise Problem(401, "Unauthorized", "a bearer token is required", headers={"WWW-Authenticate": _CHALLENGE})
        state = request.app.state
        runtime = state.runtime
        try:
            claims = await state.tokens.verify(credentials.credentials, runtime.database)
        except InvalidToken as error:
            raise _unauthorized(str(error)) from None
        granted = frozenset(str(claims.get("scope", "")).split())
        missing = wanted - granted
        if missing:
            raise Problem(403, "Forbidden", f"this operation needs the scopes: {', '.join(sorted(missing))}",
                          headers={"WWW-Authenticate": f'{_CHALLENGE}, error="insufficient_scope", '
                                                       f'scope="{" ".join(sorted(wanted))}"'})
        principal = PartnerPrincipal(claims["partner_id"], claims["sub"], granted)

        async def rate_limit() -> int:
            async with runtime.database.reading() as connection:
                partner = (await connection.execute(select(
                    partners.c.status, partners.c.rate_limit_per_second, partners.c.client_id).where(
                    partners.c.partner_id == principal.partner_id))).first()
            if partner is None or partner.status != "active" or partner.client_id != principal.client_id:
                raise _unauthorized(_NOT_ACTIVE)
            return partner.rate_limit_per_second

        limiter: RateLimiter = state.rate_limiter
        wait = await limiter.take(principal.partner_id, rate_limit)
        if wait is not None:
            metrics.RATE_LIMITED.labels(runtime.settings.service_name, principal.partner_id).inc()
            raise Problem(429, "Too many requests", "the partner's request rate limit is exhausted",
                          headers={"Retry-After": limiter.retry_after_header(wait)})
        request.state.principal = principal
        return principal

    return dependency
