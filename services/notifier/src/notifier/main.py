"""Composition root of the notifier."""

from __future__ import annotations

from pathlib import Path

import uvicorn

from collections_core.service import ServiceRuntime, configure
from notifier.handlers import HANDLERS, TOPICS
from notifier.settings import NotifierSettings
from notifier.sms import sms_dispatcher


def create_app(settings: NotifierSettings | None = None):
    settings = settings or NotifierSettings()
    runtime = ServiceRuntime(settings, topics=TOPICS, handlers=HANDLERS,
                             migrations=Path(__file__).parent / "migrations", workers=[sms_dispatcher(settings)])
    return runtime.app("notifier")


def run() -> None:
    settings = NotifierSettings()
    configure(settings)
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_level="warning",
                timeout_graceful_shutdown=20)


if __name__ == "__main__":
    run()
