"""Composition root of the notifier."""

from __future__ import annotations

from pathlib import Path

from collections_core.service import ServiceRuntime, configure, serve
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
    serve(create_app(settings), settings)


if __name__ == "__main__":
    run()
