"""Composition root of the overdue-detector."""

from __future__ import annotations

from pathlib import Path

import uvicorn

from collections_core.service import ServiceRuntime, configure
from overdue_detector.handlers import TOPICS, Detector
from overdue_detector.settings import DetectorSettings


def create_app(settings: DetectorSettings | None = None):
    settings = settings or DetectorSettings()
    runtime = ServiceRuntime(settings, topics=TOPICS, handlers=Detector(settings.policy).handlers(),
                             migrations=Path(__file__).parent / "migrations")
    return runtime.app("overdue-detector")


def run() -> None:
    settings = DetectorSettings()
    configure(settings)
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_level="warning",
                timeout_graceful_shutdown=20)


if __name__ == "__main__":
    run()
