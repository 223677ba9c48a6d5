"""The webhook worker: delivers queued webhooks to partners, signed, retrying
with backoff until the partner's receiver answers 2xx, and logs every attempt.

A delivery is marked delivered only after a 2xx, so a crash between sending and
marking sends it again: receivers dedupe on ``X-CC-Delivery-Id`` (at-least-once,
like every event in the platform). Wall-clock time throughout (see webhook_queue).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, insert, select, update

from agency_gateway import metrics
from agency_gateway.cipher import Keyring
from agency_gateway.domain.webhook import delivered, retry_delay_seconds, signature
from agency_gateway.settings import GatewaySettings
from agency_gateway.tables import partners, webhook_attempts, webhook_deliveries
from collections_core.logs import get_logger

log = get_logger(__name__)
BATCH = 50


class WebhookSender:
    def __init__(self, settings: GatewaySettings, keyring: Keyring, database,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.keyring = keyring
        self.database = database
        self.service = settings.service_name
        self._client = httpx.AsyncClient(timeout=settings.webhook_timeout_seconds, transport=transport,
                                         follow_redirects=False)

    async def run(self, _runtime=None) -> None:
        try:
            while True:
                try:
                    sent = await self.deliver_due()
                except Exception as error:  # a database outage: try again on the next tick
                    log.warning("webhook delivery round failed", error=type(error).__name__)
                    sent = 0
                if sent < BATCH:
                    await asyncio.sleep(self.settings.webhook_poll_seconds)
        finally:
            await self.close()

    async def deliver_due(self) -> int:
        """Try every delivery that is due now; returns how many were tried."""
        now = datetime.now(UTC)
        async with self.database.reading() as connection:
            due = (await connection.execute(
                select(webhook_deliveries, partners.c.webhook_url, partners.c.webhook_secret)
                .join(partners, partners.c.partner_id == webhook_deliveries.c.partner_id)
                .where(webhook_deliveries.c.status == "pending", webhook_deliveries.c.next_attempt_at <= now)
                .order_by(webhook_deliveries.c.next_attempt_at).limit(BATCH))).all()
            pending = (await connection.execute(select(func.count()).select_from(webhook_deliveries).where(
                webhook_deliveries.c.status == "pending"))).scalar_one()
        metrics.WEBHOOK_PENDING.labels(self.service).set(pending)
        await asyncio.gather(*(self._attempt(row) for row in due))
        return len(due)

    async def _attempt(self, row) -> None:
        attempt = row.attempts + 1
        status_code, error = None, None
        started = time.perf_counter()
        if not row.webhook_url or not row.webhook_secret:
            error = "the partner has no webhook URL or secret"
        else:
            secret = self.keyring.open(row.webhook_secret, row.partner_id)
            body = row.body.encode()
            timestamp = int(time.time())
            try:
                response = await self._client.post(row.webhook_url, content=body, headers={
                    "Content-Type": "application/json", "X-CC-Delivery-Id": row.delivery_id,
                    "X-CC-Event-Type": row.event_type, "X-CC-Timestamp": str(timestamp),
                    "X-CC-Signature": signature(secret, timestamp, body)})
                status_code = response.status_code
                if not delivered(status_code):
                    error = f"HTTP {status_code}"
            except httpx.HTTPError as failure:
                error = type(failure).__name__
        duration_ms = int((time.perf_counter() - started) * 1000)
        finished = datetime.now(UTC)
        ok = error is None
        values = {"attempts": attempt, "last_error": error}
        if ok:
            values.update(status="delivered", delivered_at=finished)
        else:
            values["next_attempt_at"] = finished + timedelta(seconds=retry_delay_seconds(
                attempt, self.settings.webhook_retry_base_seconds, self.settings.webhook_retry_cap_seconds))
        async with self.database.transaction() as connection:
            await connection.execute(update(webhook_deliveries).where(
                webhook_deliveries.c.delivery_id == row.delivery_id).values(**values))
            await connection.execute(insert(webhook_attempts).values(
                delivery_id=row.delivery_id, attempt=attempt, attempted_at=finished, status_code=status_code,
                error=error, duration_ms=duration_ms))
        metrics.WEBHOOK_ATTEMPTS.labels(self.service, row.partner_id, "delivered" if ok else "failed").inc()
        if ok:
            created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
            metrics.WEBHOOK_LATENCY.labels(self.service).observe((finished - created).total_seconds())

    async def close(self) -> None:
        await self._client.aclose()
