"""schemathesis over the published OpenAPI document against the running gateway
(uvicorn on a real port, a real database): no generated request, valid or not,
gets a server error, and every error is an RFC 9457 problem."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
import schemathesis
from agency_gateway.main import build_runtime, create_app, prepare
from collections_core.migrations import upgrade
from gateway_testkit import Gateway, LocalServer, gateway_settings, staff
from hypothesis import HealthCheck, Phase, given, settings

pytestmark = pytest.mark.integration
EXAMPLES_PER_OPERATION = 6


class ServedGateway(threading.Thread):
    """The gateway served by uvicorn from its own thread and event loop, as in production."""

    def __init__(self, database_url: str) -> None:
        super().__init__(daemon=True)
        self.database_url = database_url
        self.ready = threading.Event()
        self.url = ""
        self.partner_headers: dict = {}
        self._stopping: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # surfaced to the test
            self.failure = error
            self.ready.set()

    async def _serve(self) -> None:
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        runtime = build_runtime(gateway_settings(self.database_url))
        await upgrade(runtime.database, runtime.migrations)
        await prepare(runtime)
        app = create_app(runtime.settings, runtime)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
            setup = Gateway(runtime, client, app)
            partner = await setup.partner("AG-FUZZ", rate_limit_per_second=10_000)
            for n in range(3):
                await setup.place(f"PL-{n}", f"A-{n}")
            self.partner_headers = await setup.token(partner)
        async with LocalServer(app) as server:
            self.url = server.url
            self.ready.set()
            await self._stopping.wait()
        await runtime.database.dispose()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stopping.set)
        self.join(timeout=30)


def test_no_server_errors_and_problems_only(database_url):
    served = ServedGateway(database_url)
    served.start()
    assert served.ready.wait(120) and served.failure is None, served.failure
    try:
        schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
        staff_headers = staff("operations", "compliance")
        failures = []
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) == 20
        for operation in operations:
            headers = staff_headers if operation.path.startswith(("/v1/admin", "/v1/audit")) \
                else served.partner_headers

            @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy())
            def exercise(case):
                response = case.call(base_url=served.url, headers={**headers, "Idempotency-Key": "fuzz"},
                                     timeout=30)
                if response.status_code >= 500:
                    failures.append((operation.label, response.status_code, response.text[:200]))
                elif response.status_code >= 400:
                    assert response.headers["content-type"] == ["application/problem+json"], (
                        operation.label, response.status_code, response.text[:200])

            exercise()
        assert failures == []
    finally:
        served.stop()
