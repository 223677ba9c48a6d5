"""The gateway's outbound clients end with the service."""

import pytest
from agency_gateway.main import build_runtime, create_app
from gateway_testkit import gateway_settings

pytestmark = pytest.mark.integration


async def test_the_notifier_client_is_closed_when_the_service_stops(kafka, database_url):
    settings = gateway_settings(database_url, kafka_bootstrap_servers=kafka.bootstrap)
    runtime = build_runtime(settings, topics=[])
    app = create_app(settings, runtime)
    async with app.router.lifespan_context(app):
        assert not runtime.notifier.closed
        assert (await runtime.readiness())["database"]
    assert runtime.notifier.closed
