"""Composition root of the agency-gateway."""

from __future__ import annotations

from pathlib import Path

from agency_gateway.api import router
from agency_gateway.handlers import HANDLERS, TOPICS
from agency_gateway.settings import GatewaySettings
from collections_core.service import ServiceRuntime, configure, serve


def create_app(settings: GatewaySettings | None = None):
    settings = settings or GatewaySettings()
    runtime = ServiceRuntime(settings, topics=TOPICS, handlers=HANDLERS,
                             migrations=Path(__file__).parent / "migrations")
    return runtime.app("agency-gateway", [router])


def run() -> None:
    settings = GatewaySettings()
    configure(settings)
    serve(create_app(settings), settings)


if __name__ == "__main__":
    run()
