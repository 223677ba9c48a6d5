"""The case book: what happens to one case, as rows and emitted events inside the
caller's unit of work (a handler's or an API call's): notes on the timeline, tasks,
holds, the credit file, recalls and closing. The daily re-evaluation of many cases at
once builds its rows with the same functions (evaluation.py).

Every id it creates is derived from the case, the day, the rule and the action
(``ladder.request_id``), so a redelivered or replayed input can only write what
was already written, and the consumer's inbox makes even that a no-op.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, insert, or_, select, update

from case_router import metrics
from case_router.domain.holds import Hold
from case_router.domain.ladder import request_id
from case_router.domain.strategy import Strategy
from case_router.rows import store_of
from case_router.tables import account_flags, cases, contact_requests, credit_file, holds, placements, tasks, timeline
from collections_core.contracts.collections.v1 import cases_pb2, contacts_pb2, placements_pb2
from collections_core.codec import Event
from collections_core.money import Money
from collections_core.queries import among
from collections_core.unit_of_work import UnitOfWork
from collections_core.wire import instant_to_proto

CASE_EVENTS = "collections.case-events.v1"
CONTACT_REQUESTS = "collections.contact-requests.v1"
PLACEMENTS = "collections.placements.v1"
_CASES = uuid.UUID("0b8e3f6e-8f0e-4c54-9d8b-3e1f1a7c5d21")
_CHANNELS = {"sms": contacts_pb2.CHANNEL_SMS, "email": contacts_pb2.CHANNEL_EMAIL,
             "letter": contacts_pb2.CHANNEL_LETTER, "call": contacts_pb2.CHANNEL_CALL}
BEHAVIOURS = {"promise-kept": cases_pb2.CREDIT_BEHAVIOUR_PROMISE_KEPT,
              "promise-broken": cases_pb2.CREDIT_BEHAVIOUR_PROMISE_BROKEN,
              "plan-completed": cases_pb2.CREDIT_BEHAVIOUR_PLAN_COMPLETED,
              "plan-broken": cases_pb2.CREDIT_BEHAVIOUR_PLAN_BROKEN,
              "cured": cases_pb2.CREDIT_BEHAVIOUR_CURED}


def channel_name(channel: int) -> str:
    return contacts_pb2.Channel.Name(channel).removeprefix("CHANNEL_").lower()


@dataclass(frozen=True, slots=True)
class Delinquency:
    """The detector's view of an account on one business day."""

    business_date: date
    dpd: int
    bucket: str
    past_due: Money
    balance: Money


def case_id_for(account_id: str, episode: int) -> str:
    """The n-th delinquency episode of an account always gets the same case id, on any replay."""
    return str(uuid.uuid5(_CASES, f"{account_id}/{episode}"))


def business_day(work: UnitOfWork, case) -> date:
    """The case's business day for inputs that carry none (the desk, partners): the clock's
    date, or the last business date the detector reported when that is later."""
    return max(work.now.date(), case.last_evaluated_on or work.now.date())


async def open_case_of(work: UnitOfWork, account_id: str):
    return (await work.connection.execute(
        select(cases).where(cases.c.account_id == account_id, cases.c.status == "open"))).first()


async def holds_and_flags_of(work: UnitOfWork, account_id: str) -> tuple[list[Hold], frozenset[str]]:
    """The unended holds of the account's open case (none without one) and its flags."""
    held = (await work.connection.execute(
        select(holds.c.kind, holds.c.started_on, holds.c.until_on).join(cases, cases.c.case_id == holds.c.case_id)
        .where(cases.c.account_id == account_id, cases.c.status == "open", holds.c.ended_on.is_(None)))).all()
    flags = (await work.connection.execute(
        select(account_flags.c.flag).where(account_flags.c.account_id == account_id))).scalars().all()
    return [Hold(row.kind, row.started_on, row.until_on) for row in held], frozenset(flags)


def timeline_row(case_id: str, at: datetime, entry: str, detail: str = "", *, rule: str | None = None,
                 strategy: str | None = None, variant: str | None = None, actor: str | None = None) -> dict:
    return {"case_id": case_id, "at": at, "entry": entry, "detail": detail[:400], "rule": rule,
            "strategy": strategy, "variant": variant, "actor": actor}


async def note(work: UnitOfWork, case_id: str, entry: str, detail: str = "", *, rule: str | None = None,
               strategy: str | None = None, variant: str | None = None, actor: str | None = None) -> None:
    await work.connection.execute(insert(timeline).values(timeline_row(
        case_id, work.now, entry, detail, rule=rule, strategy=strategy, variant=variant, actor=actor)))


PAY_BY_DAYS = 14  # the date a collection letter asks payment by, from the day it is requested


def account_reference(account_id: str) -> str:
    """What the customer knows the account by in a message: its last four characters."""
    return account_id[-4:]


def contact_request(case, made: str, channel: str, template: str, purpose: str, day: date, report_after: date,
                    now: datetime) -> tuple[dict, contacts_pb2.ContactRequested]:
    """The stored request and the notifier's ContactRequested; the parameters are the ones
    its templates read (services/notifier/README.md), named as it names them."""
    row = {"request_id": made, "case_id": case.case_id, "account_id": case.account_id,
           "customer_id": case.customer_id, "channel": channel, "template": template, "purpose": purpose,
           "status": "requested", "requested_at": now, "delivered_on": None}
    message = contacts_pb2.ContactRequested(
        request_id=made, account_id=case.account_id, customer_id=case.customer_id, case_id=case.case_id,
        channel=_CHANNELS[channel], template=template,
        parameters={"amount_minor": str(case.past_due_minor), "currency": case.currency,
                    "card_last4": account_reference(case.account_id), "days_past_due": str(case.dpd),
                    "as_of_date": day.isoformat(), "pay_by_date": (day + timedelta(days=PAY_BY_DAYS)).isoformat(),
                    "report_after_date": report_after.isoformat(), "purpose": purpose},
        requested_at=instant_to_proto(now))
    return row, message


def task_row(case, task_id: str, kind: str, queue: str, priority: int, due: date, now: datetime,
             collectors: int = 1, rule: str | None = None) -> dict:
    return {"task_id": task_id, "case_id": case.case_id, "account_id": case.account_id, "kind": kind, "queue": queue,
            "priority": priority, "status": "waiting", "due_on": due, "collectors": collectors, "rule": rule,
            "created_at": now, "assignee": None, "lease_expires_at": None, "outcome": None}


async def create_task(work: UnitOfWork, case, task_id: str, kind: str, queue: str, priority: int, due: date,
                      collectors: int = 1, rule: str | None = None) -> None:
    await work.connection.execute(insert(tasks).values(
        task_row(case, task_id, kind, queue, priority, due, work.now, collectors, rule)))


async def start_hold(work: UnitOfWork, case, kind: str, started_on: date, until: date | None, reason: str,
                     actor: str | None = None) -> str:
    hold_id = str(uuid.uuid5(_CASES, f"{case.case_id}/hold/{kind}/{started_on}/{reason}"))
    await work.connection.execute(insert(holds).values(
        hold_id=hold_id, case_id=case.case_id, kind=kind, started_on=started_on, until_on=until, reason=reason[:200]))
    await note(work, case.case_id, "hold-started", f"{kind} until {until or 'resolved'}", rule=f"hold.{kind}",
               actor=actor)
    metrics.HOLDS_STARTED.labels(kind).inc()
    return hold_id


async def end_holds(work: UnitOfWork, case, kind: str, on: date, why: str, actor: str | None = None) -> int:
    ended = await work.connection.execute(update(holds).where(
        holds.c.case_id == case.case_id, holds.c.kind == kind, holds.c.ended_on.is_(None)).values(ended_on=on))
    if ended.rowcount:
        await note(work, case.case_id, "hold-ended", f"{kind}: {why}", rule=f"hold.{kind}", actor=actor)
    return ended.rowcount


def behaviour(case, kind: str, detail: str, now: datetime) -> tuple[dict, cases_pb2.CreditBehaviourRecorded]:
    """A line of the customer's credit file and the event that reports it."""
    row = {"customer_id": case.customer_id, "account_id": case.account_id, "case_id": case.case_id,
           "behaviour": kind, "recorded_at": now, "detail": detail[:200]}
    return row, cases_pb2.CreditBehaviourRecorded(
        customer_id=case.customer_id, account_id=case.account_id, case_id=case.case_id,
        behaviour=BEHAVIOURS[kind], recorded_at=instant_to_proto(now))


async def record_behaviour(work: UnitOfWork, case, kind: str, detail: str = "") -> None:
    await record_behaviours(work, [(case, kind, detail, None)])


async def record_behaviours(work: UnitOfWork, entries: Sequence[tuple[object, str, str, Event | None]]) -> None:
    """Lines of the credit file, each (case, behaviour, detail, cause), and their events, in order."""
    rows = []
    for case, kind, detail, cause in entries:
        row, message = behaviour(case, kind, detail, work.now)
        rows.append(row)
        work.emit(CASE_EVENTS, message, key=case.account_id, cause=cause)
    await store_of(work.connection).insert(credit_file, rows)


async def recall_placements(work: UnitOfWork, case, reason: str, cause: Event | None = None) -> None:
    live = (await work.connection.execute(select(placements.c.placement_id).where(
        placements.c.case_id == case.case_id, placements.c.status.in_(_LIVE_PLACEMENTS))
        .order_by(placements.c.requested_at, placements.c.placement_id))).scalars().all()
    notes = [_recall(work, case, placement_id, reason, cause) for placement_id in live]
    store = store_of(work.connection)
    await store.set_column(placements, "placement_id", "status", dict.fromkeys(live, "recalled"))
    await store.insert(timeline, notes)


_LIVE_PLACEMENTS = ("requested", "accepted")
_PENDING_CONTACTS = ("requested", "deferred")


def _recall(work: UnitOfWork, case, placement_id: str, reason: str, cause: Event | None) -> dict:
    """Ask the gateway to take a placement back; the timeline entry that says so."""
    work.emit(PLACEMENTS, placements_pb2.RecallRequested(
        placement_id=placement_id, account_id=case.account_id, reason=reason,
        requested_at=instant_to_proto(work.now)), key=case.account_id, cause=cause)
    return timeline_row(case.case_id, work.now, "recall-requested", f"{placement_id} {reason}")


@dataclass(frozen=True, slots=True)
class Closing:
    """A case to close: why, on which business day, by whom (a desk user) and the input
    event it follows from (``cause``, for tracing in a batch)."""

    case: object
    reason: str
    day: date
    actor: str | None = None
    cause: Event | None = None


async def close_case(work: UnitOfWork, strategy: Strategy, case, reason: str, day: date,
                     actor: str | None = None, cause: Event | None = None) -> None:
    await close_cases(work, strategy, [Closing(case, reason, day, actor, cause)])


async def close_cases(work: UnitOfWork, strategy: Strategy, closings: Sequence[Closing]) -> None:
    """A cure or a completed plan, for many cases at once (a run of cures): stop every
    pending contact, cancel open tasks, recall placements, end holds (each kind ended
    on the timeline), and schedule the follow-up call (定期回访). What the cases have
    pending is read with one query per table and every table written with one
    statement, whatever the number of cases."""
    unique: dict[str, Closing] = {}
    for closing in closings:
        unique.setdefault(closing.case.case_id, closing)
    closings = list(unique.values())
    if not closings:
        return
    connection, now = work.connection, work.now
    ids = [closing.case.case_id for closing in closings]
    pending = await _grouped(connection, select(contact_requests.c.case_id, contact_requests.c.request_id).where(
        among(connection, contact_requests.c.case_id, ids), contact_requests.c.status.in_(_PENDING_CONTACTS))
        .order_by(contact_requests.c.requested_at, contact_requests.c.request_id))
    live = await _grouped(connection, select(placements.c.case_id, placements.c.placement_id).where(
        among(connection, placements.c.case_id, ids), placements.c.status.in_(_LIVE_PLACEMENTS))
        .order_by(placements.c.requested_at, placements.c.placement_id))
    in_force = await _grouped(connection, select(holds.c.case_id, holds.c.hold_id, holds.c.kind).where(
        among(connection, holds.c.case_id, ids), holds.c.ended_on.is_(None)).order_by(holds.c.hold_id))
    cancelled, recalled, ended, notes, follow_ups, closed = {}, {}, {}, [], [], Counter()
    for case, reason, day, actor, cause in ((c.case, c.reason, c.day, c.actor, c.cause) for c in closings):
        for made in pending[case.case_id]:
            work.emit(CONTACT_REQUESTS, contacts_pb2.ContactCancelled(
                request_id=made, account_id=case.account_id, customer_id=case.customer_id, reason=reason),
                key=case.customer_id, subject=case.account_id, cause=cause)
            cancelled[made] = "cancelled"
        if pending[case.case_id]:
            notes.append(timeline_row(case.case_id, now, "contacts-cancelled",
                                      f"{len(pending[case.case_id])} pending: {reason}"))
        for placement_id in live[case.case_id]:
            recalled[placement_id] = "recalled"
            notes.append(_recall(work, case, placement_id, reason, cause))
        kinds = {}
        for hold_id, kind in in_force[case.case_id]:
            ended[hold_id] = day
            kinds[kind] = None
        notes += [timeline_row(case.case_id, now, "hold-ended", f"{kind}: case {reason}", rule=f"hold.{kind}")
                  for kind in kinds]
        follow_ups.append(task_row(case, request_id(case.case_id, day, "humane.follow-up", reason), "follow-up",
                                   "follow-up", 7, day + timedelta(days=strategy.humane.follow_up_after_days), now,
                                   rule="humane.follow-up"))
        notes.append(timeline_row(case.case_id, now, "case-closed", reason, actor=actor))
        work.emit(CASE_EVENTS, cases_pb2.CaseClosed(
            case_id=case.case_id, account_id=case.account_id, reason=reason, closed_at=instant_to_proto(now)),
            key=case.account_id, cause=cause)
        closed[case.stage, reason, case.variant] += 1
    store = store_of(connection)
    await store.set_column(contact_requests, "request_id", "status", cancelled)
    await connection.execute(update(tasks).where(among(connection, tasks.c.case_id, ids), tasks.c.status == "waiting")
                             .values(status="cancelled", assignee=None, lease_expires_at=None))
    await store.set_column(placements, "placement_id", "status", recalled)
    await store.set_column(holds, "hold_id", "ended_on", ended)
    by_reason: defaultdict[str, list[str]] = defaultdict(list)  # a run of cures has one reason
    for closing in closings:
        by_reason[closing.reason].append(closing.case.case_id)
    for reason, closed_ids in by_reason.items():
        await connection.execute(update(cases).where(among(connection, cases.c.case_id, closed_ids)).values(
            status="closed", closed_at=now, close_reason=reason))
    await store.insert(tasks, follow_ups)
    await store.insert(timeline, notes)
    for labels, n in closed.items():
        metrics.CASES_CLOSED.labels(*labels).inc(n)


async def _grouped(connection, query) -> defaultdict[str, list]:
    """Rows of ``query`` (case id first) by case, in the query's order, without the case id."""
    found: defaultdict[str, list] = defaultdict(list)
    for case_id, *rest in (await connection.execute(query)).all():
        found[case_id].append(rest[0] if len(rest) == 1 else tuple(rest))
    return found


def lease_is_free(now: datetime):
    """A task may be claimed when it waits and nobody holds an unexpired lease on it."""
    return and_(tasks.c.status == "waiting", or_(tasks.c.lease_expires_at.is_(None), tasks.c.lease_expires_at <= now))
