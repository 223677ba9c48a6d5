"""Promises to pay (承诺还款).

A promise is an amount by a date. Payments made from the day it was taken count
toward it. It is kept as soon as they reach the amount (even before the date); it
is broken when the date plus the strategy's tolerance has passed without that.
While it is neither, it holds escalation (see holds.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


class InvalidPromise(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class PromiseToPay:
    amount_minor: int
    due_on: date
    taken_on: date
    paid_minor: int = 0

    def __post_init__(self) -> None:
        if self.amount_minor <= 0:
            raise InvalidPromise("a promise is for a positive amount")
        if self.due_on < self.taken_on:
            raise InvalidPromise("a promise cannot fall due before it was made")

    def hold_until(self, tolerance_days: int) -> date:
        return self.due_on + timedelta(days=tolerance_days)


def validate_promise(promise: PromiseToPay, max_days: int) -> None:
    if (promise.due_on - promise.taken_on).days > max_days:
        raise InvalidPromise(f"a promise may fall due at most {max_days} days after it was made")


def judge_promise(promise: PromiseToPay, today: date, tolerance_days: int) -> str:
    """"kept", "broken" or "active" on `today`."""
    if promise.paid_minor >= promise.amount_minor:
        return "kept"
    if today > promise.hold_until(tolerance_days):
        return "broken"
    return "active"
