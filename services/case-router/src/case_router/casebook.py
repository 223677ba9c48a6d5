"""The case book: loads a case's facts for the domain and turns decisions into rows
and emitted events, inside the caller's unit of work (a handler's or an API call's).

Every id it creates is derived from the case, the day, the rule and the action
(``ladder.request_id``), so a redelivered or replayed input can only write what
was already written, and the consumer's inbox makes even that a no-op.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, insert, or_, select, update

from case_router import metrics
from case_router.domain.holds import Hold, active_holds
from case_router.domain.ladder import Act, CaseFacts, DayDecision, request_id
from case_router.domain.strategy import Stage, Strategy
from case_router.tables import (
    account_flags,
    case_actions,
    cases,
    contact_requests,
    credit_file,
    holds,
    placements,
    plans,
    tasks,
    timeline,
)
from collections_core.contracts.collections.v1 import cases_pb2, contacts_pb2, placements_pb2
from collections_core.money import Money
from collections_core.unit_of_work import UnitOfWork
from collections_core.wire import date_to_proto, instant_to_proto

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


async def open_case(work: UnitOfWork, strategy: Strategy, account_id: str, customer_id: str,
                    state: Delinquency):
    episodes = (await work.connection.execute(select(func.count()).select_from(cases).where(
        cases.c.account_id == account_id))).scalar_one()
    case_id = case_id_for(account_id, episodes + 1)
    variant = strategy.variant_of(account_id)
    await work.connection.execute(insert(cases).values(
        case_id=case_id, account_id=account_id, customer_id=customer_id, status="open",
        stage=Stage.REMINDER.label, strategy_id=strategy.id, strategy_version=strategy.version, variant=variant,
        currency=state.past_due.currency, dpd=state.dpd, bucket=state.bucket,
        past_due_minor=state.past_due.amount_minor, balance_minor=state.balance.amount_minor,
        opened_on=state.business_date, opened_at=work.now))
    await note(work, case_id, "case-opened", f"dpd {state.dpd}", strategy=f"{strategy.id}@{strategy.version}",
               variant=variant)
    work.emit(CASE_EVENTS, cases_pb2.CaseOpened(
        case_id=case_id, account_id=account_id, customer_id=customer_id, stage=cases_pb2.STAGE_REMINDER,
        dpd=state.dpd, opened_at=instant_to_proto(work.now)), key=account_id)
    metrics.CASES_OPENED.labels(variant).inc()
    return await open_case_of(work, account_id)


def business_day(work: UnitOfWork, case) -> date:
    """The case's business day for inputs that carry none (the desk, partners): the clock's
    date, or the last business date the detector reported when that is later."""
    return max(work.now.date(), case.last_evaluated_on or work.now.date())


async def open_case_of(work: UnitOfWork, account_id: str):
    return (await work.connection.execute(
        select(cases).where(cases.c.account_id == account_id, cases.c.status == "open"))).first()


async def note(work: UnitOfWork, case_id: str, entry: str, detail: str = "", *, rule: str | None = None,
               strategy: str | None = None, variant: str | None = None, actor: str | None = None) -> None:
    await work.connection.execute(insert(timeline).values(
        case_id=case_id, at=work.now, entry=entry, detail=detail[:400], rule=rule, strategy=strategy,
        variant=variant, actor=actor))


async def load_facts(work: UnitOfWork, case, day: date) -> CaseFacts:
    connection = work.connection
    hold_rows = (await connection.execute(select(holds).where(
        holds.c.case_id == case.case_id, holds.c.ended_on.is_(None)))).all()
    flags = (await connection.execute(select(account_flags.c.flag).where(
        account_flags.c.account_id == case.account_id))).scalars().all()
    done = dict((await connection.execute(select(case_actions.c.key, case_actions.c.last_on).where(
        case_actions.c.case_id == case.case_id))).all())
    plan = (await connection.execute(select(plans.c.status).where(plans.c.case_id == case.case_id)
                                      .order_by(plans.c.created_on.desc()))).scalar()
    return CaseFacts(
        account_id=case.account_id, business_date=day, dpd=case.dpd, bucket=case.bucket,
        past_due_minor=case.past_due_minor, balance_minor=case.balance_minor, stage=Stage.of(case.stage),
        variant=case.variant, segment=case.segment,
        holds=active_holds([Hold(h.kind, h.started_on, h.until_on) for h in hold_rows], day),
        flags=frozenset(flags), last_right_party_contact=case.last_right_party_contact_on,
        promises_broken=case.promises_broken, plan=plan or "none", returned_by_agency=case.returned_by_agency,
        pre_notice_delivered_on=case.pre_notice_delivered_on, done=done)


async def carry_out(work: UnitOfWork, strategy: Strategy, case, decision: DayDecision) -> None:
    """Save the day's decision and emit what it asks for. A day that changes nothing
    leaves no trace but the case's last evaluated date."""
    label = f"{strategy.id}@{strategy.version}"
    day = decision.business_date
    metrics.DECISIONS.labels(decision.rule, case.variant).inc()
    # A correction of an older day re-decides it without moving the case back in time.
    values = {"last_evaluated_on": max(day, case.last_evaluated_on or day)}
    if decision.moved_from is not None:
        values["stage"] = decision.stage.label
        await note(work, case.case_id, "stage-changed", f"{decision.moved_from.label} → {decision.stage.label}",
                   rule=decision.rule, strategy=label, variant=case.variant)
        work.emit(CASE_EVENTS, cases_pb2.StageChanged(
            case_id=case.case_id, account_id=case.account_id, from_stage=int(decision.moved_from),
            to_stage=int(decision.stage), rule=decision.rule, changed_at=instant_to_proto(work.now),
            strategy_id=strategy.id, strategy_version=strategy.version, variant=case.variant,
            business_date=date_to_proto(day)), key=case.account_id)
    await work.connection.execute(update(cases).where(cases.c.case_id == case.case_id).values(**values))
    for act in decision.acts:
        await _act(work, case, act, day, label, strategy)
        done = {"case_id": case.case_id, "key": act.key}
        changed = await work.connection.execute(update(case_actions).where(
            case_actions.c.case_id == case.case_id, case_actions.c.key == act.key).values(last_on=day))
        if changed.rowcount == 0:
            await work.connection.execute(insert(case_actions).values(**done, last_on=day))


async def _act(work: UnitOfWork, case, act: Act, day: date, label: str, strategy) -> None:
    action, kind = act.action, act.action.kind
    made = request_id(case.case_id, day, act.rule, act.key)
    explain = {"rule": act.rule, "strategy": label, "variant": case.variant}
    if kind in ("contact", "credit-pre-notice"):
        purpose = "credit-pre-notice" if kind == "credit-pre-notice" else action.purpose
        await request_contact(work, case, made, action.channel, action.template, purpose, day,
                              report_after=day + timedelta(days=strategy.humane.credit_pre_notice_wait_days))
        await note(work, case.case_id, "contact-requested", f"{action.channel} {made} {action.template}", **explain)
    elif kind in ("call-task", "field-visit", "follow-up"):
        due = day + timedelta(days=action.after_days) if kind == "follow-up" else day
        await create_task(work, case, made, {"call-task": "call"}.get(kind, kind), action.queue,
                          getattr(action, "priority", 5), due, getattr(action, "collectors", 1), act.rule)
        await note(work, case.case_id, "task-created", f"{kind} {made} queue {action.queue}", **explain)
    elif kind in ("agency-placement", "legal-referral"):
        placement_kind = "agency" if kind == "agency-placement" else "legal"
        await work.connection.execute(insert(placements).values(
            placement_id=made, case_id=case.case_id, account_id=case.account_id, kind=placement_kind,
            status="requested", requested_at=work.now))
        work.emit(PLACEMENTS, placements_pb2.PlacementRequested(
            placement_id=made, case_id=case.case_id, account_id=case.account_id, customer_id=case.customer_id,
            kind=placements_pb2.PLACEMENT_KIND_AGENCY if placement_kind == "agency" else placements_pb2.PLACEMENT_KIND_LEGAL,
            amount=Money(case.past_due_minor, case.currency).to_proto(), dpd=case.dpd,
            requested_at=instant_to_proto(work.now),
            expires_on=date_to_proto(day + timedelta(days=action.expires_after_days))), key=case.account_id)
        await note(work, case.case_id, "placement-requested", f"{placement_kind} {made}", **explain)
    elif kind == "credit-report":
        work.emit(CASE_EVENTS, cases_pb2.CreditBureauReportRequested(
            case_id=case.case_id, account_id=case.account_id, customer_id=case.customer_id, dpd=case.dpd,
            requested_at=instant_to_proto(work.now)), key=case.account_id, event_id=made)
        await note(work, case.case_id, "credit-report-requested", f"dpd {case.dpd}", **explain)


PAY_BY_DAYS = 14  # the date a collection letter asks payment by, from the day it is requested


def account_reference(account_id: str) -> str:
    """What the customer knows the account by in a message: its last four characters."""
    return account_id[-4:]


async def request_contact(work: UnitOfWork, case, made: str, channel: str, template: str, purpose: str,
                          day: date, report_after: date) -> None:
    """Ask the notifier for a contact; the parameters are the ones its templates read
    (services/notifier/README.md), named as it names them."""
    await work.connection.execute(insert(contact_requests).values(
        request_id=made, case_id=case.case_id, account_id=case.account_id, customer_id=case.customer_id,
        channel=channel, template=template, purpose=purpose, status="requested", requested_at=work.now))
    work.emit(CONTACT_REQUESTS, contacts_pb2.ContactRequested(
        request_id=made, account_id=case.account_id, customer_id=case.customer_id, case_id=case.case_id,
        channel=_CHANNELS[channel], template=template,
        parameters={"amount_minor": str(case.past_due_minor), "currency": case.currency,
                    "card_last4": account_reference(case.account_id), "days_past_due": str(case.dpd),
                    "as_of_date": day.isoformat(), "pay_by_date": (day + timedelta(days=PAY_BY_DAYS)).isoformat(),
                    "report_after_date": report_after.isoformat(), "purpose": purpose},
        requested_at=instant_to_proto(work.now)), key=case.customer_id, subject=case.account_id)


async def create_task(work: UnitOfWork, case, task_id: str, kind: str, queue: str, priority: int, due: date,
                      collectors: int = 1, rule: str | None = None) -> None:
    await work.connection.execute(insert(tasks).values(
        task_id=task_id, case_id=case.case_id, account_id=case.account_id, kind=kind, queue=queue,
        priority=priority, status="waiting", due_on=due, collectors=collectors, rule=rule, created_at=work.now))


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


async def expire_holds(work: UnitOfWork, case, day: date) -> None:
    """Holds whose last day has passed end on the timeline (promise and plan holds end with their judgement)."""
    expired = (await work.connection.execute(select(holds.c.kind).where(
        holds.c.case_id == case.case_id, holds.c.ended_on.is_(None), holds.c.until_on < day,
        holds.c.kind.not_in(("promise", "plan"))))).scalars().all()
    for kind in set(expired):
        await end_holds(work, case, kind, day, "its period ended")


async def record_behaviour(work: UnitOfWork, case, behaviour: str, detail: str = "") -> None:
    await work.connection.execute(insert(credit_file).values(
        customer_id=case.customer_id, account_id=case.account_id, case_id=case.case_id, behaviour=behaviour,
        recorded_at=work.now, detail=detail[:200]))
    work.emit(CASE_EVENTS, cases_pb2.CreditBehaviourRecorded(
        customer_id=case.customer_id, account_id=case.account_id, case_id=case.case_id,
        behaviour=BEHAVIOURS[behaviour], recorded_at=instant_to_proto(work.now)), key=case.account_id)


async def recall_placements(work: UnitOfWork, case, reason: str) -> None:
    live = (await work.connection.execute(select(placements.c.placement_id).where(
        placements.c.case_id == case.case_id, placements.c.status.in_(("requested", "accepted"))))).scalars().all()
    for placement_id in live:
        await work.connection.execute(update(placements).where(placements.c.placement_id == placement_id)
                                      .values(status="recalled"))
        work.emit(PLACEMENTS, placements_pb2.RecallRequested(
            placement_id=placement_id, account_id=case.account_id, reason=reason,
            requested_at=instant_to_proto(work.now)), key=case.account_id)
        await note(work, case.case_id, "recall-requested", f"{placement_id} {reason}")


async def close_case(work: UnitOfWork, strategy: Strategy, case, reason: str, day: date,
                     actor: str | None = None) -> None:
    """A cure or a completed plan: stop every pending contact, cancel open tasks, recall
    placements, end holds, and schedule the follow-up call (定期回访)."""
    connection = work.connection
    pending = (await connection.execute(select(contact_requests.c.request_id).where(
        contact_requests.c.case_id == case.case_id,
        contact_requests.c.status.in_(("requested", "deferred"))))).scalars().all()
    for made in pending:
        work.emit(CONTACT_REQUESTS, contacts_pb2.ContactCancelled(
            request_id=made, account_id=case.account_id, customer_id=case.customer_id, reason=reason),
            key=case.customer_id, subject=case.account_id)
    if pending:
        await connection.execute(update(contact_requests).where(contact_requests.c.request_id.in_(pending))
                                 .values(status="cancelled"))
        await note(work, case.case_id, "contacts-cancelled", f"{len(pending)} pending: {reason}")
    await connection.execute(update(tasks).where(tasks.c.case_id == case.case_id, tasks.c.status == "waiting")
                             .values(status="cancelled", assignee=None, lease_expires_at=None))
    await recall_placements(work, case, reason)
    await connection.execute(update(holds).where(holds.c.case_id == case.case_id, holds.c.ended_on.is_(None))
                             .values(ended_on=day))
    await connection.execute(update(cases).where(cases.c.case_id == case.case_id).values(
        status="closed", closed_at=work.now, close_reason=reason))
    await create_task(work, case, request_id(case.case_id, day, "humane.follow-up", reason), "follow-up",
                      "follow-up", 7, day + timedelta(days=strategy.humane.follow_up_after_days), rule="humane.follow-up")
    await note(work, case.case_id, "case-closed", reason, actor=actor)
    work.emit(CASE_EVENTS, cases_pb2.CaseClosed(
        case_id=case.case_id, account_id=case.account_id, reason=reason, closed_at=instant_to_proto(work.now)),
        key=case.account_id)
    metrics.CASES_CLOSED.labels(case.stage, reason, case.variant).inc()


def lease_is_free(now: datetime):
    """A task may be claimed when it waits and nobody holds an unexpired lease on it."""
    return and_(tasks.c.status == "waiting", or_(tasks.c.lease_expires_at.is_(None), tasks.c.lease_expires_at <= now))
