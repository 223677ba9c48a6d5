"""Composition root of the console: settings → upstream clients, identity provider,
sessions, pages. It keeps no database of its own (sessions are signed cookies).

    collections-console     serve the console (CONSOLE_* settings)
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from collections_console import web
from collections_console.oidc import identity_provider
from collections_console.pages import compliance, desk, signin, supervisor
from collections_console.scripts import check_scripts
from collections_console.settings import ConsoleSettings
from collections_console.upstream import Upstreams
from collections_core.clock import FileClock, SystemClock
from collections_core.logs import configure_logging
from collections_core.http import SERVER_OPTIONS


def create_app(settings: ConsoleSettings | None = None, upstreams: Upstreams | None = None) -> FastAPI:
    settings = settings or ConsoleSettings()
    check_scripts(settings.script_pack)  # a missing or broken script file stops the console at start
    apis = upstreams or Upstreams.of(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        await apis.close()

    app = FastAPI(title="collections console", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.upstreams = apis
    app.state.clock = FileClock(settings.clock_file) if settings.clock_file else SystemClock()
    app.state.identity_provider = identity_provider(settings) if settings.oidc_enabled else None
    app.add_middleware(SessionMiddleware, secret_key=settings.cookie_secret(), session_cookie="console_session",
                       max_age=settings.session_max_age_seconds, same_site="lax",
                       https_only=settings.session_https_only)
    web.install(app)
    for pages in (signin, desk, supervisor, compliance):
        app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")

    @app.get("/healthz", include_in_schema=False)
    @app.get("/readyz", include_in_schema=False)
    async def alive() -> PlainTextResponse:
        return PlainTextResponse("ok")

    return app


def run() -> None:
    settings = ConsoleSettings()
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, timeout_graceful_shutdown=10,
                **SERVER_OPTIONS)


if __name__ == "__main__":
    run()
