"""Contact requests judged a run at a time (a poll batch of requests, a dispatch
round): the facts of every customer in the run are loaded with one query per
table, each request is decided in order by the pure contact policy, and the
effects — ledger rows, request changes, events — are written with one statement
per table.

A run gives the same result as its requests judged one by one: the facts are
those one by one would load, and a contact allowed to go out earlier in the run
(``attempt``) counts toward the caps of the later ones, as its ledger row would.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp

from collections_core.codec import Event
from collections_core.contracts.collections.v1 import contacts_pb2
from collections_core.unit_of_work import UnitOfWork
from collections_core.wire import instant_to_proto
from notifier import facts, rows
from notifier.domain.policy import Allow, Attempt, Block, ContactFacts, Defer, Pack, evaluate_contact
from notifier.facts import Known, as_utc
from notifier.metrics import CONTACTS, POLICY_DECISIONS
from notifier.tables import contact_ledger

CONTACT_EVENTS = "collections.contact-events.v1"
CHANNEL_CODES = {"sms": contacts_pb2.CHANNEL_SMS, "email": contacts_pb2.CHANNEL_EMAIL,
                 "letter": contacts_pb2.CHANNEL_LETTER, "call": contacts_pb2.CHANNEL_CALL}
# A request whose customer core banking has not told us about yet is looked at again after this.
AWAITING_CONTACT_POINT = "awaiting-contact-point"
RECHECK = timedelta(minutes=1)


class Judgement:
    def __init__(self, work: UnitOfWork, packs: Mapping[str, Pack], known: dict[str, Known]) -> None:
        self.work, self.packs, self.known = work, packs, known
        self.ledger: list[dict] = []
        self.changes: dict[str, dict] = {}
        # Metric increments of the run, added once each when it is saved: a labelled
        # child looked up per contact cost more than the contact's policy evaluation.
        self.counts: Counter[tuple] = Counter()
        self.instants: dict[datetime, Timestamp] = {}

    @classmethod
    async def load(cls, work: UnitOfWork, packs: Mapping[str, Pack], customer_ids: Iterable[str], *,
                   encrypted: bool = True) -> Judgement:
        """The facts of every customer given; without ``encrypted`` the contact points'
        encrypted columns are left unread (judging needs only the customers' zones)."""
        customers = await facts.load_customers(work.connection, customer_ids, encrypted=encrypted)
        return cls(work, packs, await facts.load_known(work.connection, customers.values(), work.now))

    def decide(self, request: dict, cause: Event | None = None) -> Allow | Defer | Block | None:
        """Evaluate a pending request now and record a deferral or block (ledger row,
        request change, event); an allowed one is left to the caller. None when the
        customer's contact point is not known yet: it is looked at again later."""
        now = self.work.now
        known = self.known.get(request["customer_id"])
        expires_at = as_utc(request["expires_at"])
        if known is None:
            if now < expires_at:
                self.change(request, due_at=now + RECHECK, rule=AWAITING_CONTACT_POINT)
                return None
            decision: Allow | Defer | Block = Block("expired")
        else:
            not_before = as_utc(request["not_before"]) if request["not_before"] else None
            decision = evaluate_contact(known.contact_facts(request["channel"], not_before=not_before,
                                                            expires_at=expires_at), self.packs[request["pack"]], now)
        if isinstance(decision, Allow):
            self.counts[POLICY_DECISIONS, "allow", "allowed"] += 1
            return decision
        self.counts[POLICY_DECISIONS, type(decision).__name__.lower(), decision.rule] += 1
        self.ledger.append(facts.ledger_row(
            customer_id=request["customer_id"], account_id=request["account_id"], channel=request["channel"],
            decision="defer" if isinstance(decision, Defer) else "block", rule=decision.rule, at=now,
            request_id=request["request_id"]))
        channel = CHANNEL_CODES[request["channel"]]
        if isinstance(decision, Defer):
            self.change(request, due_at=decision.until, rule=decision.rule)
            self.work.emit(CONTACT_EVENTS, contacts_pb2.ContactDeferred(
                request_id=request["request_id"], account_id=request["account_id"], channel=channel,
                rule=decision.rule, deferred_until=self.instant(decision.until)),
                key=request["account_id"], cause=cause)
        else:
            self.change(request, status="blocked", rule=decision.rule)
            self.counts[CONTACTS, request["channel"], "blocked"] += 1
            self.work.emit(CONTACT_EVENTS, contacts_pb2.ContactBlocked(
                request_id=request["request_id"], account_id=request["account_id"], channel=channel,
                rule=decision.rule), key=request["account_id"], cause=cause)
        return decision

    def resend_within_hours(self, request: dict) -> bool:
        """Whether a request handed over before, whose lease ran out, may go again now.
        The provider may never have had it, so a resend can be a contact: only within
        the pack's hours in the customer's zone. Its opt-outs, holds and caps were judged
        when it was first handed over, and a resend the provider already had is answered
        from its key, so only the clock is asked again. Otherwise its due time moves to the
        next allowed moment and it stays ``sending``."""
        known = self.known.get(request["customer_id"])
        if known is None:
            return True
        decision = evaluate_contact(ContactFacts(channel=request["channel"], time_zone=known.customer.time_zone),
                                    self.packs[request["pack"]], self.work.now)
        if isinstance(decision, Defer):
            self.change(request, due_at=decision.until)
            return False
        return True

    def attempt(self, request: dict) -> None:
        """An allowed contact goes out now: in the ledger as an attempt before it leaves,
        so the caps count it — for the rest of this run too."""
        now = self.work.now
        self.ledger.append(facts.ledger_row(
            customer_id=request["customer_id"], account_id=request["account_id"], channel=request["channel"],
            decision="allow", outcome="sent", at=now, request_id=request["request_id"]))
        self.known[request["customer_id"]].attempts.append(Attempt(now, request["channel"]))
        self.change(request, status="sending")

    def fail(self, request: dict, reason: str, cause: Event | None = None) -> None:
        self.change(request, status="failed", reason=reason)
        self.counts[CONTACTS, request["channel"], "failed"] += 1
        self.work.emit(CONTACT_EVENTS, contacts_pb2.ContactFailed(
            request_id=request["request_id"], account_id=request["account_id"],
            channel=CHANNEL_CODES[request["channel"]], reason=reason, failed_at=self.instant(self.work.now)),
            key=request["account_id"], cause=cause)

    def instant(self, at: datetime) -> Timestamp:
        """``at`` for an event, converted once per run (most of a run's events share one)."""
        converted = self.instants.get(at)
        if converted is None:
            converted = self.instants[at] = instant_to_proto(at)
        return converted

    def change(self, request: dict, **values) -> None:
        request.update(values, updated_at=self.work.now)
        self.changes[request["request_id"]] = request

    async def save(self, *, requests: bool = True) -> None:
        """The ledger rows in decision order, then (unless the caller inserts the
        requests itself) every changed request: one statement each."""
        await rows.insert_rows(self.work.connection, contact_ledger, self.ledger)
        if requests:
            await rows.change_requests(self.work.connection, list(self.changes.values()))
        for (metric, *labels), n in self.counts.items():
            metric.labels(*labels).inc(n)
        self.counts.clear()
