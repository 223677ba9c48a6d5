"""collections.contact-events.v1: what became of each contact the router asked for.

Every outcome lands on the case's timeline. A delivered credit-bureau pre-notice
starts its waiting period (credit_reporting.py): only a ContactDelivered counts,
a ContactSent does not.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from case_router import casebook
from case_router.casebook import channel_name
from case_router.domain.strategy import Strategy
from case_router.rows import store_of
from case_router.tables import cases, contact_requests, timeline
from collections_core.codec import Event, type_of
from collections_core.consumer import BatchHandler
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


def batch_handlers(strategy: Strategy) -> dict[str, BatchHandler]:
    async def contact_outcomes(events: Sequence[Event], work: UnitOfWork) -> None:
        """A run of outcomes (the notifier reports a round's at once): the requests read
        in one query; each request's status, delivery date and pre-notice written once,
        as its last outcome left them; a timeline entry per outcome, in order."""
        connection = work.connection
        requested = {row.request_id: row for row in (await connection.execute(select(contact_requests).where(
            contact_requests.c.request_id.in_(list({e.message.request_id: None for e in events}))))).all()}
        statuses, delivered, pre_notices, notes = {}, {}, {}, []
        for event in events:
            message = event.message
            request = requested.get(message.request_id)
            if request is None:
                continue  # a contact the router did not ask for (a pre-due reminder, an agency call)
            status, entry = _OUTCOMES[type(message)]
            if request.status != "cancelled":
                statuses[request.request_id] = status
            if isinstance(message, contacts_pb2.ContactDelivered):
                delivered_on = instant_from_proto(message.delivered_at).date() if message.HasField("delivered_at") \
                    else work.now.date()
                delivered[request.request_id] = delivered_on
                if request.purpose == "credit-pre-notice":
                    pre_notices[request.case_id] = delivered_on
            rule = getattr(message, "rule", "")
            notes.append(casebook.timeline_row(
                request.case_id, work.now, entry,
                f"{channel_name(message.channel)} {message.request_id}" + (f" {rule}" if rule else ""),
                rule=f"policy.{rule}" if rule else None))
        store = store_of(connection)
        await store.set_column(contact_requests, "request_id", "status", statuses)
        await store.set_column(contact_requests, "request_id", "delivered_on", delivered)
        await store.set_column(cases, "case_id", "pre_notice_delivered_on", pre_notices)
        await store.insert(timeline, notes)

    return {type_of(kind): contact_outcomes for kind in _OUTCOMES}


def handlers(strategy: Strategy):
    async def opt_out(event: Event, work: UnitOfWork) -> None:
        message: contacts_pb2.OptOutRecorded = event.message
        case = await casebook.open_case_of(work, message.account_id)
        if case is not None:
            await casebook.note(work, case.case_id, "opt-out", channel_name(message.channel))

    return {type_of(contacts_pb2.OptOutRecorded): opt_out}
