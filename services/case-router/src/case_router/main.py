"""Composition root of the case-router."""

from __future__ import annotations

from pathlib import Path

import uvicorn

from case_router.api import router
from case_router.handlers import TOPICS, handlers
from case_router.settings import RouterSettings
from collections_core.service import ServiceRuntime, configure


def create_app(settings: RouterSettings | None = None):
    settings = settings or RouterSettings()
    runtime = ServiceRuntime(settings, topics=TOPICS, handlers=HANDLERS,
                             migrations=Path(__file__).parent / "migrations")
    return runtime.app("case-router", [router])


def run() -> None:
    settings = RouterSettings()
    configure(settings)
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_level="warning",
                timeout_graceful_shutdown=20)


if __name__ == "__main__":
    run()
