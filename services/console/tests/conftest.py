"""Console tests: the console in-process (console_harness)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

# --import-mode=importlib puts no test directory on sys.path; the harness lives here.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from console_harness import settings  # noqa: E402

from collections_console.main import create_app  # noqa: E402


@pytest.fixture
def console():
    with TestClient(create_app(settings())) as client:
        yield client
