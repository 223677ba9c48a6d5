"""Fixtures of the agency-gateway tests."""

import sys
from pathlib import Path

import pytest

# --import-mode=importlib puts no test directory on sys.path; the helpers live here.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gateway_testkit import Gateway, gateway_settings  # noqa: E402
from agency_gateway.main import build_runtime, create_app, prepare  # noqa: E402
from collections_core.migrations import upgrade  # noqa: E402
import httpx  # noqa: E402


@pytest.fixture
async def gateway(database_url):
    runtime = build_runtime(gateway_settings(database_url))
    await upgrade(runtime.database, runtime.migrations)
    await prepare(runtime)
    app = create_app(runtime.settings, runtime)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        yield Gateway(runtime, client, app)
    await runtime.webhooks.close()
    await runtime.notifier.close()
    await runtime.database.dispose()
