"""Repayment plans (分期还款 / 最低还款计划).

A plan is a list of instalments (due date, amount). Payments made since the plan
started count toward the instalments in order. The plan is broken when an
instalment's due date plus the grace has passed and the payments so far do not
cover every instalment up to it; it is completed when they cover all of them
(completing a plan resolves the case). A minimum-payment plan is the same shape
with equal, smaller instalments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

PLAN_KINDS = ("instalments", "minimum-payment")


class InvalidPlan(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Instalment:
    due_on: date
    amount_minor: int


@dataclass(frozen=True, slots=True)
class RepaymentPlan:
    kind: str
    instalments: tuple[Instalment, ...]
    paid_minor: int = 0

    def __post_init__(self) -> None:
        if self.kind not in PLAN_KINDS:
            raise InvalidPlan(f"unknown plan kind {self.kind!r}")
        if not self.instalments:
            raise InvalidPlan("a plan has at least one instalment")
        if any(i.amount_minor <= 0 for i in self.instalments):
            raise InvalidPlan("every instalment is a positive amount")
        dates = [i.due_on for i in self.instalments]
        if dates != sorted(dates) or len(set(dates)) != len(dates):
            raise InvalidPlan("instalments fall due on distinct, increasing dates")

    @property
    def total_minor(self) -> int:
        return sum(i.amount_minor for i in self.instalments)


def split_into_instalments(total_minor: int, count: int, first_due: date, every_days: int = 30) -> tuple[Instalment, ...]:
    """Equal instalments; the remainder of the division goes on the first, so the
    plan adds up to the total to the fen."""
    if total_minor <= 0 or count < 1 or total_minor < count:
        raise InvalidPlan("a plan splits a positive total into at least one instalment of at least one minor unit")
    share, remainder = divmod(total_minor, count)
    return tuple(Instalment(first_due + timedelta(days=every_days * n), share + (remainder if n == 0 else 0))
                 for n in range(count))


def judge_plan(plan: RepaymentPlan, today: date, grace_days: int) -> str:
    """"completed", "broken" or "active" on `today`."""
    if plan.paid_minor >= plan.total_minor:
        return "completed"
    owed = 0
    for instalment in plan.instalments:
        owed += instalment.amount_minor
        if today > instalment.due_on + timedelta(days=grace_days) and plan.paid_minor < owed:
            return "broken"
    return "active"
