"""Hands pending SMS deliveries to the provider's HTTP API.

The request id travels as the ``Idempotency-Key``: if the process dies after the
provider accepted a message and before the delivery was marked sent, the retry
carries the same key and the provider does not send it twice.
"""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import select, update

from collections_core.contracts.collections.v1 import contacts_pb2
from collections_core.logs import get_logger
from collections_core.service import ServiceRuntime
from collections_core.wire import instant_to_proto
from notifier.settings import NotifierSettings
from notifier.tables import contact_points, deliveries

CONTACT_EVENTS = "collections.contact-events.v1"
log = get_logger(__name__)


class ProviderRefused(Exception):
    pass


async def send_pending(runtime: ServiceRuntime, client: httpx.AsyncClient, settings: NotifierSettings) -> int:
    async with runtime.database.reading() as connection:
        pending = (await connection.execute(
            select(deliveries, contact_points.c.phone)
            .join(contact_points, contact_points.c.customer_id == deliveries.c.customer_id)
            .where(deliveries.c.status == "pending").order_by(deliveries.c.created_at).limit(50))).all()
    for delivery in pending:
        response = await client.post(
            settings.sms_provider_url, headers={"Idempotency-Key": delivery.request_id},
            json={"to": delivery.phone, "template": delivery.template, "reference": delivery.request_id})
        if response.status_code >= 500:
            raise ProviderRefused(f"provider answered {response.status_code}")
        async with runtime.unit_of_work() as work:
            if response.is_success:
                message_id = response.json().get("id", "")
                await work.connection.execute(update(deliveries).where(
                    deliveries.c.request_id == delivery.request_id).values(
                    status="sent", provider_message_id=message_id, sent_at=work.clock.now(),
                    attempts=delivery.attempts + 1))
                work.emit(CONTACT_EVENTS, contacts_pb2.ContactSent(
                    request_id=delivery.request_id, account_id=delivery.account_id,
                    customer_id=delivery.customer_id, case_id=delivery.case_id, channel=contacts_pb2.CHANNEL_SMS,
                    sent_at=instant_to_proto(work.clock.now()), provider_message_id=message_id),
                    key=delivery.account_id)
            else:
                await work.connection.execute(update(deliveries).where(
                    deliveries.c.request_id == delivery.request_id).values(
                    status="failed", attempts=delivery.attempts + 1))
                work.emit(CONTACT_EVENTS, contacts_pb2.ContactFailed(
                    request_id=delivery.request_id, account_id=delivery.account_id,
                    channel=contacts_pb2.CHANNEL_SMS, reason=f"provider refused: HTTP {response.status_code}",
                    failed_at=instant_to_proto(work.clock.now())), key=delivery.account_id)
    return len(pending)


def sms_dispatcher(settings: NotifierSettings):
    async def dispatch_sms(runtime: ServiceRuntime) -> None:
        backoff = settings.dispatch_interval_seconds
        async with httpx.AsyncClient(timeout=settings.sms_provider_timeout_seconds) as client:
            while True:
                try:
                    sent = await send_pending(runtime, client, settings)
                    backoff = settings.dispatch_interval_seconds
                    if sent:
                        continue
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    log.warning("sms dispatch failed, will retry", error=type(error).__name__, retry_in=backoff)
                    backoff = min(backoff * 2, settings.retry_backoff_max_seconds)
                await asyncio.sleep(backoff)

    return dispatch_sms
