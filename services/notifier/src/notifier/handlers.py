"""Walking skeleton: keep each customer's phone, queue every SMS request as a
delivery. The contact policy, templates, email and letters, and encryption of
contact points at rest belong to the notifier issue."""

from __future__ import annotations

from sqlalchemy import insert, select, update

from collections_core.codec import Event, Rejected, type_of
from collections_core.contracts.collections.v1 import contacts_pb2
from collections_core.contracts.corebanking.v1 import customers_pb2
from collections_core.unit_of_work import UnitOfWork
from notifier.tables import contact_points, deliveries


async def customer_upserted(event: Event, work: UnitOfWork) -> None:
    message: customers_pb2.CustomerUpserted = event.message
    values = {"phone": message.phone, "time_zone": message.time_zone or "UTC", "language": message.language or "en"}
    updated = await work.connection.execute(
        update(contact_points).where(contact_points.c.customer_id == message.customer_id).values(**values))
    if updated.rowcount == 0:
        await work.connection.execute(insert(contact_points).values(customer_id=message.customer_id, **values))


async def contact_requested(event: Event, work: UnitOfWork) -> None:
    message: contacts_pb2.ContactRequested = event.message
    if message.channel != contacts_pb2.CHANNEL_SMS:
        raise Rejected(f"channel {contacts_pb2.Channel.Name(message.channel)} is not served yet")
    if not message.request_id:
        raise Rejected("ContactRequested without request_id")
    known = (await work.connection.execute(
        select(deliveries.c.request_id).where(deliveries.c.request_id == message.request_id))).first()
    if known:
        return  # the same request under a new event id: the customer is contacted once
    await work.connection.execute(insert(deliveries).values(
        request_id=message.request_id, account_id=message.account_id, customer_id=message.customer_id,
        case_id=message.case_id, channel="sms", template=message.template, status="pending", attempts=0,
        created_at=work.clock.now()))


HANDLERS = {
    type_of(customers_pb2.CustomerUpserted): customer_upserted,
    type_of(contacts_pb2.ContactRequested): contact_requested,
}
TOPICS = ["corebanking.customers.v1", "collections.contact-requests.v1"]
