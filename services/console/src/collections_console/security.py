"""Who is signed in, what they may open, and the CSRF check every form passes.

The session is a signed cookie (Starlette's SessionMiddleware): the user's subject,
roles and the bearer token the console forwards to the services, the CSRF token and
the UI language. A form whose csrf_token does not match the session's is refused
with a 403 before anything is sent on."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from fastapi import Request
from starlette.datastructures import FormData


@dataclass(frozen=True, slots=True)
class User:
    subject: str
    roles: frozenset[str]
    token: str

    def may(self, *roles: str) -> bool:
        return not self.roles.isdisjoint(roles)


class SignInRequired(Exception):
    """No one is signed in: the page sends them to the sign-in page."""


class Refused(Exception):
    """Answered with a problem page (RFC 9457 fields, rendered for a person)."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


def sign_in(request: Request, subject: str, roles: list[str], token: str) -> None:
    request.session["user"] = {"subject": subject, "roles": sorted(roles), "token": token}
    # A fresh CSRF token per sign-in: one seen before signing in is of no use after.
    request.session["csrf"] = secrets.token_urlsafe(32)


def sign_out(request: Request) -> None:
    language = request.session.get("language")
    request.session.clear()
    if language:
        request.session["language"] = language


def signed_in(request: Request) -> User:
    found = request.session.get("user")
    if not found:
        raise SignInRequired()
    return User(found["subject"], frozenset(found["roles"]), found["token"])


def requires(*roles: str):
    """A dependency: the signed-in user, when they hold one of the roles; a 403 page otherwise."""
    def dependency(request: Request) -> User:
        user = signed_in(request)
        if not user.may(*roles):
            raise Refused(403, "Forbidden", f"this page is for {' or '.join(roles)} staff")
        return user
    return dependency


def csrf_token(request: Request) -> str:
    if "csrf" not in request.session:
        request.session["csrf"] = secrets.token_urlsafe(32)
    return request.session["csrf"]


async def checked_form(request: Request) -> FormData:
    """The posted form, once its CSRF token matched the session's."""
    form = await request.form()
    sent, expected = form.get("csrf_token"), request.session.get("csrf")
    if not isinstance(sent, str) or not expected or not secrets.compare_digest(sent, expected):
        raise Refused(403, "CSRF check failed", "this form was not issued to your session; reload the page and retry")
    return form
