"""Holds and flags: what stops a case from escalating or its customer from being contacted.

A hold pauses the ladder for a while and for a reason the bank accepts:
- promise:         a promise to pay, until its date plus the strategy's tolerance;
- plan:            an active repayment plan, until it completes or breaks;
- hardship:        a hardship review, up to the strategy's review period (or until a plan replaces it);
- dispute:         until the dispute is resolved (no end date: a person decides);
- breathing-space: a statutory moratorium (UK), its fixed number of days, no contact at all.
While any hold is active the day's evaluation neither moves the stage nor takes actions.

Flags describe the customer, not the debt, and last until cleared:
- cease-contact, attorney: no contact of any kind with the customer (the legal route stays open);
- bankruptcy, deceased:    no contact and no escalation (a specialist team takes over);
- vulnerable:              calls and visits go to the specialist queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

HOLD_KINDS = ("promise", "plan", "hardship", "dispute", "breathing-space")
FLAGS = ("cease-contact", "attorney", "bankruptcy", "deceased", "breathing-space", "vulnerable")
NO_CONTACT_FLAGS = frozenset({"cease-contact", "attorney", "bankruptcy", "deceased", "breathing-space"})
NO_ESCALATION_FLAGS = frozenset({"bankruptcy", "deceased", "breathing-space"})
# Promise and plan holds end when the promise or plan is judged, not on a date.
ENDED_BY_JUDGEMENT = frozenset({"promise", "plan"})
# Holds under which not even a friendly pre-due reminder goes out: the bank does not
# ask a customer to pay while it reviews their dispute or hardship, or in a moratorium.
NO_REMINDER_HOLDS = frozenset({"dispute", "hardship", "breathing-space"})
# Actions that reach the customer (or someone on the bank's behalf who would).
CONTACTING = frozenset({"contact", "call-task", "field-visit", "agency-placement", "credit-pre-notice", "follow-up"})


@dataclass(frozen=True, slots=True)
class Hold:
    kind: str
    started_on: date
    # The last day the hold is in force; None holds until someone ends it.
    until: date | None = None

    def __post_init__(self) -> None:
        if self.kind not in HOLD_KINDS:
            raise ValueError(f"unknown hold kind {self.kind!r}")
        if self.until is not None and self.until < self.started_on:
            raise ValueError("a hold cannot end before it starts")

    def active_on(self, day: date) -> bool:
        return self.started_on <= day and (self.until is None or day <= self.until)


def active_holds(holds: tuple[Hold, ...] | list[Hold], day: date) -> frozenset[str]:
    return frozenset(h.kind for h in holds if h.active_on(day))


def lapsed_kinds(holds: tuple[Hold, ...] | list[Hold], day: date) -> list[str]:
    """Kinds of hold whose period is over on `day` (its last day has passed): they end
    that day, on the timeline. Promise and plan holds end with their judgement instead."""
    return sorted({h.kind for h in holds
                   if h.kind not in ENDED_BY_JUDGEMENT and h.until is not None and h.until < day})


def reminder_allowed(holds: tuple[Hold, ...] | list[Hold], flags: frozenset[str], day: date) -> bool:
    """Whether a pre-due reminder may be requested on `day` for an account with these
    holds (its open case's) and flags."""
    return not (flags & NO_CONTACT_FLAGS or active_holds(holds, day) & NO_REMINDER_HOLDS)
