"""Composition root of the agency-gateway."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import func, select

from agency_gateway import metrics
from agency_gateway.admin_api import router as admin_router
from agency_gateway.cipher import Keyring
from agency_gateway.handlers import TOPICS, Gateway
from agency_gateway.notifier import Notifier
from agency_gateway.oauth import PartnerTokens
from agency_gateway.partner_api import router as partner_router
from agency_gateway.partners import load_seed
from agency_gateway.rate_limit import RateLimiter
from agency_gateway.settings import GatewaySettings
from agency_gateway.tables import placements
from agency_gateway.webhooks import WebhookSender
from collections_core.clock import Clock
from collections_core.logs import get_logger
from collections_core.service import ServiceRuntime, configure, serve

log = get_logger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


def build_runtime(settings: GatewaySettings, topics: list[str] = TOPICS, clock: Clock | None = None):
    """The gateway's runtime and its parts; tests pass their own topics to stay apart."""
    keyring = Keyring(settings.pii_keys.get_secret_value() if settings.pii_keys else None)
    webhooks_queued = asyncio.Event()
    gateway = Gateway(settings, keyring, webhooks_queued)
    # A type has a handler or a batch handler: the batch-handled types go a run at a time.
    batch_handlers = gateway.batch_handlers()
    handlers = {ce_type: handler for ce_type, handler in gateway.handlers().items() if ce_type not in batch_handlers}
    runtime = ServiceRuntime(settings, topics=topics, handlers=handlers, batch_handlers=batch_handlers,
                             migrations=MIGRATIONS, clock=clock, workers=[prepare_then_expire])
    runtime.gateway = gateway
    runtime.keyring = keyring
    runtime.tokens = PartnerTokens(settings, keyring)
    runtime.webhooks = WebhookSender(settings, keyring, runtime.database, queued=webhooks_queued)
    runtime.workers.append(runtime.webhooks.run)
    runtime.notifier = Notifier(settings)
    return runtime


async def prepare(runtime: ServiceRuntime) -> None:
    """Once the schema is migrated: a signing key exists, and seed partners (local runs) are registered."""
    await runtime.tokens.ensure_signing_key(runtime.database)
    seed = runtime.settings.partner_seed_file
    if seed:
        async with runtime.unit_of_work() as work:
            added = await load_seed(work.connection, runtime.keyring, Path(seed), work.now)
        log.info("seed partners registered", added=added)


async def prepare_then_expire(runtime: ServiceRuntime) -> None:
    await prepare(runtime)
    while True:
        try:
            async with runtime.unit_of_work() as work:
                await runtime.gateway.recall_expired(work)
            await observe_placements(runtime)
        except Exception as error:  # a database outage: the next tick retries
            log.warning("expiry check failed", error=type(error).__name__)
        await asyncio.sleep(runtime.settings.expiry_check_seconds)


async def observe_placements(runtime: ServiceRuntime) -> None:
    async with runtime.database.reading() as connection:
        counts = (await connection.execute(select(placements.c.partner_id, placements.c.status, func.count())
                                           .group_by(placements.c.partner_id, placements.c.status))).all()
    metrics.PLACEMENTS.clear()  # a state a partner no longer has must not keep its last count
    for partner, state, count in counts:
        metrics.PLACEMENTS.labels(runtime.settings.service_name, partner or "", state).set(count)


def create_app(settings: GatewaySettings | None = None, runtime: ServiceRuntime | None = None):
    settings = settings or GatewaySettings()
    runtime = runtime or build_runtime(settings)
    app = runtime.app("agency-gateway", [partner_router, admin_router])
    app.version = "1.0.0"
    app.state.gateway = runtime.gateway
    app.state.keyring = runtime.keyring
    app.state.tokens = runtime.tokens
    app.state.notifier = runtime.notifier
    app.state.rate_limiter = RateLimiter(runtime.database, runtime.settings.rate_limit_lease_percent)
    app.router.lifespan_context = _closing_the_notifier_client(app.router.lifespan_context)
    return app


def _closing_the_notifier_client(lifespan):
    """The runtime's lifespan, then the notifier client's connections closed once the
    service has stopped (the webhook worker closes its own client when cancelled)."""

    @asynccontextmanager
    async def closing(app):
        try:
            async with lifespan(app):
                yield
        finally:
            await app.state.notifier.close()

    return closing


def run() -> None:
    settings = GatewaySettings()
    configure(settings)
    serve(create_app(settings), settings)


if __name__ == "__main__":
    run()
