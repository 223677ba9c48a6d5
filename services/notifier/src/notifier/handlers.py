"""Events in: core banking's customers, the case-router's contact requests and
cancellations. Each handler loads, decides through the contact policy and saves
in the consumer's one unit of work.

A request is judged when it arrives (so the router hears at once that it is
deferred or blocked, and why) and judged again by the dispatcher when it falls
due, because opt-outs, holds and other contacts may have changed meanwhile.
"""

from __future__ import annotations

import json
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from collections_core.codec import Event, Rejected, type_of
from collections_core.contracts.collections.v1 import contacts_pb2
from collections_core.contracts.corebanking.v1 import customers_pb2
from collections_core.unit_of_work import UnitOfWork
from collections_core.wire import instant_from_proto, instant_to_proto
from notifier import facts
from notifier.facts import as_utc
from notifier.crypto import PiiCipher
from notifier.domain.policy import Allow, Block, Defer, Pack, evaluate_contact
from notifier.metrics import CONTACTS, POLICY_DECISIONS
from notifier.settings import NotifierSettings
from notifier.tables import channel_preferences, contact_points, contact_requests
from notifier.templates import Catalogue

CONTACT_EVENTS = "collections.contact-events.v1"
TOPICS = ["corebanking.customers.v1", "collections.contact-requests.v1"]
CHANNEL_NAMES = {contacts_pb2.CHANNEL_SMS: "sms", contacts_pb2.CHANNEL_EMAIL: "email",
                 contacts_pb2.CHANNEL_LETTER: "letter"}
CHANNEL_CODES = {"sms": contacts_pb2.CHANNEL_SMS, "email": contacts_pb2.CHANNEL_EMAIL,
                 "letter": contacts_pb2.CHANNEL_LETTER, "call": contacts_pb2.CHANNEL_CALL}
CONSENT_CHANNELS = {customers_pb2.CONTACT_CHANNEL_SMS: "sms", customers_pb2.CONTACT_CHANNEL_EMAIL: "email",
                    customers_pb2.CONTACT_CHANNEL_LETTER: "letter", customers_pb2.CONTACT_CHANNEL_CALL: "call"}
# A request whose customer core banking has not told us about yet is looked at again after this.
AWAITING_CONTACT_POINT = "awaiting-contact-point"
RECHECK = timedelta(minutes=1)


def upsert(connection, table, values: dict, keys: list[str], update_columns: list[str]):
    dialect_insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    statement = dialect_insert(table).values(**values)
    return statement.on_conflict_do_update(index_elements=keys,
                                           set_={c: statement.excluded[c] for c in update_columns})


class Notifier:
    def __init__(self, settings: NotifierSettings, cipher: PiiCipher, catalogue: Catalogue) -> None:
        self.settings = settings
        self.cipher = cipher
        self.catalogue = catalogue
        self.packs = settings.packs()

    def handlers(self) -> dict:
        return {
            type_of(customers_pb2.CustomerUpserted): self.customer_upserted,
            type_of(contacts_pb2.ContactRequested): self.contact_requested,
            type_of(contacts_pb2.ContactCancelled): self.contact_cancelled,
        }

    async def customer_upserted(self, event: Event, work: UnitOfWork) -> None:
        message: customers_pb2.CustomerUpserted = event.message
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
        values = {
            "customer_id": customer, "name": seal(message.name, customer, "name"),
            "phone": seal(message.phone, customer, "phone"), "email": seal(message.email, customer, "email"),
            "address": seal(address, customer, "address"),
            "phone_hash": self.cipher.lookup_hash(message.phone) if message.phone else None,
            "email_hash": self.cipher.lookup_hash(message.email) if message.email else None,
            "time_zone": zone, "language": message.language or "en",
            "country": (message.address.country or "")[:2], "key_id": self.cipher.active_key_id,
            "updated_at": work.now,
        }
        await work.connection.execute(upsert(work.connection, contact_points, values, ["customer_id"],
                                             [c for c in values if c != "customer_id"]))
        for consent in message.consents:
            channel = CONSENT_CHANNELS.get(consent.channel)
            if channel is None:
                continue
            if consent.granted:
                # Core banking may lift only its own refusals: a customer's STOP stands.
                await work.connection.execute(delete(channel_preferences).where(
                    channel_preferences.c.customer_id == customer, channel_preferences.c.channel == channel,
                    channel_preferences.c.source == "corebanking"))
            else:
                await work.connection.execute(upsert(work.connection, channel_preferences, {
                    "customer_id": customer, "channel": channel, "opted_out": True, "source": "corebanking",
                    "recorded_at": work.now}, ["customer_id", "channel"], ["opted_out", "recorded_at"]))

    async def contact_requested(self, event: Event, work: UnitOfWork) -> None:
        message: contacts_pb2.ContactRequested = event.message
        channel = CHANNEL_NAMES.get(message.channel)
        if not message.request_id or not message.customer_id or not message.account_id:
            raise Rejected("ContactRequested needs request_id, customer_id and account_id")
        if channel is None:
            raise Rejected(f"channel {contacts_pb2.Channel.Name(message.channel)} is not sent by the notifier")
        if not message.template.endswith("." + channel) or not self.catalogue.has(message.template):
            raise Rejected(f"no template {message.template!r} for channel {channel}")
        known = (await work.connection.execute(select(contact_requests.c.request_id).where(
            contact_requests.c.request_id == message.request_id))).first()
        if known:
            return  # the same request again (a retry by the router): the customer is contacted once
        requested_at = instant_from_proto(message.requested_at) if message.HasField("requested_at") else work.now
        expires_at = (instant_from_proto(message.expires_at) if message.HasField("expires_at")
                      else requested_at + self.settings.contact_ttl)
        not_before = instant_from_proto(message.not_before) if message.HasField("not_before") else None
        request = {
            "request_id": message.request_id, "customer_id": message.customer_id,
            "account_id": message.account_id, "case_id": message.case_id, "channel": channel,
            "template": message.template, "parameters": json.dumps(dict(message.parameters), ensure_ascii=False),
            "pack": self.settings.pack_for(message.portfolio), "status": "pending", "due_at": work.now,
            "not_before": not_before, "expires_at": expires_at, "requested_at": requested_at,
            "updated_at": work.now,
        }
        missing = self.catalogue.parameters_needed(message.template) - set(message.parameters)
        if missing:
            # Fail at once, before any deferral: the router learns now, not at 08:00 tomorrow.
            request.update(status="failed", reason=f"template: missing parameters {', '.join(sorted(missing))}")
        await work.connection.execute(contact_requests.insert().values(**request))
        if missing:
            CONTACTS.labels(channel, "failed").inc()
            work.emit(CONTACT_EVENTS, contacts_pb2.ContactFailed(
                request_id=message.request_id, account_id=message.account_id, channel=message.channel,
                reason=request["reason"], failed_at=instant_to_proto(work.now)), key=message.account_id)
            return
        await judge(work, request, self.packs[request["pack"]])

    async def contact_cancelled(self, event: Event, work: UnitOfWork) -> None:
        message: contacts_pb2.ContactCancelled = event.message
        # Only a request not yet handed to a provider can be cancelled; one in flight goes out once.
        await work.connection.execute(update(contact_requests).where(
            contact_requests.c.request_id == message.request_id, contact_requests.c.status == "pending",
        ).values(status="cancelled", reason=message.reason or "cancelled", updated_at=work.now))


async def judge(work: UnitOfWork, request: dict, pack: Pack) -> Allow | Defer | Block | None:
    """Evaluate a pending request now: record a deferral or block (ledger, request
    row, event) and return the decision; an allowed one is left to the caller.
    None when the customer's contact point is not known yet."""
    customer = await facts.load_customer(work.connection, request["customer_id"])
    now = work.now
    if customer is None:
        if now >= as_utc(request["expires_at"]):
            decision: Allow | Defer | Block | None = Block("expired")
        else:
            await work.connection.execute(update(contact_requests).where(
                contact_requests.c.request_id == request["request_id"]).values(
                due_at=now + RECHECK, rule=AWAITING_CONTACT_POINT, updated_at=now))
            return None
    else:
        policy_facts = await facts.policy_facts(
            work.connection, customer, request["channel"], now,
            not_before=as_utc(request["not_before"]) if request["not_before"] else None,
            expires_at=as_utc(request["expires_at"]))
        decision = evaluate_contact(policy_facts, pack, now)
    if isinstance(decision, Allow):
        POLICY_DECISIONS.labels("allow", "allowed").inc()
        return decision
    POLICY_DECISIONS.labels(type(decision).__name__.lower(), decision.rule).inc()
    channel = CHANNEL_CODES[request["channel"]]
    await facts.record(work.connection, customer_id=request["customer_id"], account_id=request["account_id"],
                       channel=request["channel"], decision="defer" if isinstance(decision, Defer) else "block",
                       rule=decision.rule, at=now, request_id=request["request_id"])
    if isinstance(decision, Defer):
        await work.connection.execute(update(contact_requests).where(
            contact_requests.c.request_id == request["request_id"]).values(
            due_at=decision.until, rule=decision.rule, updated_at=now))
        work.emit(CONTACT_EVENTS, contacts_pb2.ContactDeferred(
            request_id=request["request_id"], account_id=request["account_id"], channel=channel,
            rule=decision.rule, deferred_until=instant_to_proto(decision.until)), key=request["account_id"])
    else:
        await work.connection.execute(update(contact_requests).where(
            contact_requests.c.request_id == request["request_id"]).values(
            status="blocked", rule=decision.rule, updated_at=now))
        CONTACTS.labels(request["channel"], "blocked").inc()
        work.emit(CONTACT_EVENTS, contacts_pb2.ContactBlocked(
            request_id=request["request_id"], account_id=request["account_id"], channel=channel,
            rule=decision.rule), key=request["account_id"])
    return decision
