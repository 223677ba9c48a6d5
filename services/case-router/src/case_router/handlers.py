"""Walking skeleton: a delinquent account gets a case at the reminder stage and an
SMS reminder request; contact outcomes land on the case's timeline. The strategy
ladder, holds and promises belong to the case-router issue."""

from __future__ import annotations

import uuid

from sqlalchemy import insert, select

from case_router.tables import cases, timeline
from collections_core.codec import Event, type_of
from collections_core.contracts.collections.v1 import cases_pb2, contacts_pb2, delinquency_pb2
from collections_core.unit_of_work import UnitOfWork
from collections_core.wire import instant_to_proto

CASE_EVENTS = "collections.case-events.v1"
CONTACT_REQUESTS = "collections.contact-requests.v1"


async def account_became_delinquent(event: Event, work: UnitOfWork) -> None:
    message: delinquency_pb2.AccountBecameDelinquent = event.message
    open_case = (await work.connection.execute(
        select(cases.c.case_id).where(cases.c.account_id == message.account_id, cases.c.status == "open")
    )).first()
    if open_case:
        return
    now = work.clock.now()
    # Derived from the event id, so the same delinquency always names the same case.
    case_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"case:{event.id}"))
    await work.connection.execute(insert(cases).values(
        case_id=case_id, account_id=message.account_id, customer_id=message.customer_id,
        stage="reminder", status="open", dpd=message.state.dpd, opened_at=now))
    await work.connection.execute(insert(timeline).values(
        case_id=case_id, at=now, entry="case-opened", detail=f"dpd {message.state.dpd}"))
    work.emit(CASE_EVENTS, cases_pb2.CaseOpened(
        case_id=case_id, account_id=message.account_id, customer_id=message.customer_id,
        stage=cases_pb2.STAGE_REMINDER, dpd=message.state.dpd, opened_at=instant_to_proto(now)),
        key=message.account_id)
    request_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"contact:{case_id}:reminder.sms"))
    work.emit(CONTACT_REQUESTS, contacts_pb2.ContactRequested(
        request_id=request_id, account_id=message.account_id, customer_id=message.customer_id,
        case_id=case_id, channel=contacts_pb2.CHANNEL_SMS, template="reminder.sms",
        parameters={"dpd": str(message.state.dpd),
                    "past_due_minor": str(message.state.past_due_amount.amount_minor),
                    "currency": message.state.past_due_amount.currency},
        requested_at=instant_to_proto(now)),
        key=message.customer_id, subject=message.account_id)
    await work.connection.execute(insert(timeline).values(
        case_id=case_id, at=now, entry="contact-requested", detail=f"sms {request_id}"))


async def contact_sent(event: Event, work: UnitOfWork) -> None:
    message: contacts_pb2.ContactSent = event.message
    if not message.case_id:
        return
    await work.connection.execute(insert(timeline).values(
        case_id=message.case_id, at=work.clock.now(), entry="contact-sent",
        detail=f"{contacts_pb2.Channel.Name(message.channel).removeprefix('CHANNEL_').lower()} {message.request_id}"))


HANDLERS = {
    type_of(delinquency_pb2.AccountBecameDelinquent): account_became_delinquent,
    type_of(contacts_pb2.ContactSent): contact_sent,
}
TOPICS = ["collections.delinquency.v1", "collections.contact-events.v1"]
