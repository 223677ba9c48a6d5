"""collections.contact-events.v1: what became of each contact the router asked for.

Every outcome lands on the case's timeline. A delivered credit-bureau pre-notice
starts its waiting period (credit_reporting.py): only a ContactDelivered counts,
a ContactSent does not.
"""

from __future__ import annotations

from sqlalchemy import select, update

from case_router import casebook
from case_router.casebook import channel_name
from case_router.domain.strategy import Strategy
from case_router.tables import cases, contact_requests
from collections_core.codec import Event, type_of
from collections_core.contracts.collections.v1 import contacts_pb2
from collections_core.unit_of_work import UnitOfWork
from collections_core.wire import instant_from_proto

_OUTCOMES = {
    contacts_pb2.ContactSent: ("sent", "contact-sent"),
    contacts_pb2.ContactDelivered: ("delivered", "contact-delivered"),
    contacts_pb2.ContactFailed: ("failed", "contact-failed"),
    contacts_pb2.ContactDeferred: ("deferred", "contact-deferred"),
    contacts_pb2.ContactBlocked: ("blocked", "contact-blocked"),
}


def handlers(strategy: Strategy):
    async def contact_outcome(event: Event, work: UnitOfWork) -> None:
        message = event.message
        status, entry = _OUTCOMES[type(message)]
        request = (await work.connection.execute(select(contact_requests).where(
            contact_requests.c.request_id == message.request_id))).first()
        if request is None:
            return  # a contact the router did not ask for (a pre-due reminder, an agency call)
        values = {"status": status} if request.status != "cancelled" else {}
        if isinstance(message, contacts_pb2.ContactDelivered):
            delivered_on = instant_from_proto(message.delivered_at).date() if message.HasField("delivered_at") \
                else work.now.date()
            values["delivered_on"] = delivered_on
            if request.purpose == "credit-pre-notice":
                await work.connection.execute(update(cases).where(cases.c.case_id == request.case_id)
                                              .values(pre_notice_delivered_on=delivered_on))
        if values:
            await work.connection.execute(update(contact_requests).where(
                contact_requests.c.request_id == message.request_id).values(**values))
        rule = getattr(message, "rule", "")
        await casebook.note(work, request.case_id, entry,
                            f"{channel_name(message.channel)} {message.request_id}" + (f" {rule}" if rule else ""),
                            rule=f"policy.{rule}" if rule else None)

    async def opt_out(event: Event, work: UnitOfWork) -> None:
        message: contacts_pb2.OptOutRecorded = event.message
        case = await casebook.open_case_of(work, message.account_id)
        if case is not None:
            await casebook.note(work, case.case_id, "opt-out", channel_name(message.channel))

    found = {type_of(kind): contact_outcome for kind in _OUTCOMES}
    found[type_of(contacts_pb2.OptOutRecorded)] = opt_out
    return found
