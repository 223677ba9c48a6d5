"""Bearer-JWT verification: the one verifier every HTTP API of the platform uses.

A request proves who sends it with ``Authorization: Bearer <JWT>``. The token is
checked for its signature (an HS256 shared secret for local runs and tests; RS256,
ES256 or EdDSA public keys, fixed or from a JWKS URL, in production), its expiry and
not-before (with a small leeway for clock skew), its audience and its issuer. Roles
come from a claim (``roles`` by default; a dotted path such as
``realm_access.roles`` for identity providers that nest them), scopes from ``scope``
(space-separated, RFC 9068) or ``scp``.

Expiry is judged on the wall clock, never the service's business clock: a simulated
clock that runs 200 business days in minutes must not make tokens live for months.

A missing, malformed, expired or foreign token is a 401 problem with a
``WWW-Authenticate: Bearer`` challenge; a valid token without the role an operation
needs is a 403. The problem never says which check failed beyond a short reason, and
the token itself is never logged.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from collections_core.http import Problem
from collections_core.logs import get_logger

log = get_logger(__name__)

ROLES = ("agent", "supervisor", "operations", "compliance")
DEFAULT_AUDIENCE = "card-collections"
DEFAULT_ISSUER = "card-collections"
_ASYMMETRIC = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who sent a request, as its verified token says."""

    subject: str
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    claims: Mapping[str, Any] = field(default_factory=dict)

    def has_any_role(self, roles: Iterable[str]) -> bool:
        return not self.roles.isdisjoint(roles)


class Unauthenticated(Exception):
    """The request does not carry a token this service accepts."""


@dataclass(frozen=True, slots=True)
class AuthConfig:
    secret: str | None = None
    public_key: str | None = None
    jwks_url: str | None = None
    audience: str = DEFAULT_AUDIENCE
    issuer: str | None = DEFAULT_ISSUER
    roles_claim: str = "roles"
    leeway_seconds: float = 30.0

    @classmethod
    def of(cls, settings) -> AuthConfig:
        secret = settings.auth_jwt_secret
        return cls(secret=secret.get_secret_value() if secret is not None else None,
                   public_key=settings.auth_jwt_public_key, jwks_url=settings.auth_jwks_url,
                   audience=settings.auth_audience, issuer=settings.auth_issuer or None,
                   roles_claim=settings.auth_roles_claim, leeway_seconds=settings.auth_leeway_seconds)

    @property
    def configured(self) -> bool:
        return bool(self.secret or self.public_key or self.jwks_url)


class TokenVerifier:
    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        self._jwks = jwt.PyJWKClient(config.jwks_url, cache_keys=True, lifespan=300) if config.jwks_url else None
        if not config.configured:
            log.warning("no token verification key configured: every authenticated request will be refused")

    async def verify(self, token: str) -> Principal:
        keys = await self._keys_for(token)
        last: jwt.PyJWTError | None = None
        for key, algorithms in keys:
            try:
                claims = jwt.decode(
                    token, key, algorithms=algorithms, audience=self.config.audience, issuer=self.config.issuer,
                    leeway=self.config.leeway_seconds, options={"require": ["exp", "sub"]})
            except jwt.InvalidSignatureError as error:
                last = error  # another configured key may have signed it
                continue
            except jwt.PyJWTError as error:
                raise Unauthenticated(_reason(error)) from None
            return self._principal(claims)
        raise Unauthenticated(_reason(last) if last else "no token verification key configured")

    async def _keys_for(self, token: str) -> list[tuple[Any, list[str]]]:
        keys: list[tuple[Any, list[str]]] = []
        if self.config.secret:
            keys.append((self.config.secret, ["HS256"]))
        if self.config.public_key:
            keys.append((self.config.public_key, _ASYMMETRIC))
        if self._jwks is not None:
            try:
                # PyJWKClient fetches over urllib (blocking): keep the event loop free.
                signing = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
            except jwt.PyJWKClientConnectionError:
                raise Problem(503, "Key set unavailable", "the identity provider's key set cannot be fetched now",
                              headers={"Retry-After": "5"}) from None
            except jwt.PyJWTError as error:
                raise Unauthenticated(_reason(error)) from None
            keys.append((signing.key, _ASYMMETRIC))
        return keys

    def _principal(self, claims: Mapping[str, Any]) -> Principal:
        roles = _claim_path(claims, self.config.roles_claim)
        if isinstance(roles, str):
            roles = roles.split()
        scopes = claims.get("scope", claims.get("scp", ()))
        if isinstance(scopes, str):
            scopes = scopes.split()
        return Principal(subject=str(claims["sub"]), roles=frozenset(map(str, roles or ())),
                         scopes=frozenset(map(str, scopes or ())), claims=dict(claims))


def _claim_path(claims: Mapping[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _reason(error: BaseException) -> str:
    if isinstance(error, jwt.ExpiredSignatureError):
        return "the token has expired"
    if isinstance(error, jwt.InvalidAudienceError):
        return "the token is for another audience"
    if isinstance(error, jwt.InvalidIssuerError):
        return "the token is from another issuer"
    if isinstance(error, jwt.InvalidSignatureError):
        return "the token's signature does not verify"
    if isinstance(error, jwt.ImmatureSignatureError):
        return "the token is not valid yet"
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"the token lacks the {error.claim} claim"
    return "the token is malformed or signed with an unexpected algorithm"


_bearer = HTTPBearer(auto_error=False, description="A JWT from the bank's identity provider (`cc-token` locally)")
_CHALLENGE = 'Bearer realm="card-collections"'


def _verifier(request: Request) -> TokenVerifier:
    verifier = getattr(request.app.state, "verifier", None)
    if verifier is None:
        raise RuntimeError("the app has no token verifier: build it with ServiceRuntime.app()")
    return verifier


async def authenticate(request: Request,
                       credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Principal:
    """Dependency: the verified principal of the request, or a 401 problem."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Problem(401, "Unauthorized", "a bearer token is required", headers={"WWW-Authenticate": _CHALLENGE})
    try:
        principal = await _verifier(request).verify(credentials.credentials)
    except Unauthenticated as error:
        raise Problem(401, "Unauthorized", str(error),
                      headers={"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'}) from None
    request.state.principal = principal
    return principal


def require_roles(*roles: str):
    """Dependency factory: a principal holding at least one of ``roles``, else 403."""
    wanted = frozenset(roles)

    async def dependency(principal: Principal = Depends(authenticate)) -> Principal:
        if not principal.has_any_role(wanted):
            raise Problem(403, "Forbidden", f"this operation needs one of the roles: {', '.join(sorted(wanted))}")
        return principal

    return dependency


def require_scopes(*scopes: str):
    """Dependency factory: a principal granted every one of ``scopes``, else 403."""
    wanted = frozenset(scopes)

    async def dependency(principal: Principal = Depends(authenticate)) -> Principal:
        missing = wanted - principal.scopes
        if missing:
            raise Problem(403, "Forbidden", f"this operation needs the scopes: {', '.join(sorted(missing))}",
                          headers={"WWW-Authenticate": f'{_CHALLENGE}, error="insufficient_scope", '
                                                       f'scope="{" ".join(sorted(wanted))}"'})
        return principal

    return dependency


def mint_token(secret: str, subject: str, roles: Iterable[str] = (), *, ttl_seconds: int = 3600,
               audience: str = DEFAULT_AUDIENCE, issuer: str = DEFAULT_ISSUER, scopes: Iterable[str] = (),
               now: float | None = None, **claims: Any) -> str:
    """An HS256 token for local runs and tests (production tokens come from the bank's IdP)."""
    issued = int(now if now is not None else time.time())
    payload = {"sub": subject, "roles": list(roles), "aud": audience, "iss": issuer, "iat": issued,
               "nbf": issued, "exp": issued + ttl_seconds, "jti": uuid.uuid4().hex, **claims}
    scopes = list(scopes)
    if scopes:
        payload["scope"] = " ".join(scopes)
    return jwt.encode(payload, secret, algorithm="HS256")


def main(argv: list[str] | None = None) -> None:
    """``cc-token``: mint a development token."""
    parser = argparse.ArgumentParser(prog="cc-token", description="Mint a development bearer token (HS256).")
    parser.add_argument("--subject", default="dev-user", help="who the token speaks for (sub)")
    parser.add_argument("--role", action="append", default=[], choices=ROLES + ("agency-gateway",),
                        help="a role to grant; repeat for several")
    parser.add_argument("--scope", action="append", default=[], help="a scope to grant; repeat for several")
    parser.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    parser.add_argument("--audience", default=DEFAULT_AUDIENCE)
    parser.add_argument("--issuer", default=DEFAULT_ISSUER)
    parser.add_argument("--secret", default=os.environ.get("CC_AUTH_JWT_SECRET"),
                        help="the shared secret (default: $CC_AUTH_JWT_SECRET)")
    args = parser.parse_args(argv)
    if not args.secret:
        parser.error("no secret: pass --secret or set CC_AUTH_JWT_SECRET (make up writes it to var/dev-jwt-secret)")
    if args.ttl <= 0:
        parser.error("--ttl must be positive")
    print(mint_token(args.secret, args.subject, args.role, ttl_seconds=args.ttl, audience=args.audience,
                     issuer=args.issuer, scopes=args.scope))


if __name__ == "__main__":
    main(sys.argv[1:])
