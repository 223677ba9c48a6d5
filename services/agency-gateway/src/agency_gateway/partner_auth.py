"""Who a partner request comes from: a gateway-issued token, a partner that is
still active, within its rate limit, holding the scopes the operation needs."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select

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
        async with runtime.database.reading() as connection:
            partner = (await connection.execute(select(
                partners.c.status, partners.c.rate_limit_per_second, partners.c.client_id).where(
                partners.c.partner_id == claims["partner_id"]))).first()
        if partner is None or partner.status != "active" or partner.client_id != claims["sub"]:
            raise _unauthorized("the partner is not active")
        limiter: RateLimiter = state.rate_limiter
        wait = await limiter.take(claims["partner_id"], partner.rate_limit_per_second)
        if wait is not None:
            metrics.RATE_LIMITED.labels(runtime.settings.service_name, claims["partner_id"]).inc()
            raise Problem(429, "Too many requests", "the partner's request rate limit is exhausted",
                          headers={"Retry-After": limiter.retry_after_header(wait)})
        granted = frozenset(str(claims.get("scope", "")).split())
        missing = wanted - granted
        if missing:
            raise Problem(403, "Forbidden", f"this operation needs the scopes: {', '.join(sorted(missing))}",
                          headers={"WWW-Authenticate": f'{_CHALLENGE}, error="insufficient_scope", '
                                                       f'scope="{" ".join(sorted(wanted))}"'})
        principal = PartnerPrincipal(claims["partner_id"], claims["sub"], granted)
        request.state.principal = principal
        return principal

    return dependency
