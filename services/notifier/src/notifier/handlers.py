"""Events in: core banking's customers, the case-router's contact requests and
cancellations. Customers and contact requests are handled a run at a time (the
runtime's batch handlers, decision 0013): load the facts of every customer in the
run, decide each event through the contact policy in delivery order, save with
one statement per table, all in the consumer's one unit of work. A run has the
same effects as its events handled one by one, which is how the runtime re-runs
a batch that failed.

A request is judged when it arrives (so the router hears at once that it is
deferred or blocked, and why). One allowed then is rendered, written as an
attempt under a lease and handed to the dispatcher once the transaction commits
(decision 0065); one deferred is judged again by the dispatcher when it falls due,
because opt-outs, holds and other contacts may have changed meanwhile.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import partial
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from collections_core.codec import Event, Rejected, type_of
from collections_core.contracts.collections.v1 import contacts_pb2
from collections_core.contracts.corebanking.v1 import customers_pb2
from collections_core.unit_of_work import UnitOfWork
from collections_core.wire import instant_from_proto
from notifier import rows
from notifier.channels import Outgoing
from notifier.crypto import PiiCipher
from notifier.dispatch import Dispatcher
from notifier.domain.policy import Allow
from notifier.facts import Query, among_ids
from notifier.judging import Judgement
from notifier.settings import NotifierSettings
from notifier.tables import channel_preferences, contact_points, contact_requests
from notifier.templates import Catalogue

TOPICS = ["corebanking.customers.v1", "collections.contact-requests.v1"]
CHANNEL_NAMES = {contacts_pb2.CHANNEL_SMS: "sms", contacts_pb2.CHANNEL_EMAIL: "email",
                 contacts_pb2.CHANNEL_LETTER: "letter"}
CONSENT_CHANNELS = {customers_pb2.CONTACT_CHANNEL_SMS: "sms", customers_pb2.CONTACT_CHANNEL_EMAIL: "email",
                    customers_pb2.CONTACT_CHANNEL_LETTER: "letter", customers_pb2.CONTACT_CHANNEL_CALL: "call"}
CONTACT_POINT_COLUMNS = ("name", "phone", "email", "address", "phone_hash", "email_hash", "time_zone", "language",
                         "country", "key_id", "updated_at")
_to_json = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps with options builds an encoder per call
_KNOWN_REQUESTS = Query(lambda postgresql: select(contact_requests.c.request_id).where(
    among_ids(contact_requests.c.request_id, postgresql)))
_lift_refusal = delete(channel_preferences).where(
    channel_preferences.c.customer_id == bindparam("b_customer_id"),
    channel_preferences.c.channel == bindparam("b_channel"), channel_preferences.c.source == "corebanking")


def upsert(connection, table, values: dict | None, keys: list[str], update_columns: list[str]):
    """INSERT … ON CONFLICT DO UPDATE; without ``values``, for rows passed at execution."""
    dialect_insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    statement = dialect_insert(table)
    statement = statement.on_conflict_do_update(index_elements=keys,
                                                set_={c: statement.excluded[c] for c in update_columns})
    return statement.values(**values) if values is not None else statement


class Notifier:
    def __init__(self, settings: NotifierSettings, cipher: PiiCipher, catalogue: Catalogue,
                 dispatcher: Dispatcher) -> None:
        self.settings = settings
        self.cipher = cipher
        self.catalogue = catalogue
        self.dispatcher = dispatcher
        self.packs = dispatcher.packs
        self._contact_ttl = settings.contact_ttl

    def handlers(self) -> dict:
        return {type_of(contacts_pb2.ContactCancelled): self.contact_cancelled}

    def batch_handlers(self) -> dict:
        return {
            type_of(customers_pb2.CustomerUpserted): self.customers_upserted,
            type_of(contacts_pb2.ContactRequested): self.contacts_requested,
        }

    async def customers_upserted(self, events: Sequence[Event], work: UnitOfWork) -> None:
        points: dict[str, dict] = {}
        consents: dict[tuple[str, str], list[bool]] = {}  # (customer, channel) → grants and refusals in order
        for event in events:
            message: customers_pb2.CustomerUpserted = event.message
            points[message.customer_id] = self._contact_point(message, work)
            for consent in message.consents:
                channel = CONSENT_CHANNELS.get(consent.channel)
                if channel is not None:
                    consents.setdefault((message.customer_id, channel), []).append(consent.granted)
        connection = work.connection
        await connection.execute(upsert(connection, contact_points, None, ["customer_id"],
                                        list(CONTACT_POINT_COLUMNS)), list(points.values()))
        # Core banking may lift only its own refusals: a customer's STOP stands. A refusal
        # then a grant in one run is the refusal recorded (it keeps a customer's own
        # opt-out's source and refreshes its time) and then lifted if it is core banking's.
        refused = [{"customer_id": customer, "channel": channel, "opted_out": True, "source": "corebanking",
                    "recorded_at": work.now} for (customer, channel), grants in consents.items() if not all(grants)]
        lifted = [{"b_customer_id": customer, "b_channel": channel}
                  for (customer, channel), grants in consents.items() if grants[-1]]
        if refused:
            await connection.execute(upsert(connection, channel_preferences, None, ["customer_id", "channel"],
                                            ["opted_out", "recorded_at"]), refused)
        if lifted:
            await connection.execute(_lift_refusal, lifted)

    def _contact_point(self, message: customers_pb2.CustomerUpserted, work: UnitOfWork) -> dict:
        customer = message.customer_id
        if not customer:
            raise Rejected("CustomerUpserted without customer_id")
        zone = message.time_zone or "UTC"
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise Rejected(f"unknown time zone {zone!r}") from None
        address = json.dumps({"lines": list(message.address.lines), "city": message.address.city,
                              "region": message.address.region, "postal_code": message.address.postal_code,
                              "country": message.address.country}, ensure_ascii=False)
        seal = self.cipher.encrypt
        return {
            "customer_id": customer, "name": seal(message.name, customer, "name"),
            "phone": seal(message.phone, customer, "phone"), "email": seal(message.email, customer, "email"),
            "address": seal(address, customer, "address"),
            "phone_hash": self.cipher.lookup_hash(message.phone) if message.phone else None,
            "email_hash": self.cipher.lookup_hash(message.email) if message.email else None,
            "time_zone": zone, "language": message.language or "en",
            "country": (message.address.country or "")[:2], "key_id": self.cipher.active_key_id,
            "updated_at": work.now,
        }

    async def contacts_requested(self, events: Sequence[Event], work: UnitOfWork) -> None:
        arrived = [(event, self._request(event.message, work)) for event in events]
        ids = [request["request_id"] for _, request in arrived]
        known = {row[0] for row in await _KNOWN_REQUESTS.rows(work.connection, ids=ids)}
        fresh = []
        for event, request in arrived:
            if request["request_id"] in known:
                continue  # the same request again (a retry by the router): the customer is contacted once
            known.add(request["request_id"])
            fresh.append((event, request))
        if not fresh:
            return
        # Contacts allowed now are rendered and leased here and handed to the dispatcher
        # once this transaction commits, when it has room: it need not claim and judge
        # them again a moment later (decision 0065). Rendering needs the contact points.
        on_arrival = self.dispatcher.room_on_arrival() >= len(fresh)
        judgement = await Judgement.load(work, self.packs, {request["customer_id"] for _, request in fresh},
                                         encrypted=on_arrival)
        lease = self.dispatcher.lease(work.now)
        outgoing: list[tuple[dict, Outgoing]] = []
        clear: dict[tuple[str, str], str] = {}
        for event, request in fresh:
            missing = self.catalogue.parameters_needed(request["template"]).difference(event.message.parameters)
            if missing:
                # Fail at once, before any deferral: the router learns now, not at 08:00 tomorrow.
                judgement.fail(request, f"template: missing parameters {', '.join(sorted(missing))}", cause=event)
            elif isinstance(judgement.decide(request, cause=event), Allow) and on_arrival:
                request["due_at"] = lease
                message = self.dispatcher.render_and_attempt(judgement, request, clear, cause=event)
                if message is not None:
                    outgoing.append((request, message))
        await rows.insert_rows(work.connection, contact_requests, [request for _, request in fresh])
        await judgement.save(requests=False)
        if outgoing:
            work.when_committed(partial(self.dispatcher.handed_over_on_arrival, lease, outgoing))
        if any(request["status"] == "pending" and request["due_at"] <= work.now for _, request in fresh):
            work.when_committed(self.dispatcher.due_now)

    def _request(self, message: contacts_pb2.ContactRequested, work: UnitOfWork) -> dict:
        channel = CHANNEL_NAMES.get(message.channel)
        if not message.request_id or not message.customer_id or not message.account_id:
            raise Rejected("ContactRequested needs request_id, customer_id and account_id")
        if channel is None:
            raise Rejected(f"channel {contacts_pb2.Channel.Name(message.channel)} is not sent by the notifier")
        if not message.template.endswith("." + channel) or not self.catalogue.has(message.template):
            raise Rejected(f"no template {message.template!r} for channel {channel}")
        requested_at = instant_from_proto(message.requested_at) if message.HasField("requested_at") else work.now
        expires_at = (instant_from_proto(message.expires_at) if message.HasField("expires_at")
                      else requested_at + self._contact_ttl)
        not_before = instant_from_proto(message.not_before) if message.HasField("not_before") else None
        return {
            "request_id": message.request_id, "customer_id": message.customer_id,
            "account_id": message.account_id, "case_id": message.case_id, "channel": channel,
            "template": message.template, "parameters": _to_json(dict(message.parameters)),
            "pack": self.settings.pack_for(message.portfolio), "status": "pending", "due_at": work.now,
            "not_before": not_before, "expires_at": expires_at, "rule": None, "reason": None,
            "provider_message_id": None, "requested_at": requested_at, "updated_at": work.now,
        }

    async def contact_cancelled(self, event: Event, work: UnitOfWork) -> None:
        message: contacts_pb2.ContactCancelled = event.message
        # Only a request not yet handed to a provider can be cancelled; one in flight goes out once.
        await work.connection.execute(update(contact_requests).where(
            contact_requests.c.request_id == message.request_id, contact_requests.c.status == "pending",
        ).values(status="cancelled", reason=message.reason or "cancelled", updated_at=work.now))
