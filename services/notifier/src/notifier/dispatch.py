"""The dispatcher: a worker that sends contacts when they fall due by the
service's clock (a simulated clock drives it as well as the system clock).

Each round takes up to a batch of due requests, in order of due time:

1. one unit of work claims them with one ``SELECT … FOR UPDATE SKIP LOCKED`` on
   PostgreSQL (dispatchers of several replicas take different rows); judges the
   pending ones again, set-based, with the ledger as it is now (opt-outs, holds and
   other contacts may have changed, and a contact allowed earlier in the round counts
   toward the caps of the later ones): a deferral moves ``due_at``, a block ends it;
   an allowed contact is rendered, written to the ledger as an attempt and marked
   ``sending`` with its ``due_at`` a lease ahead — one write per request, committed
   before the hand-over (decision 0064);
2. the channel adapters hand the round's messages over side by side (one pooled
   HTTP client, keep-alive), SMS in batches of ``sms_batch_size`` per request
   (decision 0062), each message under its idempotency key (the request id);
3. a second unit of work settles the round: ``sent`` or ``failed`` with their
   events, in one statement.

The worker runs rounds back to back while requests are due, the next round's step 1
while the previous round's messages are with the providers (steps 2-3), so the
process has work while a provider or the database answers (decision 0063).

A request the policy allows when it arrives skips step 1: the consumer's transaction
renders it and records the attempt and the lease, and hands the round over once it
committed; such rounds take turns with rounds from the store (decision 0065). If the
process dies first, the lease runs out and a round from the store sends it.

A crash between 1 and 3 leaves the requests ``sending``; once their lease is over
a round sends them again under the same keys, which the provider answers with its
first answer instead of a second message — within the pack's hours only, since the
provider may never have had them (a resend due at night waits for the morning). A transient channel failure releases
its requests (due now, still ``sending``) and the round raises after settling,
so the loop backs off before trying that channel again.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from sqlalchemy import bindparam, func, select

from collections_core.codec import Event
from collections_core.contracts.collections.v1 import contacts_pb2
from collections_core.faults import crash_point
from collections_core.logs import get_logger
from collections_core.rest import rest
from collections_core.service import ServiceRuntime
from collections_core.unit_of_work import UnitOfWork
from notifier import facts, rows
from notifier.channels import Accepted, ChannelUnavailable, Outgoing, Refused
from notifier.crypto import PiiCipher
from notifier.domain.policy import Allow, Pack
from notifier.facts import as_utc
from notifier.judging import CHANNEL_CODES, CONTACT_EVENTS, Judgement
from notifier.metrics import CONTACTS, DISPATCHER_BUSY, OLDEST_PENDING_AGE, PENDING
from notifier.settings import NotifierSettings
from notifier.tables import contact_requests
from notifier.templates import Catalogue, TemplateInvalid

log = get_logger(__name__)
# Fault tests kill the process here: the provider has the message, our database does not know yet.
AFTER_HAND_OVER = "notifier-after-hand-over"
WAITING = ["pending", "sending"]
GAUGES_EVERY_SECONDS = 1.0
ADDRESSES = {"sms": "phone", "email": "email", "letter": "address"}  # the contact point each channel sends to
Result = Accepted | Refused | None  # None: the channel could not take it now


def _due(postgresql: bool):
    waiting = facts.among_ids(contact_requests.c.status, postgresql, "waiting")
    due = (select(contact_requests)
           .where(waiting, contact_requests.c.due_at <= bindparam("now"))
           .order_by(contact_requests.c.due_at, contact_requests.c.request_id)
           .limit(bindparam("limit")))
    return due.with_for_update(skip_locked=True) if postgresql else due


_DUE = facts.Query(_due)


class Channel(Protocol):
    async def send(self, message: Outgoing) -> Accepted | Refused: ...


@runtime_checkable
class BatchChannel(Protocol):
    """A channel whose provider takes many messages in one request, each under its own key."""

    async def send_many(self, messages: Sequence[Outgoing]) -> list[Accepted | Refused]: ...


class Dispatcher:
    def __init__(self, settings: NotifierSettings, cipher: PiiCipher, catalogue: Catalogue,
                 channels: Mapping[str, Channel], packs: Mapping[str, Pack]) -> None:
        self.settings, self.cipher, self.catalogue = settings, cipher, catalogue
        self.channels, self.packs = channels, packs
        self.bank_facts = settings.bank_facts
        self._gauges_due = 0.0  # time.monotonic() at which the pending-contact gauges are counted again
        # Contacts the consumer rendered and leased on arrival, handed over once its
        # transaction committed: (lease, round) in arrival order (decision 0065).
        self._arrived: deque[tuple[datetime, list[tuple[dict, Outgoing]]]] = deque()
        self._arrived_count = 0
        self._work = asyncio.Event()  # set when contacts are handed over or requested due now

    async def run(self, runtime: ServiceRuntime) -> None:
        backoff = self.settings.dispatch_interval_seconds
        while True:
            try:
                await self.dispatch_and_rest(runtime)
                backoff = self.settings.dispatch_interval_seconds
            except asyncio.CancelledError:
                raise
            except Exception as error:
                DISPATCHER_BUSY.set(1)
                log.warning("dispatch round failed, will retry", error=type(error).__name__, retry_in=backoff)
                backoff = min(backoff * 2, self.settings.retry_backoff_max_seconds)
                await asyncio.sleep(backoff)

    async def dispatch_and_rest(self, runtime: ServiceRuntime) -> int:
        """Rounds while requests are due, then a rest of the dispatch interval, cut short
        when contacts are handed over or requested due now meanwhile; returns how many
        requests the rounds claimed."""
        self._work.clear()
        claimed = await self.dispatch_while_due(runtime)
        if not self._work.is_set():  # nothing was signalled during the rounds: nothing is due
            DISPATCHER_BUSY.set(0)
        await rest(self._work, self.settings.dispatch_interval_seconds)
        return claimed

    async def dispatch_due(self, runtime: ServiceRuntime) -> int:
        """One round: the contacts handed over on arrival if there are any, else the requests
        due by the clock, up to a batch. Returns how many were claimed; raises
        ChannelUnavailable after the round when a channel could not take work."""
        claimed, outgoing = (self._take_arrived(runtime.clock.now()) if self._arrived
                             else await self.claim_and_prepare(runtime))
        unavailable = await self.deliver(runtime, outgoing)
        if unavailable:
            raise ChannelUnavailable(", ".join(sorted(unavailable)))
        return len(claimed)

    async def dispatch_while_due(self, runtime: ServiceRuntime) -> int:
        """Rounds back to back until one finds nothing due; returns how many requests they
        claimed. The next round is claimed and prepared while the previous one's messages
        are with the providers, so the process works while they answer; a round is handed
        over only after the one before it settled. A channel that could not take work ends
        the rounds (ChannelUnavailable) once the round in flight settled."""
        claimed_in_all = 0
        unavailable: set[str] = set()
        delivering: asyncio.Task | None = None
        from_store, store_due = True, True
        try:
            while True:
                # Rounds from the store and rounds handed over on arrival take turns, so
                # neither a stream of arrivals nor a backlog in the store starves the other.
                if from_store or not self._arrived:
                    claimed, outgoing = await self.claim_and_prepare(runtime)
                    store_due = bool(claimed)
                else:
                    claimed, outgoing = self._take_arrived(runtime.clock.now())
                from_store = not from_store
                if delivering is not None:
                    unavailable |= await delivering
                    delivering = None
                claimed_in_all += len(claimed)
                if outgoing:
                    delivering = asyncio.create_task(self.deliver(runtime, outgoing))
                if unavailable or not (store_due or self._arrived):
                    break
        finally:
            if delivering is not None:
                # Also when stopped: a prepared round is handed over and settled, not left to its lease.
                unavailable |= await delivering
        if unavailable:
            raise ChannelUnavailable(", ".join(sorted(unavailable)))
        return claimed_in_all

    def room_on_arrival(self) -> int:
        """How many more contacts the consumer may hand over on arrival (0: none, the
        rounds claim them): a bounded backlog in memory, whatever the providers' pace."""
        if not self.settings.dispatch_on_arrival:
            return 0
        return max(0, 2 * self.settings.dispatch_batch_size - self._arrived_count)

    def lease(self, now: datetime) -> datetime:
        """Until when a request being sent is not due again."""
        return now + timedelta(seconds=self.settings.dispatch_claim_seconds)

    def handed_over_on_arrival(self, lease: datetime, outgoing: list[tuple[dict, Outgoing]]) -> None:
        """The consumer's committed round of contacts allowed on arrival (an after-commit callback)."""
        self._arrived.append((lease, outgoing))
        self._arrived_count += len(outgoing)
        self.due_now()

    def due_now(self) -> None:
        """Requests are due now (an after-commit callback): the worker wakes, and is busy
        until a round finds nothing due."""
        DISPATCHER_BUSY.set(1)
        self._work.set()

    def _take_arrived(self, now: datetime) -> tuple[list[dict], list[tuple[dict, Outgoing]]]:
        """Arrived rounds up to a batch. One that waited past half its lease is dropped:
        its requests are due again when the lease is over, and a round claims them then,
        so no request is ever both in memory and claimable."""
        outgoing: list[tuple[dict, Outgoing]] = []
        fresh_for = timedelta(seconds=self.settings.dispatch_claim_seconds / 2)
        while self._arrived and len(outgoing) < self.settings.dispatch_batch_size:
            lease, round_ = self._arrived.popleft()
            self._arrived_count -= len(round_)
            if lease - now >= fresh_for:
                outgoing += round_
        return [request for request, _ in outgoing], outgoing

    async def claim_and_prepare(self, runtime: ServiceRuntime) -> tuple[list[dict], list[tuple[dict, Outgoing]]]:
        async with runtime.unit_of_work() as work:
            claimed = await self.claim(work)
            return claimed, await self.prepare(work, claimed) if claimed else []

    async def deliver(self, runtime: ServiceRuntime, outgoing: list[tuple[dict, Outgoing]]) -> set[str]:
        """Hand a prepared round over and settle it; returns the channels that could not take work."""
        results, unavailable = await self.hand_over(outgoing)
        if results:
            async with runtime.unit_of_work() as work:
                await self.settle(work, results)
        return unavailable

    async def claim(self, work: UnitOfWork) -> list[dict]:
        """The round's due requests, oldest due first, locked by this round's transaction
        (``SKIP LOCKED``: another replica's round takes others); ``prepare`` leases them."""
        now, connection = work.now, work.connection
        rows = await _DUE.rows(connection, waiting=WAITING, now=now, limit=self.settings.dispatch_batch_size)
        if time.monotonic() >= self._gauges_due:
            # Counting every waiting request is a scan of them all: once a second is plenty for a scrape.
            self._gauges_due = time.monotonic() + GAUGES_EVERY_SECONDS
            waiting = (await connection.execute(
                select(func.count(), func.min(contact_requests.c.requested_at))
                .where(contact_requests.c.status.in_(WAITING)))).one()
            PENDING.set(waiting[0])
            OLDEST_PENDING_AGE.set((now - as_utc(waiting[1])).total_seconds() if waiting[1] else 0)
        return [dict(row) for row in rows] if connection.dialect.name == "postgresql" else [
            dict(row._mapping) for row in rows]

    async def prepare(self, work: UnitOfWork, claimed: list[dict]) -> list[tuple[dict, Outgoing]]:
        """Judge the pending requests again, hold back a resend outside the pack's hours,
        and render every one that goes out now."""
        judgement = await Judgement.load(work, self.packs, {request["customer_id"] for request in claimed})
        outgoing = []
        clear: dict[tuple[str, str], str] = {}  # the round's decrypted contact points, one decryption each
        # The lease is written with the round's decisions, one write per request: a request
        # handed over is not due again before the lease is over, so no other round resends it
        # meanwhile; a deferral or a block below replaces it.
        lease = self.lease(work.now)
        for request in claimed:
            judgement.change(request, due_at=lease)
            if request["status"] == "pending":
                if not isinstance(judgement.decide(request), Allow):
                    continue
            elif not judgement.resend_within_hours(request):
                continue
            message = self.render_and_attempt(judgement, request, clear)
            if message is not None:
                outgoing.append((request, message))
        await judgement.save()
        return outgoing

    def render_and_attempt(self, judgement: Judgement, request: dict, clear: dict[tuple[str, str], str],
                           cause: Event | None = None) -> Outgoing | None:
        """An allowed request's message, with the request recorded as an attempt (``sending``)
        if it was pending; None when it cannot be rendered (the request fails)."""
        try:
            message = self._render(request, judgement.known[request["customer_id"]].customer, clear)
        except TemplateInvalid as error:
            judgement.fail(request, f"template: {error}", cause=cause)
            return None
        if request["status"] == "pending":
            judgement.attempt(request)
        return message

    async def hand_over(self, outgoing: list[tuple[dict, Outgoing]]) -> tuple[list[tuple[dict, Result]], set[str]]:
        """Every message to its channel, side by side, in batches where the channel takes
        them (SMS); a channel that fails is left alone for the rest of the round. Each
        channel has its own lanes, so a slow one does not hold the others' messages
        behind its own (decision 0067)."""
        unavailable: set[str] = set()
        lanes = {name: asyncio.Semaphore(self.settings.dispatch_concurrency) for name in self.channels}
        results: dict[str, Result] = {}

        async def send(channel_name: str, messages: list[Outgoing]) -> None:
            channel = self.channels[channel_name]
            async with lanes[channel_name]:
                if channel_name in unavailable:
                    return
                try:
                    if isinstance(channel, BatchChannel):
                        answers = await channel.send_many(messages)
                    else:
                        answers = [await channel.send(messages[0])]
                except ChannelUnavailable as error:
                    if channel_name not in unavailable:
                        unavailable.add(channel_name)
                        log.warning("channel unavailable, contacts wait", channel=channel_name, error=str(error))
                    return
            crash_point(AFTER_HAND_OVER)
            results.update((message.idempotency_key, answer) for message, answer in zip(messages, answers,
                                                                                          strict=True))

        per_channel: dict[str, list[Outgoing]] = {}
        for _, message in outgoing:
            per_channel.setdefault(message.channel, []).append(message)
        async with asyncio.TaskGroup() as group:
            for channel_name, messages in per_channel.items():
                size = self.settings.sms_batch_size if isinstance(self.channels[channel_name], BatchChannel) else 1
                for start in range(0, len(messages), size):
                    group.create_task(send(channel_name, messages[start:start + size]))
        return [(request, results.get(request["request_id"])) for request, _ in outgoing], unavailable

    async def settle(self, work: UnitOfWork, results: list[tuple[dict, Result]]) -> None:
        """The round's outcomes in one statement; a request a receipt settled meanwhile is left alone."""
        for request, result in results:
            if result is None:
                request.update(due_at=work.now)  # the next round tries again
            elif isinstance(result, Refused):
                request.update(status="failed", reason=result.reason)
            else:
                request.update(status="sent", provider_message_id=result.provider_message_id)
            request.update(updated_at=work.now)
        settled = await rows.settle_requests(work.connection, [request for request, _ in results])
        judgement = Judgement(work, self.packs, {})
        for request, result in results:
            if result is None or request["request_id"] not in settled:
                continue
            if isinstance(result, Refused):
                judgement.fail(request, result.reason)
            else:
                judgement.counts[CONTACTS, request["channel"], "sent"] += 1
                work.emit(CONTACT_EVENTS, contacts_pb2.ContactSent(
                    request_id=request["request_id"], account_id=request["account_id"],
                    customer_id=request["customer_id"], case_id=request["case_id"],
                    channel=CHANNEL_CODES[request["channel"]], sent_at=judgement.instant(work.now),
                    provider_message_id=result.provider_message_id), key=request["account_id"])
        await judgement.save(requests=False)

    def _render(self, request: Mapping, customer: facts.Customer, clear: dict[tuple[str, str], str]) -> Outgoing:
        channel, template = request["channel"], request["template"]
        # The link is an HMAC: worked out where it is used (e-mail headers, templates naming it).
        opt_out_url = (self._clear(customer, "opt_out_url", clear)
                       if channel == "email" or "opt_out_url" in self.catalogue.variables(template) else None)
        parameters = {**json.loads(request["parameters"]), **self.bank_facts,
                      "customer_name": self._clear(customer, "name", clear), "opt_out_url": opt_out_url}
        rendered = self.catalogue.render(template, customer.language, parameters)
        to = self._clear(customer, ADDRESSES[channel], clear)
        if not to:
            raise TemplateInvalid(f"the customer has no {channel} contact point")
        pack = self.packs[request["pack"]]
        return Outgoing(idempotency_key=request["request_id"], channel=channel, to=to, body=rendered.body,
                        template=template,
                        subject=rendered.subject, language=customer.language, opt_out_url=opt_out_url,
                        marking=pack.letter_marking)

    def _clear(self, customer: facts.Customer, field: str, clear: dict[tuple[str, str], str]) -> str:
        """A contact point's field in clear (or the customer's opt-out link), worked out
        once per customer and round."""
        key = (customer.customer_id, field)
        value = clear.get(key)
        if value is None:
            owner = customer.customer_id
            if field == "opt_out_url":
                value = f"{self.settings.opt_out_base_url}/{self.cipher.lookup_hash('opt-out:' + owner)[:32]}"
            else:
                value = self.cipher.decrypt(customer.row[field], owner, field)
            clear[key] = value
        return value
