"""Per-partner rate limits shared by gateway replicas: two app instances on one
database (SQLite and PostgreSQL) count a partner's requests together."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from agency_gateway.main import build_runtime, create_app
from agency_gateway.rate_limit import RateLimiter
from agency_gateway.tables import rate_windows
from gateway_testkit import gateway_settings
from prometheus_client import REGISTRY
from sqlalchemy import select

pytestmark = pytest.mark.integration


def frozen(limiter_app, database, at: list[float]) -> None:
    """The app's limiter reads the test's clock, so a run never straddles a second by chance."""
    limiter_app.state.rate_limiter = RateLimiter(database, lease_percent=5, clock=lambda: at[0])


def hits(partner: str) -> float:
    return REGISTRY.get_sample_value("gateway_rate_limited_total",
                                     {"service": "agency-gateway", "partner": partner}) or 0.0


async def test_two_replicas_share_a_partners_limit(gateway):
    partner = await gateway.partner("AG-1", rate_limit_per_second=4)
    headers = await gateway.token(partner)
    second = build_runtime(gateway_settings(gateway.runtime.settings.database_url))
    second_app = create_app(second.settings, second)
    now = [1_800_000_000.25]
    frozen(gateway.app, gateway.runtime.database, now)
    frozen(second_app, second.database, now)
    hits_before = hits("AG-1")
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=second_app),
                                     base_url="http://gateway-2") as other_replica:
            replicas = [gateway.client, other_replica]
            answers = [await replicas[n % 2].get("/v1/placements", headers=headers) for n in range(10)]
            assert [a.status_code for a in answers] == [200] * 4 + [429] * 6  # 4 in all, not 4 per replica
            refused = answers[-1]
            assert refused.headers["retry-after"] == "1"
            assert refused.headers["content-type"] == "application/problem+json"
            assert hits("AG-1") == hits_before + 6

            # Another partner counts on its own.
            other = await gateway.token(await gateway.partner("AG-2", rate_limit_per_second=4))
            assert (await other_replica.get("/v1/placements", headers=other)).status_code == 200

            now[0] += 1  # the next second: the partner is served again, on either replica
            again = [await replicas[n % 2].get("/v1/placements", headers=headers) for n in range(5)]
            assert [a.status_code for a in again] == [200] * 4 + [429]
    finally:
        await second.webhooks.close()
        await second.notifier.close()
        await second.database.dispose()


async def test_leases_never_add_up_to_more_than_the_limit(gateway):
    # 5 % of 100 a second: each replica takes 5 requests from the shared count at a time.
    now = [1_800_000_000.5]
    replicas = [RateLimiter(gateway.runtime.database, lease_percent=5, clock=lambda: now[0]) for _ in range(2)]
    granted = [await replicas[n % 2].take("AG-1", 100) is None for n in range(150)]
    assert granted == [True] * 100 + [False] * 50
    async with gateway.runtime.database.reading() as connection:
        row = (await connection.execute(select(rate_windows))).one()
    # 20 leases granted, then one refused lease per replica: each asks once, then refuses from memory.
    assert (row.partner_id, row.window_start, row.used) == ("AG-1", 1_800_000_000, 110)

    # A replica whose clock is behind counts into the newer second rather than reopening its own.
    late = RateLimiter(gateway.runtime.database, lease_percent=5, clock=lambda: now[0] - 1)
    assert await late.take("AG-1", 100) is not None
    now[0] += 1
    assert await replicas[0].take("AG-1", 100) is None


async def test_requests_arriving_together_share_one_lease(gateway):
    # 30 requests at once on one replica: they wait for one lease at a time instead of each
    # taking 5 of the 100 (which would exhaust the second and refuse a third of them).
    now = [1_800_000_000.5]
    limiter = RateLimiter(gateway.runtime.database, lease_percent=5, clock=lambda: now[0])
    answers = await asyncio.gather(*(limiter.take("AG-1", 100) for _ in range(30)))
    assert answers == [None] * 30
    async with gateway.runtime.database.reading() as connection:
        assert (await connection.execute(select(rate_windows.c.used))).scalar_one() == 30
