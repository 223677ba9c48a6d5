"""Events in, decisions out: each handler loads what it needs, asks the domain,
saves the result and emits events (and queues webhooks) in one unit of work.

Payments and recalls are handled a run at a time (``batch_handlers``, decision 0075):
a run's facts are read with one query per table, each event is decided in delivery
order against what the events before it decided, and each table is written with one
statement. Their one-event handlers are the run of one, and an operations recall or an
expiry goes through the same ``recall_many``: each rule is written once.

The partner API's writes (acknowledge, report an activity, return) live here too,
so the HTTP routes stay thin and every write takes the same path.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, bindparam, func, insert, select, update
from sqlalchemy.engine import Row

from agency_gateway import metrics
from agency_gateway.cipher import Keyring
from agency_gateway.domain.permits import Permit, check_permit
from agency_gateway.domain.permits import Placement as PermitPlacement
from agency_gateway.domain.pii import CustomerRecord, PostalAddress
from agency_gateway.domain.placement import (
    OPEN,
    Candidate,
    CaseToPlace,
    Placed,
    Recall,
    Unplaced,
    choose_partner,
    decide_recall,
    expires_on,
    recall_reason_label,
)
from agency_gateway.driver_statements import row_insert
from agency_gateway.settings import GatewaySettings
from agency_gateway.tables import (
    activities,
    call_permits,
    customers,
    partners,
    payment_attributions,
    placements,
)
from agency_gateway.webhook_queue import Webhook, enqueue, enqueue_many
from collections_core.codec import Event, Rejected, type_of
from collections_core.contracts.collections.v1 import placements_pb2
from collections_core.contracts.corebanking.v1 import customers_pb2, payments_pb2
from collections_core.http import Problem
from collections_core.money import Money
from collections_core.unit_of_work import UnitOfWork
from collections_core.wire import date_from_proto, date_to_proto, instant_to_proto

AGENCY_EVENTS = "collections.agency-events.v1"
TOPICS = ["collections.placements.v1", "corebanking.customers.v1", "corebanking.payments.v1"]
KIND_OF = {placements_pb2.PLACEMENT_KIND_AGENCY: "agency", placements_pb2.PLACEMENT_KIND_LEGAL: "legal"}
ACTIVITY_KINDS = {
    "call-attempt": placements_pb2.ACTIVITY_KIND_CALL_ATTEMPT, "contact": placements_pb2.ACTIVITY_KIND_CONTACT,
    "field-visit": placements_pb2.ACTIVITY_KIND_FIELD_VISIT,
    "promise-to-pay": placements_pb2.ACTIVITY_KIND_PROMISE_TO_PAY,
    "dispute": placements_pb2.ACTIVITY_KIND_DISPUTE, "hardship": placements_pb2.ACTIVITY_KIND_HARDSHIP,
    "note": placements_pb2.ACTIVITY_KIND_NOTE,
}


_REPORT_ACTIVITY = row_insert(activities)  # the partner API's hot insert (decision 0073)

# What a recall reads of a placement (an operations recall and an expiry pass whole rows).
_RECALL_COLUMNS = [placements.c[name] for name in ("placement_id", "account_id", "partner_id", "status")]
_RECALL = update(placements).where(placements.c.placement_id == bindparam("recalled_id")).values(
    status="recalled", ended_at=bindparam("recalled_at"), end_reason=bindparam("recall_reason"))
# What attributing a payment reads of the account's open placement.
_ATTRIBUTION_COLUMNS = [placements.c[name] for name in (
    "placement_id", "account_id", "partner_id", "currency", "commission_bps")]
_ATTRIBUTE = insert(payment_attributions)


@dataclass(frozen=True, slots=True)
class RecallOrder:
    """Take ``placement`` (a placements row) back for ``reason``; ``cause``: the event
    that asked for it, if one did (its trace goes on to PlacementRecalled)."""

    placement: Row
    reason: str
    cause: Event | None = None


@dataclass(frozen=True, slots=True)
class Attribution:
    """A payment (entry ``payment``) or its reversal (``reversal``) counted to the partner
    that held the account's placement, at the placement's commission."""

    payment_id: str
    entry: str
    placement_id: str
    partner_id: str
    account_id: str
    amount: Money
    booked: date
    commission_bps: int


# What placement_summary reads: a page selects only these (each date column parsed costs CPU).
SUMMARY_COLUMNS = [placements.c[name] for name in (
    "placement_id", "account_id", "kind", "region", "amount_minor", "currency", "dpd", "status", "placed_at",
    "acknowledged_at", "expires_on", "ended_at", "end_reason")]


def placement_summary(row) -> dict:
    """What a partner (and its webhooks) may know of a placement without PII."""
    return {"placement_id": row.placement_id, "account_id": row.account_id, "kind": row.kind,
            "region": row.region, "amount": {"amount_minor": row.amount_minor, "currency": row.currency},
            "dpd": row.dpd, "status": row.status, "placed_at": _iso(row.placed_at),
            "acknowledged_at": _iso(row.acknowledged_at),
            "expires_on": row.expires_on.isoformat() if row.expires_on else None,
            "ended_at": _iso(row.ended_at), "end_reason": row.end_reason}


def with_permit(query):
    """``query`` (on placements) reading also the call permit named by the parameter
    ``permit_id`` and the activity that already went by it, as ``permit_*`` columns
    (null when there is none)."""
    used = activities.alias("used")
    permit_id = bindparam("permit_id")
    return query.add_columns(
        call_permits.c.permit_id.label("permit_found"), call_permits.c.partner_id.label("permit_partner_id"),
        call_permits.c.placement_id.label("permit_placement_id"),
        call_permits.c.customer_id.label("permit_customer_id"), call_permits.c.decision.label("permit_decision"),
        call_permits.c.rule.label("permit_rule"), used.c.activity_id.label("permit_used_by"),
    ).select_from(placements.outerjoin(call_permits, call_permits.c.permit_id == permit_id).outerjoin(
        used, used.c.permit_id == call_permits.c.permit_id))


def permit_of(row, permit_id: str | None) -> Permit | None:
    if permit_id is None or row.permit_found is None:
        return None
    return Permit(row.permit_found, row.permit_partner_id, row.permit_placement_id, row.permit_customer_id,
                  row.permit_decision, row.permit_rule, row.permit_used_by)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class Gateway:
    def __init__(self, settings: GatewaySettings, keyring: Keyring, webhooks_queued: asyncio.Event | None = None
                 ) -> None:
        self.settings = settings
        self.keyring = keyring
        self.service = settings.service_name
        # Set once a unit of work that queued webhooks commits: the webhook worker's doorbell.
        self.webhooks_queued = webhooks_queued or asyncio.Event()

    def handlers(self) -> dict:
        """Every type, one event at a time (tests and tools run single events through
        these); the consumer takes the types of ``batch_handlers`` from there instead."""
        return {
            type_of(placements_pb2.PlacementRequested): self.placement_requested,
            type_of(placements_pb2.RecallRequested): self.recall_requested,
            type_of(customers_pb2.CustomerUpserted): self.customer_upserted,
            type_of(payments_pb2.PaymentPosted): self.payment_posted,
            type_of(payments_pb2.PaymentReversed): self.payment_reversed,
        }

    def batch_handlers(self) -> dict:
        """The types the consumer hands over a run at a time: a payment, and the recall
        its cure brings, are the gateway's busiest events."""
        return {
            type_of(placements_pb2.RecallRequested): self.recalls_requested,
            type_of(payments_pb2.PaymentPosted): self.payments_posted,
        }

    # -- placements -----------------------------------------------------------------

    async def placement_requested(self, event: Event, work: UnitOfWork) -> None:
        message: placements_pb2.PlacementRequested = event.message
        if not message.placement_id or not message.account_id or not message.customer_id:
            raise Rejected("PlacementRequested needs placement_id, account_id and customer_id")
        if message.kind not in KIND_OF:
            raise Rejected("PlacementRequested needs a kind (agency or legal)")
        try:
            amount = Money.from_proto(message.amount)
            requested_end = date_from_proto(message.expires_on) if message.HasField("expires_on") else None
        except ValueError as error:
            raise Rejected(f"PlacementRequested is invalid: {error}") from None
        if amount.amount_minor <= 0 or message.dpd < 0:
            raise Rejected("PlacementRequested needs a positive amount and a non-negative DPD")
        known = (await work.connection.execute(select(placements.c.placement_id).where(
            placements.c.placement_id == message.placement_id))).first()
        if known:
            return
        case = CaseToPlace(message.placement_id, KIND_OF[message.kind], message.region, amount)
        already = (await work.connection.execute(select(placements.c.placement_id).where(
            placements.c.account_id == message.account_id, placements.c.status.in_(OPEN)))).first()
        # One open placement per account: payments are attributed to exactly one partner.
        decision = Unplaced(f"account already placed as {already.placement_id}") if already else choose_partner(
            case, await self._candidates(work, case), self.settings.challenger_percent)
        row = dict(placement_id=case.placement_id, case_id=message.case_id, account_id=message.account_id,
                   customer_id=message.customer_id, kind=case.kind, region=case.region,
                   amount_minor=amount.amount_minor, currency=amount.currency, dpd=message.dpd,
                   requested_at=work.now, rule=decision.reason if not isinstance(decision, Placed) else decision.rule)
        if not isinstance(decision, Placed):
            await work.connection.execute(insert(placements).values(**row, status="unplaced", ended_at=work.now,
                                                                    end_reason=decision.reason))
            work.emit(AGENCY_EVENTS, placements_pb2.PlacementReturned(
                placement_id=case.placement_id, account_id=message.account_id,
                reason="account-already-placed" if already else "no-eligible-partner",
                recovered_amount=Money.zero(amount.currency).to_proto(), returned_at=instant_to_proto(work.now)),
                key=message.account_id)
            metrics.PLACEMENT_DECISIONS.labels(self.service, "", "unplaced").inc()
            return
        commission_bps = (await work.connection.execute(select(partners.c.commission_bps).where(
            partners.c.partner_id == decision.partner_id))).scalar_one()
        expiry = expires_on(work.now.date(), self.settings.placement_term_days, requested_end)
        await work.connection.execute(insert(placements).values(
            **row, partner_id=decision.partner_id, arm=decision.arm, commission_bps=commission_bps,
            status="placed", placed_at=work.now, expires_on=expiry))
        work.emit(AGENCY_EVENTS, placements_pb2.PlacementAccepted(
            placement_id=case.placement_id, account_id=message.account_id, partner_id=decision.partner_id,
            accepted_at=instant_to_proto(work.now)), key=message.account_id)
        placed = (await work.connection.execute(select(placements).where(
            placements.c.placement_id == case.placement_id))).one()
        await enqueue(work, decision.partner_id, "placement.created", placement_summary(placed),
                      self.webhooks_queued.set)
        metrics.PLACEMENT_DECISIONS.labels(self.service, decision.partner_id, decision.arm).inc()

    async def _candidates(self, work: UnitOfWork, case: CaseToPlace) -> list[Candidate]:
        since = work.now - timedelta(days=self.settings.recovery_window_days)
        mine = placements.alias("mine")
        open_count = select(func.count()).where(
            mine.c.partner_id == partners.c.partner_id, mine.c.status.in_(OPEN)).scalar_subquery()
        placed_sum = select(func.coalesce(func.sum(mine.c.amount_minor), 0)).where(
            mine.c.partner_id == partners.c.partner_id, mine.c.currency == case.amount.currency,
            mine.c.placed_at >= since).scalar_subquery()
        recovered_sum = select(func.coalesce(func.sum(payment_attributions.c.amount_minor), 0)).where(
            payment_attributions.c.partner_id == partners.c.partner_id,
            payment_attributions.c.currency == case.amount.currency,
            payment_attributions.c.recorded_at >= since).scalar_subquery()
        rows = (await work.connection.execute(
            select(partners.c.partner_id, partners.c.kind, partners.c.regions, partners.c.capacity,
                   partners.c.status, open_count.label("open"), placed_sum.label("placed"),
                   recovered_sum.label("recovered"))
            .where(partners.c.kind == case.kind, partners.c.status == "active"))).all()
        return [Candidate(r.partner_id, r.kind, frozenset(r.regions.split(",")), r.capacity, r.open,
                          int(r.placed), int(r.recovered), r.status == "active") for r in rows]

    async def recall_requested(self, event: Event, work: UnitOfWork) -> None:
        await self.recalls_requested([event], work)

    async def recalls_requested(self, events: Sequence[Event], work: UnitOfWork) -> None:
        """A run of recalls: their placements read with one query, then recalled in order.
        A recall of a placement never requested is rejected (the runtime then runs the
        run's events one at a time, so only that one is dead-lettered)."""
        for event in events:
            message: placements_pb2.RecallRequested = event.message
            if not message.placement_id or not message.reason:
                raise Rejected("RecallRequested needs placement_id and reason")
        asked = list({event.message.placement_id: None for event in events})
        found = {row.placement_id: row for row in (await work.connection.execute(
            select(*_RECALL_COLUMNS).where(placements.c.placement_id.in_(asked)))).all()}
        for placement_id in asked:
            if placement_id not in found:
                raise Rejected(f"no placement {placement_id!r} was ever requested")
        await self.recall_many(work, [RecallOrder(found[event.message.placement_id], event.message.reason, event)
                                      for event in events])

    async def recall(self, work: UnitOfWork, placement, reason: str) -> bool:
        """Take a placement back (operations); False if it had already ended."""
        [recalled] = await self.recall_many(work, [RecallOrder(placement, reason)])
        return recalled

    async def recall_many(self, work: UnitOfWork, orders: Sequence[RecallOrder]) -> list[bool]:
        """Take placements back in order (recall events, operations, expiry). One still
        open is recalled: its row ended, PlacementRecalled emitted, its partner's webhook
        queued. One that had already ended — also by an earlier order of the same list —
        stays as it ended (False). One statement per table for all of them."""
        status: dict[str, str] = {}  # what the orders before this one left
        done, ended, webhooks, reasons = [], [], [], []
        for order in orders:
            placement, reason = order.placement, order.reason
            if not isinstance(decide_recall(status.get(placement.placement_id, placement.status), reason), Recall):
                done.append(False)
                continue
            status[placement.placement_id] = "recalled"
            ended.append({"recalled_id": placement.placement_id, "recalled_at": work.now, "recall_reason": reason})
            work.emit(AGENCY_EVENTS, placements_pb2.PlacementRecalled(
                placement_id=placement.placement_id, account_id=placement.account_id,
                partner_id=placement.partner_id, reason=reason, recalled_at=instant_to_proto(work.now)),
                key=placement.account_id, cause=order.cause)
            webhooks.append(Webhook(placement.partner_id, "placement.recalled", {
                "placement_id": placement.placement_id, "account_id": placement.account_id, "reason": reason,
                "recalled_at": work.now.isoformat()}))
            reasons.append(reason)
            done.append(True)
        if ended:
            await work.connection.execute(_RECALL, ended)
            await enqueue_many(work, webhooks, self.webhooks_queued.set)
        for reason in reasons:
            metrics.RECALLS.labels(self.service, recall_reason_label(reason)).inc()
        return done

    async def recall_expired(self, work: UnitOfWork) -> int:
        """Recall every open placement whose term ended before today (the service clock's UTC date)."""
        due = (await work.connection.execute(select(placements).where(
            placements.c.status.in_(OPEN), placements.c.expires_on < work.now.date())
            .order_by(placements.c.placement_id).limit(500))).all()
        await self.recall_many(work, [RecallOrder(placement, "expired") for placement in due])
        return len(due)

    # -- customers and payments -----------------------------------------------------

    async def customer_upserted(self, event: Event, work: UnitOfWork) -> None:
        message: customers_pb2.CustomerUpserted = event.message
        if not message.customer_id:
            raise Rejected("CustomerUpserted needs customer_id")
        address = PostalAddress(tuple(message.address.lines), message.address.city, message.address.region,
                                message.address.postal_code, message.address.country)
        cid = message.customer_id
        sealed = dict(name=self.keyring.seal(message.name, cid), phone=self.keyring.seal(message.phone, cid),
                      address=self.keyring.seal(json.dumps(asdict(address)), cid), updated_at=work.now)
        changed = await work.connection.execute(update(customers).where(customers.c.customer_id == cid)
                                                .values(**sealed))
        if changed.rowcount == 0:
            await work.connection.execute(insert(customers).values(customer_id=cid, **sealed))

    async def customer(self, connection, customer_id: str) -> CustomerRecord | None:
        row = (await connection.execute(select(customers).where(customers.c.customer_id == customer_id))).first()
        if row is None:
            return None
        address = json.loads(self.keyring.open(row.address, customer_id))
        return CustomerRecord(customer_id, self.keyring.open(row.name, customer_id),
                              self.keyring.open(row.phone, customer_id),
                              PostalAddress(**{**address, "lines": tuple(address["lines"])}))

    async def payment_posted(self, event: Event, work: UnitOfWork) -> None:
        await self.payments_posted([event], work)

    async def payments_posted(self, events: Sequence[Event], work: UnitOfWork) -> None:
        """A run of payments: the accounts' open placements read with one query; a payment
        made during a placement, in its currency, is attributed to the placement's partner
        (once per payment id) and the partner told by webhook."""
        posted = []
        for event in events:
            message: payments_pb2.PaymentPosted = event.message
            try:
                posted.append((message, Money.from_proto(message.amount), date_from_proto(message.posted_on)))
            except ValueError as error:
                raise Rejected(f"PaymentPosted is invalid: {error}") from None
        accounts = list({message.account_id: None for message, _, _ in posted})
        open_placements = {row.account_id: row for row in (await work.connection.execute(
            select(*_ATTRIBUTION_COLUMNS).where(placements.c.account_id.in_(accounts),
                                                placements.c.status.in_(OPEN)))).all()}
        attributions = []
        for message, amount, booked in posted:
            placement = open_placements.get(message.account_id)
            if placement is None or amount.currency != placement.currency:
                continue  # not during a placement (or not in the placed currency): nobody's commission
            attributions.append(Attribution(message.payment_id, "payment", placement.placement_id,
                                            placement.partner_id, message.account_id, amount, booked,
                                            placement.commission_bps))
        attributed = await self._attribute(work, attributions)
        await enqueue_many(work, [Webhook(a.partner_id, "payment.posted", {
            "placement_id": a.placement_id, "account_id": a.account_id, "payment_id": a.payment_id,
            "amount": {"amount_minor": a.amount.amount_minor, "currency": a.amount.currency},
            "posted_on": a.booked.isoformat()}) for a, recorded in zip(attributions, attributed) if recorded],
            self.webhooks_queued.set)

    async def payment_reversed(self, event: Event, work: UnitOfWork) -> None:
        message: payments_pb2.PaymentReversed = event.message
        try:
            booked = date_from_proto(message.reversed_on)
        except ValueError as error:
            raise Rejected(f"PaymentReversed is invalid: {error}") from None
        original = (await work.connection.execute(select(payment_attributions).where(
            payment_attributions.c.payment_id == message.payment_id,
            payment_attributions.c.entry == "payment"))).first()
        if original is None:
            return  # the payment was not attributed to any partner
        await self._attribute(work, [Attribution(
            message.payment_id, "reversal", original.placement_id, original.partner_id, original.account_id,
            Money(-original.amount_minor, original.currency), booked, original.commission_bps)])

    async def _attribute(self, work: UnitOfWork, attributions: Sequence[Attribution]) -> list[bool]:
        """Record each attribution unless its payment has one of that entry already (also
        earlier in the list): one query, one insert. Which of them were recorded."""
        if not attributions:
            return []
        payment_ids = list({attribution.payment_id: None for attribution in attributions})
        known = {(row.payment_id, row.entry) for row in (await work.connection.execute(
            select(payment_attributions.c.payment_id, payment_attributions.c.entry).where(
                payment_attributions.c.payment_id.in_(payment_ids)))).all()}
        recorded, rows = [], []
        for a in attributions:
            fresh = (a.payment_id, a.entry) not in known
            recorded.append(fresh)
            if fresh:
                known.add((a.payment_id, a.entry))
                rows.append({"payment_id": a.payment_id, "entry": a.entry, "placement_id": a.placement_id,
                             "partner_id": a.partner_id, "account_id": a.account_id,
                             "amount_minor": a.amount.amount_minor, "currency": a.amount.currency,
                             "booked_on": a.booked, "commission_bps": a.commission_bps, "recorded_at": work.now})
        if rows:
            await work.connection.execute(_ATTRIBUTE, rows)
        for a, fresh in zip(attributions, recorded):
            if fresh:
                # A counter only grows: reversals count on their own, and recoveries net of them are the difference.
                counter = metrics.RECOVERED if a.entry == "payment" else metrics.RECOVERY_REVERSED
                counter.labels(self.service, a.partner_id, a.amount.currency).inc(abs(a.amount.amount_minor))
        return recorded

    # -- partner writes (from the partner API) --------------------------------------

    async def acknowledge(self, work: UnitOfWork, placement) -> dict:
        if placement.status == "placed":
            await work.connection.execute(update(placements).where(
                placements.c.placement_id == placement.placement_id).values(
                status="acknowledged", acknowledged_at=work.now))
        return placement_summary((await work.connection.execute(select(placements).where(
            placements.c.placement_id == placement.placement_id))).one())

    async def report_activity(self, work: UnitOfWork, placement, kind: str, occurred_at: datetime,
                              note: str | None, promised: Money | None, promised_on: date | None,
                              permit_id: str | None, permit: Permit | None) -> dict:
        """``permit``: the one ``permit_id`` names, read with the placement (``with_permit``)."""
        refusal = check_permit(kind, permit_id, permit, PermitPlacement(
            placement.placement_id, placement.partner_id, placement.customer_id))
        if refusal is not None:
            raise Problem(409 if refusal.conflict else 422, "Activity refused", refusal.detail, reason=refusal.reason)
        activity_id = uuid.uuid4().hex
        await _REPORT_ACTIVITY.run(work.connection, {
            "activity_id": activity_id, "placement_id": placement.placement_id, "partner_id": placement.partner_id,
            "kind": kind, "occurred_at": occurred_at, "note": note, "reported_at": work.now, "permit_id": permit_id,
            "promised_amount_minor": promised.amount_minor if promised else None,
            "promised_currency": promised.currency if promised else None, "promised_on": promised_on})
        message = placements_pb2.PartnerActivityReported(
            placement_id=placement.placement_id, account_id=placement.account_id, partner_id=placement.partner_id,
            activity_id=activity_id, kind=ACTIVITY_KINDS[kind], occurred_at=instant_to_proto(occurred_at),
            note=note or "")
        if promised is not None:
            message.promised_amount.CopyFrom(promised.to_proto())
        if promised_on is not None:
            message.promised_on.CopyFrom(date_to_proto(promised_on))
        work.emit(AGENCY_EVENTS, message, key=placement.account_id)
        return {"activity_id": activity_id, "placement_id": placement.placement_id, "kind": kind,
                "occurred_at": occurred_at.isoformat(), "reported_at": work.now.isoformat()}

    async def return_placement(self, work: UnitOfWork, placement, reason: str) -> dict:
        recovered = (await work.connection.execute(
            select(func.coalesce(func.sum(payment_attributions.c.amount_minor), 0)).where(
                payment_attributions.c.placement_id == placement.placement_id))).scalar_one()
        await work.connection.execute(update(placements).where(
            and_(placements.c.placement_id == placement.placement_id, placements.c.status.in_(OPEN)))
            .values(status="returned", ended_at=work.now, end_reason=reason))
        work.emit(AGENCY_EVENTS, placements_pb2.PlacementReturned(
            placement_id=placement.placement_id, account_id=placement.account_id, partner_id=placement.partner_id,
            reason=reason, recovered_amount=Money(int(recovered), placement.currency).to_proto(),
            returned_at=instant_to_proto(work.now)), key=placement.account_id)
        return placement_summary((await work.connection.execute(select(placements).where(
            placements.c.placement_id == placement.placement_id))).one())
