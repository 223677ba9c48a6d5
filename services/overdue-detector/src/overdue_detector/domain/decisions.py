"""What to tell collections about one account.

Two moments produce decisions:

- close_business_day(episode, current): a business day is aged. `episode` is
  what collections was told so far; `current` the account's state that day (a
  DelinquencySnapshot, or the same facts computed in SQL for the whole
  portfolio). A delinquent account is reported every day (DelinquencyUpdated);
  the first delinquent day of an episode is announced first (BecameDelinquent);
  the day the past-due amount reaches zero the episode ends (Cured). When the
  detector lags, a payment can cure an episode (at once, when it is applied)
  before the days closed earlier are aged: those days belong to the episode the
  cure ended, so they tell nothing more, and the story stays one episode in
  business-date order.
- restate_business_day(reported, restated): a backdated payment or a reversal
  changed a day already aged. Decisions are corrections for that same day:
  an updated state (correction=True), a cure, or, when a reversal undoes a
  reported cure, a new episode.

Charged-off accounts get no decisions: they left collections for recoveries
(see delinquency.py). A charge-off is not a cure, as nothing was paid. The
service maps decisions onto events and adds what the domain does not know
(customer, timestamps, the payment that triggered a cure).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

from overdue_detector.domain.delinquency import DelinquencySnapshot
from overdue_detector.domain.errors import SnapshotMismatch


@dataclass(frozen=True, slots=True)
class BecameDelinquent:
    """A new delinquency episode starts."""

    snapshot: DelinquencySnapshot


@dataclass(frozen=True, slots=True)
class DelinquencyUpdated:
    """The state of a delinquent account for a business date; correction=True restates a reported day."""

    snapshot: DelinquencySnapshot
    correction: bool = False


@dataclass(frozen=True, slots=True)
class Cured:
    """Payments cleared every past-due amount; the episode ends."""

    snapshot: DelinquencySnapshot


@dataclass(frozen=True, slots=True)
class PaymentDueSoon:
    """A minimum falls due in policy.due_soon_days and is not yet paid (snapshot.due_soon)."""

    snapshot: DelinquencySnapshot


Decision = BecameDelinquent | DelinquencyUpdated | Cured | PaymentDueSoon


class DayState(Protocol):
    """What close_business_day reads of an account's state on a business day."""

    @property
    def as_of(self) -> date: ...

    @property
    def delinquent(self) -> bool: ...

    @property
    def charged_off(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Episode:
    """What collections was told of an account: whether its delinquency episode is open,
    and, when a payment ended it before the days up to its value date were aged, that date."""

    open: bool = False
    cured_on: date | None = None


def close_business_day(episode: Episode, current: DayState) -> tuple[tuple[Decision, ...], Episode]:
    """Decisions when `current.as_of` is aged, and the episode after them."""
    if current.charged_off:
        return (), episode
    cured_later = episode.cured_on is not None and current.as_of < episode.cured_on
    after = Episode(open=False, cured_on=episode.cured_on if cured_later else None)
    if current.delinquent:
        if cured_later:
            return (), after
        opening = () if episode.open else (BecameDelinquent(current),)
        return (*opening, DelinquencyUpdated(current)), Episode(open=True)
    if episode.open:
        return (Cured(current),), after
    return (), after


def restate_business_day(reported: DelinquencySnapshot, restated: DelinquencySnapshot) -> tuple[Decision, ...]:
    """Corrections for a business day already aged, after a backdated payment or a reversal."""
    _same_account(reported, restated)
    if reported.as_of != restated.as_of:
        raise SnapshotMismatch(
            f"account {restated.account_id}: cannot restate {reported.as_of} with a snapshot of {restated.as_of}"
        )
    if restated.charged_off:
        return ()
    was_delinquent = _in_episode(reported)
    if not restated.delinquent:
        return (Cured(restated),) if was_delinquent else ()
    if not was_delinquent:
        return (BecameDelinquent(restated), DelinquencyUpdated(restated, correction=True))
    if _reported_state(reported) != _reported_state(restated):
        return (DelinquencyUpdated(restated, correction=True),)
    return ()


def _in_episode(snapshot: DelinquencySnapshot | None) -> bool:
    return snapshot is not None and snapshot.delinquent and not snapshot.charged_off


def _reported_state(snapshot: DelinquencySnapshot) -> tuple[object, ...]:
    # What DelinquencyUpdated carries; a change elsewhere (e.g. credit) is not worth a correction.
    return (snapshot.dpd, snapshot.bucket, snapshot.past_due, snapshot.balance)


def _same_account(a: DelinquencySnapshot, b: DelinquencySnapshot) -> None:
    if a.account_id != b.account_id:
        raise SnapshotMismatch(f"snapshots of different accounts: {a.account_id} and {b.account_id}")
