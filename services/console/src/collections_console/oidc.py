"""Sign-in against the bank's identity provider (OpenID Connect, authorization code
flow with PKCE) through authlib. The IdP's access token is what the console forwards
to the services, which verify it by the IdP's keys (their auth_jwks_url)."""

from __future__ import annotations

from typing import Any

from authlib.integrations.starlette_client import OAuth

PROVIDER = "bank"


def identity_provider(settings) -> OAuth:
    oauth = OAuth()
    oauth.register(PROVIDER, server_metadata_url=settings.oidc_metadata_url, client_id=settings.oidc_client_id,
                   client_secret=(settings.oidc_client_secret.get_secret_value()
                                  if settings.oidc_client_secret else None),
                   client_kwargs={"scope": settings.oidc_scope, "code_challenge_method": "S256"})
    return oauth


def roles_of(claims: dict[str, Any], roles_claim: str) -> list[str]:
    """Roles from a claim, dotted for IdPs that nest them (realm_access.roles)."""
    found: Any = claims
    for part in roles_claim.split("."):
        found = found.get(part) if isinstance(found, dict) else None
    if isinstance(found, str):
        return found.split()
    return [str(role) for role in found] if isinstance(found, list) else []
