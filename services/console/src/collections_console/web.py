"""Rendering a page for the signed-in user in their language, and the console's
answers to refusals, sign-in redirects and upstream problems."""

from __future__ import annotations

import uuid
from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from collections_console.i18n import choose_language, translations
from collections_console.security import Refused, SignInRequired, csrf_token
from collections_console.upstream import UpstreamProblem

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def language(request: Request) -> str:
    return choose_language(request.session.get("language"), request.headers.get("accept-language", ""),
                           request.app.state.settings.default_language)


def render(request: Request, template: str, status_code: int = 200, **context) -> HTMLResponse:
    chosen = language(request)
    user = request.session.get("user")
    return templates.TemplateResponse(request, template, status_code=status_code, context={
        "_": translations(chosen).gettext, "language": chosen, "user": user, "csrf": csrf_token(request),
        # A new key per rendered form: submitting the same form twice sends the same key,
        # so the service answers the second with the first's answer.
        "new_key": lambda: uuid.uuid4().hex, **context})


def problem_page(request: Request, status: int, title: str, detail: str) -> HTMLResponse:
    return render(request, "problem.html", status_code=status, problem={"status": status, "title": title,
                                                                        "detail": detail})


def install(app) -> None:
    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _: SignInRequired):
        return RedirectResponse("/sign-in", status_code=303)

    @app.exception_handler(Refused)
    async def _refused(request: Request, error: Refused):
        return problem_page(request, error.status, error.title, error.detail)

    @app.exception_handler(UpstreamProblem)
    async def _upstream(request: Request, error: UpstreamProblem):
        if error.status == 401:  # the token expired: sign in again
            request.session.pop("user", None)
            return RedirectResponse("/sign-in", status_code=303)
        return problem_page(request, error.status, error.title, error.detail)
