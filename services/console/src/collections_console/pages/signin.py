"""Signing in and out, and the UI language.

Development sign-in (local runs and tests, when the platform's dev secret is set):
pick a role and a name; the console mints a token with the runtime's mint_token.
Production: OpenID Connect against the bank's IdP (oidc.py)."""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from collections_console.i18n import LANGUAGES
from collections_console.oidc import PROVIDER, roles_of
from collections_console.security import Refused, checked_form, sign_in, sign_out
from collections_console.web import render
from collections_core.auth import mint_token

router = APIRouter()
DEV_ROLES = ("agent", "supervisor", "compliance")
HOME = {"agent": "/desk", "supervisor": "/supervisor", "compliance": "/compliance"}
SUBJECT = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def home_of(roles) -> str:
    return next((HOME[role] for role in DEV_ROLES if role in roles), "/desk")


@router.get("/")
async def start(request: Request):
    user = request.session.get("user")
    return RedirectResponse(home_of(user["roles"]) if user else "/sign-in", status_code=303)


@router.get("/sign-in")
async def sign_in_page(request: Request):
    settings = request.app.state.settings
    return render(request, "sign_in.html", dev=settings.dev_sign_in, oidc=settings.oidc_enabled, roles=DEV_ROLES,
                  error=None)


@router.post("/sign-in")
async def dev_sign_in(request: Request, form: FormData = Depends(checked_form)):
    settings = request.app.state.settings
    if not settings.dev_sign_in:
        raise Refused(404, "Not found", "development sign-in is off; sign in with the bank's identity provider")
    subject, role = str(form.get("subject", "")).strip(), form.get("role")
    if not SUBJECT.match(subject) or role not in DEV_ROLES:
        return render(request, "sign_in.html", status_code=422, dev=True, oidc=settings.oidc_enabled,
                      roles=DEV_ROLES, error="Enter a user name (letters, digits, . _ -) and pick a role.")
    token = mint_token(settings.auth_jwt_secret.get_secret_value(), subject, [role],
                       ttl_seconds=settings.token_ttl_seconds, audience=settings.auth_audience,
                       issuer=settings.auth_issuer)
    sign_in(request, subject, [role], token)
    return RedirectResponse(HOME[role], status_code=303)


@router.get("/auth/sign-in")
async def oidc_sign_in(request: Request):
    settings = request.app.state.settings
    if not settings.oidc_enabled:
        raise Refused(404, "Not found", "no identity provider is configured")
    client = request.app.state.identity_provider.create_client(PROVIDER)
    return await client.authorize_redirect(request, settings.oidc_redirect_url or str(request.url_for("oidc_callback")))


@router.get("/auth/callback", name="oidc_callback")
async def oidc_callback(request: Request):
    settings = request.app.state.settings
    if not settings.oidc_enabled:
        raise Refused(404, "Not found", "no identity provider is configured")
    client = request.app.state.identity_provider.create_client(PROVIDER)
    answer = await client.authorize_access_token(request)
    claims = dict(answer.get("userinfo") or {})
    roles = roles_of(claims, settings.oidc_roles_claim)
    if not roles:
        raise Refused(403, "No collections role", "your account holds no role for the collections console")
    subject = claims.get("preferred_username") or claims["sub"]
    sign_in(request, subject, roles, answer["access_token"])
    return RedirectResponse(home_of(roles), status_code=303)


@router.post("/sign-out")
async def sign_out_now(request: Request, _: FormData = Depends(checked_form)):
    sign_out(request)
    return RedirectResponse("/sign-in", status_code=303)


@router.post("/language")
async def choose_language(request: Request, form: FormData = Depends(checked_form)):
    chosen = form.get("language")
    if chosen in LANGUAGES:
        request.session["language"] = chosen
    back = str(form.get("back", "/"))
    # Only a path on this console: never an open redirect.
    return RedirectResponse(back if back.startswith("/") and not back.startswith("//") else "/", status_code=303)
