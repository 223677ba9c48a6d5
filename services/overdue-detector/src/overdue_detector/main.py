"""Composition root of the overdue-detector."""

from __future__ import annotations

from pathlib import Path

from collections_core.service import ServiceRuntime, configure, serve
from overdue_detector.api import router
from overdue_detector.handlers import TOPICS, Detector
from overdue_detector.settings import DetectorSettings


def build_runtime(settings: DetectorSettings, topics: list[str] = TOPICS) -> ServiceRuntime:
    """The detector's runtime; tests pass their own topics to stay apart from one another."""
    detector = Detector(settings.policy, settings.service_name, settings.dead_letter_topic,
                        posting_topics=[t for t in topics if "business-days" not in t])
    return ServiceRuntime(settings, topics=topics, handlers=detector.handlers(),
                          batch_handlers=detector.batch_handlers(), migrations=Path(__file__).parent / "migrations",
                          between_batches=detector.age_closed_days)


def create_app(settings: DetectorSettings | None = None):
    settings = settings or DetectorSettings()
    return build_runtime(settings).app("overdue-detector", routers=[router])


def run() -> None:
    settings = DetectorSettings()
    configure(settings)
    serve(create_app(settings), settings)


if __name__ == "__main__":
    run()
