"""Composition root of the case-router."""

from __future__ import annotations

from pathlib import Path

from case_router.api import router
from case_router.handlers import HANDLERS, TOPICS
from case_router.settings import RouterSettings
from collections_core.service import ServiceRuntime, configure, serve


def create_app(settings: RouterSettings | None = None):
    settings = settings or RouterSettings()
    runtime = ServiceRuntime(settings, topics=TOPICS, handlers=HANDLERS,
                             migrations=Path(__file__).parent / "migrations")
    return runtime.app("case-router", [router])


def run() -> None:
    settings = RouterSettings()
    configure(settings)
    serve(create_app(settings), settings)


if __name__ == "__main__":
    run()
