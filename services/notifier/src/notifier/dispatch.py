"""The dispatcher: a worker that sends contacts when they fall due by the
service's clock (a simulated clock drives it as well as the system clock).

For each due request, in order of due time:

1. one unit of work judges it again with the ledger as it is now (opt-outs,
   holds and other contacts may have changed): a deferral moves ``due_at``, a
   block ends it; an allowed contact is rendered, written to the ledger as an
   attempt and marked ``sending`` — so the caps count it before it leaves;
2. the channel adapter hands it over under the idempotency key (the request id);
3. a second unit of work marks it ``sent`` (or ``failed``) and emits the event.

A crash between 1 and 3 leaves the request ``sending``; the next round sends it
again under the same key, which the provider answers with its first answer
instead of a second message. A transient channel failure leaves it ``sending``
and the round moves on to other channels' work after a backoff.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Protocol

from sqlalchemy import func, select, update

from collections_core.contracts.collections.v1 import contacts_pb2
from collections_core.faults import crash_point
from collections_core.logs import get_logger
from collections_core.service import ServiceRuntime
from collections_core.unit_of_work import UnitOfWork
from collections_core.wire import instant_to_proto
from notifier import facts
from notifier.channels import Accepted, ChannelUnavailable, Outgoing, Refused
from notifier.crypto import PiiCipher
from notifier.domain.policy import Allow, Pack
from notifier.facts import as_utc
from notifier.handlers import CHANNEL_CODES, CONTACT_EVENTS, judge
from notifier.metrics import CONTACTS, OLDEST_PENDING_AGE, PENDING
from notifier.settings import NotifierSettings
from notifier.tables import contact_requests
from notifier.templates import Catalogue, TemplateInvalid

log = get_logger(__name__)
# Fault tests kill the process here: the provider has the message, our database does not know yet.
AFTER_HAND_OVER = "notifier-after-hand-over"
WAITING = ("pending", "sending")


class Channel(Protocol):
    async def send(self, message: Outgoing) -> Accepted | Refused: ...


class Dispatcher:
    def __init__(self, settings: NotifierSettings, cipher: PiiCipher, catalogue: Catalogue,
                 channels: Mapping[str, Channel], packs: Mapping[str, Pack]) -> None:
        self.settings, self.cipher, self.catalogue = settings, cipher, catalogue
        self.channels, self.packs = channels, packs

    async def run(self, runtime: ServiceRuntime) -> None:
        backoff = self.settings.dispatch_interval_seconds
        while True:
            try:
                handled = await self.dispatch_due(runtime)
                backoff = self.settings.dispatch_interval_seconds
                if handled:
                    continue
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("dispatch round failed, will retry", error=type(error).__name__, retry_in=backoff)
                backoff = min(backoff * 2, self.settings.retry_backoff_max_seconds)
            await asyncio.sleep(backoff)

    async def dispatch_due(self, runtime: ServiceRuntime) -> int:
        """One round: every request due by the clock, up to a batch. Returns how many were
        handled; raises ChannelUnavailable after the round when a channel could not take work."""
        now = runtime.clock.now()
        async with runtime.database.reading() as connection:
            due = (await connection.execute(
                select(contact_requests.c.request_id, contact_requests.c.channel, contact_requests.c.customer_id)
                .where(contact_requests.c.status.in_(WAITING), contact_requests.c.due_at <= now)
                .order_by(contact_requests.c.due_at).limit(self.settings.dispatch_batch_size))).all()
            waiting = (await connection.execute(
                select(func.count(), func.min(contact_requests.c.requested_at))
                .where(contact_requests.c.status.in_(WAITING)))).one()
        PENDING.set(waiting[0])
        OLDEST_PENDING_AGE.set((now - as_utc(waiting[1])).total_seconds() if waiting[1] else 0)
        # One customer's contacts one after the other, so each is judged against the
        # ledger with the previous one in it (caps); different customers side by side.
        per_customer: dict[str, list[tuple[str, str]]] = {}
        for request_id, channel, customer_id in due:
            per_customer.setdefault(customer_id, []).append((request_id, channel))
        unavailable: set[str] = set()
        handled = 0
        lanes = asyncio.Semaphore(self.settings.dispatch_concurrency)

        async def dispatch_customer(contacts: list[tuple[str, str]]) -> None:
            nonlocal handled
            async with lanes:
                for request_id, channel in contacts:
                    if channel in unavailable:
                        continue
                    try:
                        await self.dispatch_one(runtime, request_id)
                        handled += 1
                    except ChannelUnavailable as error:
                        unavailable.add(channel)
                        log.warning("channel unavailable, contacts wait", channel=channel, error=str(error))

        async with asyncio.TaskGroup() as group:
            for contacts in per_customer.values():
                group.create_task(dispatch_customer(contacts))
        if unavailable:
            raise ChannelUnavailable(", ".join(sorted(unavailable)))
        return handled

    async def dispatch_one(self, runtime: ServiceRuntime, request_id: str) -> None:
        async with runtime.unit_of_work() as work:
            outgoing = await self._prepare(work, request_id)
        if outgoing is None:
            return
        result = await self.channels[outgoing.channel].send(outgoing)
        crash_point(AFTER_HAND_OVER)
        async with runtime.unit_of_work() as work:
            await self._settle(work, request_id, result)

    async def _prepare(self, work: UnitOfWork, request_id: str) -> Outgoing | None:
        row = (await work.connection.execute(
            select(contact_requests).where(contact_requests.c.request_id == request_id).with_for_update()
        )).mappings().first()
        if row is None or row["status"] not in WAITING or as_utc(row["due_at"]) > work.now:
            return None  # cancelled, settled or re-deferred since the round read it
        request = dict(row)
        if request["status"] == "pending":
            decision = await judge(work, request, self.packs[request["pack"]])
            if not isinstance(decision, Allow):
                return None
        customer = await facts.load_customer(work.connection, request["customer_id"])
        try:
            outgoing = self._render(request, customer)
        except TemplateInvalid as error:
            await self._fail(work, request, f"template: {error}")
            return None
        if request["status"] == "pending":
            await facts.record(work.connection, customer_id=request["customer_id"],
                               account_id=request["account_id"], channel=request["channel"], decision="allow",
                               outcome="sent", at=work.now, request_id=request_id)
            await work.connection.execute(update(contact_requests).where(
                contact_requests.c.request_id == request_id).values(status="sending", updated_at=work.now))
        return outgoing

    def _render(self, request: Mapping, customer: facts.Customer) -> Outgoing:
        owner, point = customer.customer_id, customer.row
        opt_out_url = f"{self.settings.opt_out_base_url}/{self.cipher.lookup_hash('opt-out:' + owner)[:32]}"
        parameters = {**json.loads(request["parameters"]), **self.settings.bank_facts,
                      "customer_name": self.cipher.decrypt(point.name, owner, "name"), "opt_out_url": opt_out_url}
        rendered = self.catalogue.render(request["template"], customer.language, parameters)
        channel = request["channel"]
        if channel == "sms":
            to = self.cipher.decrypt(point.phone, owner, "phone")
        elif channel == "email":
            to = self.cipher.decrypt(point.email, owner, "email")
        else:
            to = self.cipher.decrypt(point.address, owner, "address")
        if not to:
            raise TemplateInvalid(f"the customer has no {channel} contact point")
        pack = self.packs[request["pack"]]
        return Outgoing(idempotency_key=request["request_id"], channel=channel, to=to, body=rendered.body,
                        template=request["template"],
                        subject=rendered.subject, language=customer.language, opt_out_url=opt_out_url,
                        marking=pack.letter_marking)

    async def _settle(self, work: UnitOfWork, request_id: str, result: Accepted | Refused) -> None:
        request = (await work.connection.execute(
            select(contact_requests).where(contact_requests.c.request_id == request_id).with_for_update()
        )).mappings().one()
        if request["status"] != "sending":
            return  # a receipt already settled it
        if isinstance(result, Refused):
            await self._fail(work, request, result.reason)
            return
        await work.connection.execute(update(contact_requests).where(
            contact_requests.c.request_id == request_id).values(
            status="sent", provider_message_id=result.provider_message_id, updated_at=work.now))
        CONTACTS.labels(request["channel"], "sent").inc()
        work.emit(CONTACT_EVENTS, contacts_pb2.ContactSent(
            request_id=request_id, account_id=request["account_id"], customer_id=request["customer_id"],
            case_id=request["case_id"], channel=CHANNEL_CODES[request["channel"]],
            sent_at=instant_to_proto(work.now), provider_message_id=result.provider_message_id),
            key=request["account_id"])

    async def _fail(self, work: UnitOfWork, request: Mapping, reason: str) -> None:
        await work.connection.execute(update(contact_requests).where(
            contact_requests.c.request_id == request["request_id"]).values(
            status="failed", reason=reason, updated_at=work.now))
        CONTACTS.labels(request["channel"], "failed").inc()
        work.emit(CONTACT_EVENTS, contacts_pb2.ContactFailed(
            request_id=request["request_id"], account_id=request["account_id"],
            channel=CHANNEL_CODES[request["channel"]], reason=reason, failed_at=instant_to_proto(work.now)),
            key=request["account_id"])
