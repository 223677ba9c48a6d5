"""The daily re-evaluation of many accounts at once (decision 0053).

The consumer hands the router every run of consecutive delinquency events of a poll
batch in one call. The run is cut into rounds in which each account appears once (an
account's second event of the run is in the second round, and so on). A round:

1. loads the facts of all its accounts with one query per table: open cases and the
   number of earlier episodes, active promises, plans, holds in force, flags and the
   action ledger;
2. decides each account in memory, in delivery order, exactly as one event at a time
   would: open the case if needed, record the day's bucket, judge promises and the plan
   (``judge_promise``, ``judge_plan``), end lapsed holds (``lapsed_kinds``), then
   ``decide_day`` and carry out its decision;
3. saves every table's rows with one statement each (``rows.py``).

Accounts share nothing the day reads, so a round has the effects of its events handled
one after another, and the next round reads what the last one wrote. A plan that the
day finds completed closes its case with ``casebook.close_cases`` once the round's rows
are saved (it reads the cases' pending contacts, tasks and placements): the same code a
cure runs.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import SimpleNamespace

from sqlalchemy import select

from case_router import casebook, metrics
from case_router.casebook import CASE_EVENTS, CONTACT_REQUESTS, PLACEMENTS, Delinquency, case_id_for
from case_router.domain.holds import Hold, active_holds, lapsed_kinds
from case_router.domain.ladder import Act, CaseFacts, DayDecision, decide_day, request_id
from case_router.domain.plans import judge_plan
from case_router.domain.promises import PromiseToPay, judge_promise
from case_router.domain.strategy import Stage, Strategy
from case_router.judgement import repayment_plan
from case_router.rows import Rows
from case_router.tables import account_flags, case_actions, cases, holds, plans, promises
from collections_core.codec import Event
from collections_core.contracts.collections.v1 import cases_pb2, placements_pb2
from collections_core.money import Money
from collections_core.queries import among
from collections_core.unit_of_work import UnitOfWork
from collections_core.wire import date_to_proto, instant_to_proto


@dataclass(frozen=True, slots=True)
class DayReport:
    """One delinquency event: the detector's view of an account on a business day."""

    event: Event
    account_id: str
    customer_id: str
    state: Delinquency
    correction: bool


@dataclass(slots=True)
class Book:
    """What a round knows of its accounts; rows are mutable records kept current as it decides."""

    open_cases: dict[str, SimpleNamespace] = field(default_factory=dict)
    episodes: Counter = field(default_factory=Counter)
    promises: dict[str, list] = field(default_factory=lambda: defaultdict(list))
    plans: dict[str, list] = field(default_factory=lambda: defaultdict(list))
    holds: dict[str, list] = field(default_factory=lambda: defaultdict(list))
    flags: dict[str, set] = field(default_factory=lambda: defaultdict(set))
    done: dict[str, dict[str, date]] = field(default_factory=lambda: defaultdict(dict))


async def evaluate_days(work: UnitOfWork, strategy: Strategy, reports: Sequence[DayReport]) -> None:
    for round_ in rounds(reports):
        book = await load(work, [report.account_id for report in round_])
        rows = Rows()
        day = _Day(work, strategy, book, rows)
        for report in round_:
            day.evaluate(report)
        day.count()
        await rows.save(work.connection)
        await casebook.close_cases(work, strategy, rows.closings)


def rounds(reports: Sequence[DayReport]) -> list[list[DayReport]]:
    """Delivery order kept; an account's n-th report of the run goes to the n-th round."""
    found: list[list[DayReport]] = []
    seen: Counter = Counter()
    for report in reports:
        n = seen[report.account_id]
        seen[report.account_id] += 1
        if n == len(found):
            found.append([])
        found[n].append(report)
    return found


def _records(result) -> list[SimpleNamespace]:
    return [SimpleNamespace(**row._mapping) for row in result]


async def load(work: UnitOfWork, accounts: list[str]) -> Book:
    connection, book = work.connection, Book()
    for case in _records(await connection.execute(select(cases).where(
            among(connection, cases.c.account_id, accounts)))):
        book.episodes[case.account_id] += 1
        if case.status == "open":
            book.open_cases[case.account_id] = case
    case_ids = [case.case_id for case in book.open_cases.values()]
    for flag in (await connection.execute(select(account_flags.c.account_id, account_flags.c.flag)
                                          .where(among(connection, account_flags.c.account_id, accounts)))).all():
        book.flags[flag.account_id].add(flag.flag)
    if not case_ids:
        return book
    for promise in _records(await connection.execute(select(promises).where(
            among(connection, promises.c.case_id, case_ids), promises.c.status == "active")
            .order_by(promises.c.due_on, promises.c.promise_id))):
        book.promises[promise.case_id].append(promise)
    for plan in _records(await connection.execute(select(plans).where(among(connection, plans.c.case_id, case_ids))
                                                  .order_by(plans.c.created_on, plans.c.plan_id))):
        book.plans[plan.case_id].append(plan)
    for hold in _records(await connection.execute(select(holds).where(
            among(connection, holds.c.case_id, case_ids), holds.c.ended_on.is_(None)).order_by(holds.c.hold_id))):
        book.holds[hold.case_id].append(hold)
    for done in (await connection.execute(select(case_actions).where(
            among(connection, case_actions.c.case_id, case_ids)))).all():
        book.done[done.case_id][done.key] = done.last_on
    return book


class _Day:
    """Decides a round's reports one by one against the book, writing into `rows`."""

    def __init__(self, work: UnitOfWork, strategy: Strategy, book: Book, rows: Rows) -> None:
        self.work, self.strategy, self.book, self.rows = work, strategy, book, rows
        self.label = f"{strategy.id}@{strategy.version}"
        self.stamp = instant_to_proto(work.now)  # every event of the round carries the same instant
        self.decisions: Counter = Counter()
        self.opened: Counter = Counter()

    def evaluate(self, report: DayReport) -> None:
        state, on = report.state, report.state.business_date
        case = self.book.open_cases.get(report.account_id)
        if case is None:
            if state.dpd == 0:
                return
            case = self._open_case(report)
        elif case.last_evaluated_on and on < case.last_evaluated_on and not report.correction:
            return  # stale: a later day was evaluated already
        self.rows.day(case.account_id, on, state.bucket, case.variant)
        case.dpd, case.bucket = state.dpd, state.bucket
        case.past_due_minor, case.balance_minor = state.past_due.amount_minor, state.balance.amount_minor
        self.rows.case_changed(case)
        if self._judge(case, on, report.event):
            return  # a completed plan resolves the case
        in_force = self.book.holds[case.case_id]
        for kind in lapsed_kinds([_hold(h) for h in in_force], on):
            self._end_holds(case, kind, on, "its period ended")
        self._carry_out(case, decide_day(self._facts(case, on), self.strategy), report.event)

    def count(self) -> None:
        """Metrics once per round, not once per event: labels() costs more than the increment."""
        for (rule, variant), n in self.decisions.items():
            metrics.DECISIONS.labels(rule, variant).inc(n)
        for variant, n in self.opened.items():
            metrics.CASES_OPENED.labels(variant).inc(n)

    def _note(self, case, entry: str, detail: str = "", **explain) -> None:
        self.rows.timeline.append(casebook.timeline_row(case.case_id, self.work.now, entry, detail, **explain))

    def _emit(self, topic: str, message, key: str, cause: Event, **options) -> None:
        self.work.emit(topic, message, key=key, cause=cause, **options)

    def _open_case(self, report: DayReport) -> SimpleNamespace:
        strategy, state, now = self.strategy, report.state, self.work.now
        account_id = report.account_id
        self.book.episodes[account_id] += 1
        variant = strategy.variant_of(account_id)
        case = SimpleNamespace(
            case_id=case_id_for(account_id, self.book.episodes[account_id]), account_id=account_id,
            customer_id=report.customer_id, status="open", stage=Stage.REMINDER.label, strategy_id=strategy.id,
            strategy_version=strategy.version, variant=variant, segment="retail", currency=state.past_due.currency,
            dpd=state.dpd, bucket=state.bucket, past_due_minor=state.past_due.amount_minor,
            balance_minor=state.balance.amount_minor, opened_on=state.business_date, opened_at=now, closed_at=None,
            close_reason=None, last_evaluated_on=None, last_right_party_contact_on=None,
            pre_notice_delivered_on=None, promises_broken=0, returned_by_agency=False)
        self.book.open_cases[account_id] = case
        self.rows.case_opened(case)
        self._note(case, "case-opened", f"dpd {state.dpd}", strategy=self.label, variant=variant)
        self._emit(CASE_EVENTS, cases_pb2.CaseOpened(
            case_id=case.case_id, account_id=account_id, customer_id=case.customer_id, stage=cases_pb2.STAGE_REMINDER,
            dpd=state.dpd, opened_at=self.stamp), account_id, report.event)
        self.opened[variant] += 1
        return case

    def _judge(self, case, on: date, cause: Event) -> bool:
        """The humane rules as of `on`: promises kept or broken, the plan broken or completed.
        True when a completed plan is to close the case."""
        humane = self.strategy.humane
        active = self.book.promises[case.case_id]
        for promise in list(active):
            verdict = judge_promise(PromiseToPay(promise.amount_minor, promise.due_on, promise.taken_on,
                                                 promise.paid_minor), on, humane.promise_tolerance_days)
            if verdict == "active":
                continue
            active.remove(promise)
            self.rows.promise_judged(promise.promise_id, verdict)
            self._note(case, f"promise-{verdict}", promise.promise_id, rule="humane.promise")
            self._end_holds(case, "promise", on, f"promise {verdict}")
            if verdict == "broken":
                case.promises_broken += 1
            self._behaviour(case, f"promise-{verdict}", promise.promise_id, cause)
        plan = next((p for p in self.book.plans[case.case_id] if p.status == "active"), None)
        if plan is None:
            return False
        verdict = judge_plan(repayment_plan(plan), on, humane.plan_grace_days)
        if verdict == "active":
            return False
        plan.status = verdict
        self.rows.plan_judged(plan.plan_id, verdict)
        self._note(case, f"plan-{verdict}", plan.plan_id, rule="humane.plan")
        self._behaviour(case, f"plan-{verdict}", plan.plan_id, cause)
        if verdict == "completed":
            self.rows.closings.append(casebook.Closing(case, "plan-completed", on, cause=cause))
            del self.book.open_cases[case.account_id]
            return True
        self._end_holds(case, "plan", on, "plan broken")
        return False

    def _end_holds(self, case, kind: str, on: date, why: str) -> None:
        in_force = self.book.holds[case.case_id]
        ending = [hold for hold in in_force if hold.kind == kind]
        for hold in ending:
            in_force.remove(hold)
            self.rows.hold_ended(hold.hold_id, on)
        if ending:
            self._note(case, "hold-ended", f"{kind}: {why}", rule=f"hold.{kind}")

    def _behaviour(self, case, kind: str, detail: str, cause: Event) -> None:
        row, message = casebook.behaviour(case, kind, detail, self.work.now)
        self.rows.credit_file.append(row)
        self._emit(CASE_EVENTS, message, case.account_id, cause)

    def _facts(self, case, on: date) -> CaseFacts:
        plans_ = self.book.plans[case.case_id]
        return CaseFacts(
            account_id=case.account_id, business_date=on, dpd=case.dpd, bucket=case.bucket,
            past_due_minor=case.past_due_minor, balance_minor=case.balance_minor, stage=Stage.of(case.stage),
            variant=case.variant, segment=case.segment,
            holds=active_holds([_hold(h) for h in self.book.holds[case.case_id]], on),
            flags=frozenset(self.book.flags[case.account_id]),
            last_right_party_contact=case.last_right_party_contact_on,
            promises_broken=case.promises_broken, plan=plans_[-1].status if plans_ else "none",
            returned_by_agency=case.returned_by_agency, pre_notice_delivered_on=case.pre_notice_delivered_on,
            done=self.book.done[case.case_id])

    def _carry_out(self, case, decision: DayDecision, cause: Event) -> None:
        """The day's decision as rows and events. A day that changes nothing leaves no
        trace but the case's last evaluated date."""
        on, strategy = decision.business_date, self.strategy
        self.decisions[decision.rule, case.variant] += 1
        # A correction of an older day re-decides it without moving the case back in time.
        case.last_evaluated_on = max(on, case.last_evaluated_on or on)
        if decision.moved_from is not None:
            case.stage = decision.stage.label
            self._note(case, "stage-changed", f"{decision.moved_from.label} → {decision.stage.label}",
                       rule=decision.rule, strategy=self.label, variant=case.variant)
            self._emit(CASE_EVENTS, cases_pb2.StageChanged(
                case_id=case.case_id, account_id=case.account_id, from_stage=int(decision.moved_from),
                to_stage=int(decision.stage), rule=decision.rule, changed_at=self.stamp,
                strategy_id=strategy.id, strategy_version=strategy.version, variant=case.variant,
                business_date=date_to_proto(on)), case.account_id, cause)
        done = self.book.done[case.case_id]
        for act in decision.acts:
            self._act(case, act, on, cause)
            done[act.key] = on
            self.rows.action_done(case.case_id, act.key, on)

    def _act(self, case, act: Act, on: date, cause: Event) -> None:
        action, kind, now = act.action, act.action.kind, self.work.now
        made = request_id(case.case_id, on, act.rule, act.key)
        explain = {"rule": act.rule, "strategy": self.label, "variant": case.variant}
        if kind in ("contact", "credit-pre-notice"):
            purpose = "credit-pre-notice" if kind == "credit-pre-notice" else action.purpose
            row, message = casebook.contact_request(
                case, made, action.channel, action.template, purpose, on,
                on + timedelta(days=self.strategy.humane.credit_pre_notice_wait_days), now)
            self.rows.contact_requests.append(row)
            self._emit(CONTACT_REQUESTS, message, case.customer_id, cause, subject=case.account_id)
            self._note(case, "contact-requested", f"{action.channel} {made} {action.template}", **explain)
        elif kind in ("call-task", "field-visit", "follow-up"):
            due = on + timedelta(days=action.after_days) if kind == "follow-up" else on
            self.rows.tasks.append(casebook.task_row(
                case, made, {"call-task": "call"}.get(kind, kind), action.queue, getattr(action, "priority", 5), due,
                now, getattr(action, "collectors", 1), act.rule))
            self._note(case, "task-created", f"{kind} {made} queue {action.queue}", **explain)
        elif kind in ("agency-placement", "legal-referral"):
            placement_kind = "agency" if kind == "agency-placement" else "legal"
            self.rows.placements.append({
                "placement_id": made, "case_id": case.case_id, "account_id": case.account_id,
                "kind": placement_kind, "status": "requested", "requested_at": now})
            self._emit(PLACEMENTS, placements_pb2.PlacementRequested(
                placement_id=made, case_id=case.case_id, account_id=case.account_id, customer_id=case.customer_id,
                kind=placements_pb2.PLACEMENT_KIND_AGENCY if placement_kind == "agency"
                else placements_pb2.PLACEMENT_KIND_LEGAL,
                amount=Money(case.past_due_minor, case.currency).to_proto(), dpd=case.dpd,
                requested_at=self.stamp,
                expires_on=date_to_proto(on + timedelta(days=action.expires_after_days))), case.account_id, cause)
            self._note(case, "placement-requested", f"{placement_kind} {made}", **explain)
        elif kind == "credit-report":
            self._emit(CASE_EVENTS, cases_pb2.CreditBureauReportRequested(
                case_id=case.case_id, account_id=case.account_id, customer_id=case.customer_id, dpd=case.dpd,
                requested_at=self.stamp), case.account_id, cause, event_id=made)
            self._note(case, "credit-report-requested", f"dpd {case.dpd}", **explain)


def _hold(row) -> Hold:
    return Hold(row.kind, row.started_on, row.until_on)
