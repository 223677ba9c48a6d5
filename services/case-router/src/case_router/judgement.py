"""The humane rules applied to stored cases: promises, plans, hardship and disputes.

The decisions themselves are the domain's (promises.py, plans.py); this module
loads the rows, asks the domain, and records the outcome (status, holds, the
credit file, the timeline) in the caller's unit of work. The agent desk, partner
activities and payments all come through here, so a promise taken by an agency is
judged exactly like one taken by the bank.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import date

from sqlalchemy import insert, select, update

from case_router import casebook
from case_router.domain.plans import Instalment, RepaymentPlan
from case_router.domain.promises import PromiseToPay, validate_promise
from case_router.domain.strategy import Strategy
from case_router.rows import store_of
from case_router.tables import cases, plans, promises
from collections_core.codec import Event
from collections_core.queries import among
from collections_core.unit_of_work import UnitOfWork

_IDS = uuid.UUID("a3c5e7f9-1b2d-4e6f-8a0c-2e4f6a8c0e1b")


def repayment_plan(row) -> RepaymentPlan:
    return RepaymentPlan(row.kind, tuple(Instalment(date.fromisoformat(d), a) for d, a in json.loads(row.instalments)),
                         row.paid_minor)


async def take_promise(work: UnitOfWork, strategy: Strategy, case, promise: PromiseToPay, source: str,
                       key: str) -> str:
    """A promise holds escalation until its date plus the tolerance."""
    validate_promise(promise, strategy.humane.promise_max_days)
    promise_id = str(uuid.uuid5(_IDS, f"{case.case_id}/promise/{key}"))
    await work.connection.execute(insert(promises).values(
        promise_id=promise_id, case_id=case.case_id, account_id=case.account_id, amount_minor=promise.amount_minor,
        currency=case.currency, due_on=promise.due_on, taken_on=promise.taken_on, paid_minor=0, status="active",
        source=source))
    await casebook.note(work, case.case_id, "promise-taken",
                        f"{promise.amount_minor} {case.currency} by {promise.due_on}", actor=source)
    await casebook.start_hold(work, case, "promise", promise.taken_on,
                              promise.hold_until(strategy.humane.promise_tolerance_days), promise_id, actor=source)
    return promise_id


async def make_plan(work: UnitOfWork, case, plan: RepaymentPlan, made_on: date, actor: str, key: str) -> str:
    """A plan replaces a hardship review and holds escalation while it is kept."""
    plan_id = str(uuid.uuid5(_IDS, f"{case.case_id}/plan/{key}"))
    await work.connection.execute(insert(plans).values(
        plan_id=plan_id, case_id=case.case_id, account_id=case.account_id, kind=plan.kind,
        instalments=json.dumps([[i.due_on.isoformat(), i.amount_minor] for i in plan.instalments]),
        paid_minor=0, status="active", created_on=made_on))
    await casebook.note(work, case.case_id, "plan-agreed",
                        f"{plan.kind}: {len(plan.instalments)} instalments, {plan.total_minor} {case.currency}",
                        actor=actor)
    await casebook.end_holds(work, case, "hardship", made_on, "a plan was agreed", actor=actor)
    await casebook.start_hold(work, case, "plan", made_on, None, plan_id, actor=actor)
    return plan_id


async def apply_payment(work: UnitOfWork, strategy: Strategy, case, amount_minor: int, day: date) -> str | None:
    """Count a payment toward the oldest active promise, else the active plan; returns what it counted toward."""
    promise = (await work.connection.execute(select(promises).where(
        promises.c.case_id == case.case_id, promises.c.status == "active")
        .order_by(promises.c.due_on, promises.c.promise_id))).first()
    if promise is not None:
        paid = promise.paid_minor + amount_minor
        await work.connection.execute(update(promises).where(promises.c.promise_id == promise.promise_id)
                                      .values(paid_minor=paid))
        if paid >= promise.amount_minor:
            await _promise_judged(work, case, promise.promise_id, "kept", day)
        return promise.promise_id
    plan = (await work.connection.execute(select(plans).where(
        plans.c.case_id == case.case_id, plans.c.status == "active")
        .order_by(plans.c.created_on, plans.c.plan_id))).first()
    if plan is not None:
        await work.connection.execute(update(plans).where(plans.c.plan_id == plan.plan_id)
                                      .values(paid_minor=plan.paid_minor + amount_minor))
        if plan.paid_minor + amount_minor >= repayment_plan(plan).total_minor:
            await _plan_judged(work, strategy, case, plan.plan_id, "completed", day)
        return plan.plan_id
    return None


async def take_back_payment(work: UnitOfWork, counted_toward: str, amount_minor: int) -> None:
    """A reversed payment no longer counts toward a promise or plan that is still running."""
    for table, key in ((promises, promises.c.promise_id), (plans, plans.c.plan_id)):
        await work.connection.execute(update(table).where(key == counted_toward, table.c.status == "active")
                                      .values(paid_minor=table.c.paid_minor - amount_minor))


async def settle_on_cure(work: UnitOfWork, cured: Sequence[tuple[object, str, Event | None]]) -> None:
    """Cured cases, each (case, the payment that cured it, the event saying so): their
    active promises are kept and the credit file records that and the cure, case by case
    in the order given and promises oldest first, so it reads the same on any replay."""
    connection = work.connection
    kept: defaultdict[str, list[str]] = defaultdict(list)
    for case_id, promise_id in (await connection.execute(select(promises.c.case_id, promises.c.promise_id).where(
            among(connection, promises.c.case_id, [case.case_id for case, _, _ in cured]),
            promises.c.status == "active").order_by(promises.c.due_on, promises.c.promise_id))).all():
        kept[case_id].append(promise_id)
    await store_of(connection).set_column(
        promises, "promise_id", "status", {p: "kept" for ids in kept.values() for p in ids})
    await casebook.record_behaviours(work, [
        entry for case, payment_id, cause in cured
        for entry in [(case, "promise-kept", p, cause) for p in kept[case.case_id]] + [(case, "cured", payment_id, cause)]])


async def _promise_judged(work: UnitOfWork, case, promise_id: str, verdict: str, day: date) -> None:
    await work.connection.execute(update(promises).where(promises.c.promise_id == promise_id).values(status=verdict))
    await casebook.note(work, case.case_id, f"promise-{verdict}", promise_id, rule="humane.promise")
    await casebook.end_holds(work, case, "promise", day, f"promise {verdict}")
    if verdict == "broken":
        await work.connection.execute(update(cases).where(cases.c.case_id == case.case_id)
                                      .values(promises_broken=cases.c.promises_broken + 1))
    await casebook.record_behaviour(work, case, f"promise-{verdict}", promise_id)


async def _plan_judged(work: UnitOfWork, strategy: Strategy, case, plan_id: str, verdict: str, day: date) -> bool:
    await work.connection.execute(update(plans).where(plans.c.plan_id == plan_id).values(status=verdict))
    await casebook.note(work, case.case_id, f"plan-{verdict}", plan_id, rule="humane.plan")
    await casebook.record_behaviour(work, case, f"plan-{verdict}", plan_id)
    if verdict == "completed":
        await casebook.close_case(work, strategy, case, "plan-completed", day)
        return True
    await casebook.end_holds(work, case, "plan", day, "plan broken")
    return False
