"""One business day of one case: which rule fires and what the bank does about it.

``decide_day(facts, strategy)`` is the single place where the ladder is applied;
the daily event handler, a correction and an API preview all call it.

- A hold (promise, plan, hardship, dispute, breathing space) or a flag that stops
  escalation (bankruptcy, deceased) wins over every rule: the case stays where it
  is and nothing is done that day. The decision names the hold as its rule.
- Otherwise the strategy's rules are read top-down, skipping rules below the
  case's stage (a case never moves down the ladder on its own: a partial payment
  that lowers the DPD keeps a placement in place), and the first match fires.
- An action is due when it was never done for the case, or, when it repeats,
  its interval has passed since it was last done. So the same day evaluated twice
  does nothing the second time, whatever redelivery or replay brought it back.
- A credit-bureau report waits until a delivered pre-notice's waiting period has
  passed (credit_reporting.py); until then it is reported as waiting, not done.
- Flags that stop contact drop the actions that would reach the customer;
  a vulnerable customer's calls and visits go to the specialist queue.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date

from case_router.domain.credit_reporting import may_report
from case_router.domain.holds import CONTACTING, NO_CONTACT_FLAGS, NO_ESCALATION_FLAGS
from case_router.domain.strategy import ONCE_PER_CASE, Action, CallTask, FieldVisit, Rule, Stage, Strategy

# Rule ids of decisions no strategy rule made.
NO_RULE_MATCHED = "ladder.no-rule-matched"
_REQUESTS = uuid.UUID("6f1d9a52-3c1b-4d5e-9f0a-8b7c2e4d1a30")


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """What is true of one case on one business day, as plain values."""

    account_id: str
    business_date: date
    dpd: int
    bucket: str
    past_due_minor: int
    balance_minor: int
    stage: Stage
    variant: str
    segment: str = "retail"
    holds: frozenset[str] = frozenset()
    flags: frozenset[str] = frozenset()
    last_right_party_contact: date | None = None
    promises_broken: int = 0
    plan: str = "none"
    returned_by_agency: bool = False
    pre_notice_delivered_on: date | None = None
    # Action key → the last business day it was done.
    done: Mapping[str, date] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Act:
    """An action the day's rule takes; `key` names it within the case."""

    action: Action
    rule: str
    key: str


@dataclass(frozen=True, slots=True)
class DayDecision:
    business_date: date
    rule: str
    stage: Stage
    moved_from: Stage | None = None
    acts: tuple[Act, ...] = ()
    # Actions the rule asks for that may not happen yet (e.g. a report before its notice period ended).
    waiting: tuple[Act, ...] = ()
    held_by: frozenset[str] = frozenset()

    @property
    def changes_anything(self) -> bool:
        return self.moved_from is not None or bool(self.acts)


def decide_day(facts: CaseFacts, strategy: Strategy) -> DayDecision:
    day = facts.business_date
    stopped = sorted(facts.holds) or sorted(facts.flags & NO_ESCALATION_FLAGS)
    if stopped:
        kind = "hold" if facts.holds else "flag"
        return DayDecision(day, f"{kind}.{stopped[0]}", facts.stage, held_by=facts.holds | (facts.flags & NO_ESCALATION_FLAGS))
    rule = next((r for r in strategy.rules if r.stage_level >= facts.stage and matches(r, facts)), None)
    if rule is None:
        return DayDecision(day, NO_RULE_MATCHED, facts.stage)
    acts, waiting = [], []
    for index, action in enumerate(rule.actions):
        act = Act(_routed(action, facts, strategy), rule.id, action_key(rule, index))
        if not _due(act, facts.done.get(act.key), day):
            continue
        if facts.flags & NO_CONTACT_FLAGS and action.kind in CONTACTING:
            continue
        if action.kind == "credit-report" and not may_report(
                facts.pre_notice_delivered_on, day, strategy.humane.credit_pre_notice_wait_days, facts.dpd):
            waiting.append(act)
            continue
        acts.append(act)
    moved_from = facts.stage if rule.stage_level > facts.stage else None
    return DayDecision(day, rule.id, rule.stage_level, moved_from, tuple(acts), tuple(waiting))


def matches(rule: Rule, facts: CaseFacts) -> bool:
    when = rule.when
    # Cheapest and most selective first; the first condition that fails decides.
    return (
        (when.dpd is None or when.dpd.holds(facts.dpd))
        and (when.variants is None or facts.variant in when.variants)
        and (when.buckets is None or facts.bucket in when.buckets)
        and (when.past_due_minor is None or when.past_due_minor.holds(facts.past_due_minor))
        and (when.balance_minor is None or when.balance_minor.holds(facts.balance_minor))
        and (when.segments is None or facts.segment in when.segments)
        and (when.no_right_party_contact_days is None or facts.last_right_party_contact is None
             or (facts.business_date - facts.last_right_party_contact).days >= when.no_right_party_contact_days)
        and (when.promises_broken is None or when.promises_broken.holds(facts.promises_broken))
        and (when.plan is None or facts.plan == when.plan)
        and (when.returned_by_agency is None or facts.returned_by_agency == when.returned_by_agency)
    )


def action_key(rule: Rule, index: int) -> str:
    action = rule.actions[index]
    return action.kind if action.kind in ONCE_PER_CASE else f"{rule.id}#{index}"


def _due(act: Act, last_done: date | None, day: date) -> bool:
    if last_done is None:
        return True
    every = getattr(act.action, "every_days", None)
    return every is not None and (day - last_done).days >= every


def _routed(action: Action, facts: CaseFacts, strategy: Strategy) -> Action:
    if "vulnerable" in facts.flags and isinstance(action, CallTask | FieldVisit):
        return action.model_copy(update={"queue": strategy.humane.specialist_queue})
    return action


def apply(facts: CaseFacts, decision: DayDecision) -> CaseFacts:
    """The facts after the decision was carried out: the stage it set and the actions it did."""
    done = dict(facts.done)
    for act in decision.acts:
        done[act.key] = decision.business_date
    return replace(facts, stage=decision.stage, done=done)


def request_id(case_id: str, day: date, rule: str, key: str) -> str:
    """Deterministic id of the request an action makes (a contact, a task, a placement):
    redelivering the same day can only ever produce the same ids."""
    return str(uuid.uuid5(_REQUESTS, f"{case_id}/{day.isoformat()}/{rule}/{key}"))
