"""Test helpers for the agency-gateway: a gateway whose HTTP API is called in-process,
partners registered through the admin API, events run through its own handlers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncio
import socket

import httpx
import uvicorn
from agency_gateway.settings import GatewaySettings
from collections_core.auth import mint_token
from collections_core.codec import EventCodec, TypeRegistry
from collections_core.money import Money
from collections_core.tracing import TraceContext
from collections_core.unit_of_work import UnitOfWork, run_committed
from collections_core.contracts.collections.v1 import placements_pb2

STAFF_SECRET = "staff-test-secret-of-at-least-32-bytes"


def staff(*roles: str) -> dict:
    return {"Authorization": f"Bearer {mint_token(STAFF_SECRET, 'ops-alice', roles, ttl_seconds=300)}"}


@dataclass
class Gateway:
    runtime: object
    client: httpx.AsyncClient
    app: object

    async def partner(self, partner_id: str, **terms) -> dict:
        # A limit no test reaches by accident: a fast machine makes the authz matrix's
        # requests in well under a second. Rate-limit tests name their own.
        body = {"partner_id": partner_id, "name": f"{partner_id} Collections", "kind": "agency",
                "regions": ["Shanghai"], "capacity": 10, "commission_bps": 1_500, "contract_id": f"CT-{partner_id}",
                "rate_limit_per_second": 10_000, **terms}
        response = await self.client.post("/v1/admin/partners", json=body, headers=staff("operations"))
        assert response.status_code == 201, response.text
        return response.json()

    async def token(self, partner: dict, scope: str | None = None) -> dict:
        form = {"grant_type": "client_credentials", "client_id": partner["client_id"],
                "client_secret": partner["client_secret"]}
        if scope is not None:
            form["scope"] = scope
        response = await self.client.post("/oauth/token", data=form)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    async def place(self, placement_id: str, account_id: str = "A-1", customer_id: str = "C-1",
                    region: str = "Shanghai") -> None:
        await self.handle(placements_pb2.PlacementRequested(
            placement_id=placement_id, case_id=f"K-{placement_id}", account_id=account_id, customer_id=customer_id,
            kind=placements_pb2.PLACEMENT_KIND_AGENCY, amount=Money(150_000, "CNY").to_proto(), dpd=97,
            region=region), key=account_id)

    async def handle(self, message, key: str) -> None:
        """An event through the gateway's own handler, in its own transaction, as the consumer runs it."""
        codec = EventCodec(TypeRegistry.of_contracts(), "/test")
        event = codec.decode(*codec.encode(message, key, self.runtime.clock.now(), TraceContext.new()))
        async with self.runtime.database.transaction() as connection:
            work = UnitOfWork(connection, codec, self.runtime.clock, cause=event)
            await self.runtime.gateway.handlers()[event.type](event, work)
            await work.flush()
        run_committed(work.committed)


def gateway_settings(database_url: str, **overrides) -> GatewaySettings:
    overrides.setdefault("consumer_group", f"gw-{uuid.uuid4().hex[:6]}")
    return GatewaySettings(database_url=database_url, auth_jwt_secret=STAFF_SECRET, **overrides)


class LocalServer:
    """A real HTTP server (uvicorn) on a free local port, in the test's event loop."""

    def __init__(self, app) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                     lifespan="off"))
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> "LocalServer":
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            await asyncio.sleep(0.02)
        return self

    async def __aexit__(self, *_exc) -> None:
        self._server.should_exit = True
        await self._task
