"""The durable webhook queue: rows written in the transaction that decided the
event, delivered afterwards by the worker in ``webhooks.py``.

The body carries the business instant of the event; the queue's own timestamps
(enqueued, next attempt) are wall-clock time, because they schedule real network
retries against a receiver that lives in real time, also when a simulation runs
the business clock fast (decision 0070).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import insert, select

from agency_gateway.tables import partners, webhook_deliveries
from collections_core.clock import SystemClock
from collections_core.unit_of_work import UnitOfWork

WALL = SystemClock()


async def enqueue(work: UnitOfWork, partner_id: str, event_type: str, data: dict[str, Any]) -> str | None:
    """Queue ``event_type`` for the partner, if it has a webhook URL; returns the delivery id."""
    url = (await work.connection.execute(
        select(partners.c.webhook_url).where(partners.c.partner_id == partner_id))).scalar_one_or_none()
    if not url:
        return None
    delivery_id = uuid.uuid4().hex
    enqueued = WALL.now()
    body = json.dumps({"id": delivery_id, "type": event_type, "created_at": work.now.isoformat(), "data": data},
                      separators=(",", ":"), sort_keys=True)
    await work.connection.execute(insert(webhook_deliveries).values(
        delivery_id=delivery_id, partner_id=partner_id, event_type=event_type, body=body, status="pending",
        attempts=0, next_attempt_at=enqueued, created_at=enqueued))
    return delivery_id
