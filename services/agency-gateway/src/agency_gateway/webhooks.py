"""The webhook worker: delivers queued webhooks to partners, signed, retrying
with backoff until the partner's receiver answers 2xx, and logs every attempt.

It works in rounds. A round takes up to ``BATCH`` due deliveries, posts them with
at most ``webhook_concurrency`` in flight, and then records the whole round — each
delivery's new state and each attempt — in one transaction (decision 0074). On
SQLite writers take turns, so one commit per round costs a fraction of one per post.
Each post in flight has a lane of its own: an HTTP client that posts one request at a
time (decision 0076). A round starts when this process commits new deliveries (the
``queued`` doorbell), else after ``webhook_poll_seconds``.

A delivery is marked delivered only when the transaction recording a 2xx commits.
A crash, or a database error, between posting and recording leaves every delivery
of that round pending, and they are sent again: receivers dedupe on
``X-CC-Delivery-Id`` (at-least-once, like every event in the platform). The window
in which a crash resends is the round rather than one post. Wall-clock time
throughout (see webhook_queue).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import Row, bindparam, func, insert, select, update

from agency_gateway import metrics
from agency_gateway.cipher import Keyring
from agency_gateway.domain.webhook import delivered, retry_delay_seconds, signature
from agency_gateway.settings import GatewaySettings
from agency_gateway.tables import partners, webhook_attempts, webhook_deliveries
from collections_core.logs import get_logger
from collections_core.rest import rest

log = get_logger(__name__)
BATCH = 50
# A lane posts one request at a time, so it needs one connection per partner it posts
# to; more partners than this cost a lane a reconnect now and then, not a longer walk.
LANE_CONNECTIONS = 8

# One statement shape for every delivery of a round, so the round is one executemany.
# Only a pending delivery is changed: one that another replica marked delivered
# meanwhile stays delivered, whatever this replica's post got back.
RECORD_DELIVERY = update(webhook_deliveries).where(
    webhook_deliveries.c.delivery_id == bindparam("delivery"), webhook_deliveries.c.status == "pending")
RECORD_ATTEMPT = insert(webhook_attempts)


@dataclass(frozen=True)
class Attempt:
    """One post of a delivery and what came of it, waiting to be recorded with its round."""

    delivery: Row
    number: int
    finished: datetime
    duration_ms: int
    status_code: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.error is None


class WebhookSender:
    def __init__(self, settings: GatewaySettings, keyring: Keyring, database,
                 transport: httpx.AsyncBaseTransport | None = None, queued: asyncio.Event | None = None) -> None:
        self.settings = settings
        self.keyring = keyring
        self.database = database
        self.service = settings.service_name
        # Rung when this process commits new deliveries: a round starts then, not at the
        # next poll. The poll still finds retries that fall due and other replicas' rows.
        self.queued = queued or asyncio.Event()
        # One client per post in flight, each posting one request at a time (decision 0076):
        # httpcore's pool walks all its connections, polling each idle socket, whenever a
        # request starts or ends, so one shared pool of 16 cost more than the posts did.
        # One TLS context for all lanes: building one loads the CA bundle (~25 ms each).
        tls = httpx.create_ssl_context()
        self._lanes = [httpx.AsyncClient(
            timeout=settings.webhook_timeout_seconds, transport=transport, follow_redirects=False, verify=tls,
            limits=httpx.Limits(max_connections=LANE_CONNECTIONS, max_keepalive_connections=LANE_CONNECTIONS))
            for _ in range(settings.webhook_concurrency)]

    async def run(self, _runtime=None) -> None:
        try:
            while True:
                self.queued.clear()  # what is committed from here on rings again
                try:
                    sent = await self.deliver_due()
                except Exception as error:  # a database outage: try again on the next tick
                    log.warning("webhook delivery round failed", error=type(error).__name__)
                    sent = 0
                if sent < BATCH:
                    await rest(self.queued, self.settings.webhook_poll_seconds)
        finally:
            await self.close()

    async def deliver_due(self) -> int:
        """Try every delivery that is due now, as one round; returns how many were tried."""
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
        if not due:
            return 0
        attempts = await self._post_all(due)
        try:
            await self._record(attempts)
        except Exception as error:
            # The posts went out but nothing says so: the deliveries stay pending and go
            # again, and the receivers dedupe. No body, URL or partner data in the log.
            log.warning("webhook round posted but not recorded; its deliveries will be sent again",
                        deliveries=len(attempts), error=type(error).__name__)
            raise
        for attempt in attempts:  # as the log says: counted once recorded
            metrics.WEBHOOK_ATTEMPTS.labels(self.service, attempt.delivery.partner_id,
                                            "delivered" if attempt.delivered else "failed").inc()
            if attempt.delivered:
                created = attempt.delivery.created_at
                created = created if created.tzinfo else created.replace(tzinfo=UTC)
                metrics.WEBHOOK_LATENCY.labels(self.service).observe((attempt.finished - created).total_seconds())
        return len(due)

    async def _post_all(self, due: list[Row]) -> list[Attempt]:
        """Every due delivery posted, each lane taking the next as it comes free; the
        attempts in the order of ``due``."""
        attempts: list[Attempt | None] = [None] * len(due)
        waiting = iter(enumerate(due))

        async def lane(client: httpx.AsyncClient) -> None:
            for n, row in waiting:
                attempts[n] = await self._post(client, row)

        await asyncio.gather(*(lane(client) for client in self._lanes[:len(due)]))
        return attempts

    async def _post(self, client: httpx.AsyncClient, row) -> Attempt:
        status_code, error = None, None
        started = time.perf_counter()
        try:
            if not row.webhook_url or not row.webhook_secret:
                error = "the partner has no webhook URL or secret"
            else:
                status_code = await self._send(client, row)
                if not delivered(status_code):
                    error = f"HTTP {status_code}"
        except httpx.HTTPError as failure:
            error = type(failure).__name__
        except Exception as failure:
            # A secret sealed under a retired key, a malformed URL: this delivery
            # fails and backs off; the rest of its round is still recorded.
            log.warning("webhook delivery could not be posted", delivery=row.delivery_id,
                        error=type(failure).__name__)
            error = type(failure).__name__
        return Attempt(row, row.attempts + 1, datetime.now(UTC), int((time.perf_counter() - started) * 1000),
                       status_code, error)

    async def _send(self, client: httpx.AsyncClient, row) -> int:
        secret = self.keyring.open(row.webhook_secret, row.partner_id)
        body = row.body.encode()
        timestamp = int(time.time())
        response = await client.post(row.webhook_url, content=body, headers={
            "Content-Type": "application/json", "X-CC-Delivery-Id": row.delivery_id,
            "X-CC-Event-Type": row.event_type, "X-CC-Timestamp": str(timestamp),
            "X-CC-Signature": signature(secret, timestamp, body)})
        return response.status_code

    async def _record(self, attempts: list[Attempt]) -> None:
        """The round's outcomes in one transaction: every delivery's new state, every attempt."""
        async with self.database.transaction() as connection:
            await connection.execute(RECORD_DELIVERY, [self._after(attempt) for attempt in attempts])
            await connection.execute(RECORD_ATTEMPT, [{
                "delivery_id": attempt.delivery.delivery_id, "attempt": attempt.number,
                "attempted_at": attempt.finished, "status_code": attempt.status_code, "error": attempt.error,
                "duration_ms": attempt.duration_ms} for attempt in attempts])

    def _after(self, attempt: Attempt) -> dict:
        """The delivery's columns once this attempt is recorded."""
        row = attempt.delivery
        if attempt.delivered:
            return {"delivery": row.delivery_id, "attempts": attempt.number, "last_error": None,
                    "status": "delivered", "delivered_at": attempt.finished, "next_attempt_at": row.next_attempt_at}
        retry_in = retry_delay_seconds(attempt.number, self.settings.webhook_retry_base_seconds,
                                       self.settings.webhook_retry_cap_seconds)
        return {"delivery": row.delivery_id, "attempts": attempt.number, "last_error": attempt.error,
                "status": "pending", "delivered_at": None,
                "next_attempt_at": attempt.finished + timedelta(seconds=retry_in)}

    async def close(self) -> None:
        await asyncio.gather(*(client.aclose() for client in self._lanes))
