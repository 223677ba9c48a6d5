"""One replica of the overdue-detector as its own process, on the test's own input
topics (``REPLICA_TOPICS``, comma-separated) so no other test's business days
reach it; everything else comes from DETECTOR_* variables, as in production."""

from __future__ import annotations

import os

import uvicorn

from collections_core.service import configure
from overdue_detector.api import router
from overdue_detector.main import build_runtime
from overdue_detector.settings import DetectorSettings


def run() -> None:
    settings = DetectorSettings()
    configure(settings)
    runtime = build_runtime(settings, topics=os.environ["REPLICA_TOPICS"].split(","))
    uvicorn.run(runtime.app("overdue-detector", routers=[router]), host=settings.http_host,
                port=settings.http_port, log_level="warning", timeout_graceful_shutdown=20)


if __name__ == "__main__":
    run()
