"""The durable webhook queue: rows written in the transaction that decided the
event, delivered afterwards by the worker in ``webhooks.py``.

The body carries the business instant of the event; the queue's own timestamps
(enqueued, next attempt) are wall-clock time, because they schedule real network
retries against a receiver that lives in real time, also when a simulation runs
the business clock fast (decision 0070).

A partner without a webhook URL gets nothing queued. Once a transaction that queued
deliveries commits, ``ring`` wakes the worker of the same process (decision 0076). A handler that decides many
events at once queues their webhooks with ``enqueue_many``: the partners' URLs read
with one query and the deliveries written with one statement (decision 0075).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select

from agency_gateway.tables import partners, webhook_deliveries
from collections_core.clock import SystemClock
from collections_core.unit_of_work import UnitOfWork

WALL = SystemClock()
_QUEUE = insert(webhook_deliveries)


@dataclass(frozen=True, slots=True)
class Webhook:
    """What a partner is to be told: ``data`` as an ``event_type``."""

    partner_id: str
    event_type: str
    data: dict[str, Any]


async def enqueue(work: UnitOfWork, partner_id: str, event_type: str, data: dict[str, Any],
                  ring: Callable[[], None] | None = None) -> str | None:
    """Queue ``event_type`` for the partner, if it has a webhook URL; returns the delivery id."""
    [delivery_id] = await enqueue_many(work, [Webhook(partner_id, event_type, data)], ring)
    return delivery_id


async def enqueue_many(work: UnitOfWork, webhooks: Sequence[Webhook],
                       ring: Callable[[], None] | None = None) -> list[str | None]:
    """Queue each webhook, in order, for its partner if it has a webhook URL; returns
    each one's delivery id (None where its partner has no URL). ``ring`` is called once
    the unit of work commits anything queued (the worker's doorbell)."""
    if not webhooks:
        return []
    wanted = list({webhook.partner_id: None for webhook in webhooks})
    urls = {row.partner_id: row.webhook_url for row in (await work.connection.execute(
        select(partners.c.partner_id, partners.c.webhook_url).where(partners.c.partner_id.in_(wanted)))).all()}
    created_at = work.now.isoformat()
    delivery_ids: list[str | None] = []
    rows = []
    for webhook in webhooks:
        if not urls.get(webhook.partner_id):
            delivery_ids.append(None)
            continue
        delivery_id = uuid.uuid4().hex
        enqueued = WALL.now()
        body = json.dumps({"id": delivery_id, "type": webhook.event_type, "created_at": created_at,
                           "data": webhook.data}, separators=(",", ":"), sort_keys=True)
        rows.append({"delivery_id": delivery_id, "partner_id": webhook.partner_id, "event_type": webhook.event_type,
                     "body": body, "status": "pending", "attempts": 0, "next_attempt_at": enqueued,
                     "created_at": enqueued})
        delivery_ids.append(delivery_id)
    if rows:
        await work.connection.execute(_QUEUE, rows)
        if ring is not None:
            work.when_committed(ring)
    return delivery_ids
