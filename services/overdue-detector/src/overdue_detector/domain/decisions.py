"""What to tell collections about one account: decide(), the one place every
delinquency decision is taken, for the day's aging and for every posting alike.

Facts come in as plain values: the account's state on a day (a DelinquencySnapshot
from assess() in a handler, or the same facts computed in SQL for a day's
candidates), what collections was told so far (the episode as stored), and the
minimums whose reminder window opened. Decisions come out, with what the service
records as the account's reported state.

- DayAged: business day D is aged.
  A delinquent account is reported every aged day (DelinquencyUpdated); the first
  delinquent day of an episode is announced first (BecameDelinquent); the first day
  the past-due amount is back to zero ends the episode (Cured). When the detector
  lags, a payment can cure an episode at once, before the days closed earlier are
  aged: those days belong to the episode the cure ended, so they tell nothing more
  and the story stays one episode in business-date order.
  Reminders: an unpaid minimum whose reminder window (due date - due_soon_days)
  opened since the last aged day gets one PaymentDueSoon, unless D is past its due
  date; consecutive agings see disjoint windows, so once per statement. Only open
  and blocked accounts are reminded (see delinquency.py).
- PostingApplied: a payment, reversal, statement or status change was applied.
  When its date reaches the last aged day, that day is restated: an updated state
  (correction=True), a cure, or, when a reversal undoes a reported cure, a new
  episode; an episode a later payment already ended stays ended. When it is after
  the last aged day, money moves the episode at once: a payment that clears every
  past-due amount cures it (the cure is remembered with its value date, for the
  days still waiting to be aged), and a reversal that undoes such a cure before the
  next close reopens it. Statements and status changes otherwise wait for the next
  close.

Charged-off accounts get no decisions: they left collections for recoveries (see
delinquency.py). A charge-off is not a cure, as nothing was paid. The service maps
decisions onto events and adds what the domain does not know (customer,
timestamps, the payment that triggered a cure).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import Enum
from typing import Protocol

from overdue_detector.domain.delinquency import CycleDue
from overdue_detector.domain.ledger import AccountStatus

_REMINDED = frozenset({AccountStatus.OPEN, AccountStatus.BLOCKED})


class DayState(Protocol):
    """What decide() reads of an account's state on a day (a DelinquencySnapshot, or
    the same facts from SQL); events carry the rest of it."""

    @property
    def account_id(self) -> str: ...

    @property
    def currency(self) -> str: ...

    @property
    def as_of(self) -> date: ...

    @property
    def delinquent(self) -> bool: ...

    @property
    def charged_off(self) -> bool: ...

    @property
    def dpd(self) -> int: ...

    @property
    def bucket(self) -> object: ...

    @property
    def past_due_amount(self) -> int: ...

    @property
    def balance(self) -> int: ...


@dataclass(frozen=True, slots=True)
class BecameDelinquent:
    """A new delinquency episode starts."""

    snapshot: DayState


@dataclass(frozen=True, slots=True)
class DelinquencyUpdated:
    """The state of a delinquent account for a business date; correction=True restates a reported day."""

    snapshot: DayState
    correction: bool = False


@dataclass(frozen=True, slots=True)
class Cured:
    """Payments cleared every past-due amount; the episode ends."""

    snapshot: DayState


@dataclass(frozen=True, slots=True)
class PaymentDueSoon:
    """`cycle`'s minimum falls due soon and is not yet paid; snapshot is the account on the aged day."""

    snapshot: DayState
    cycle: CycleDue


Decision = BecameDelinquent | DelinquencyUpdated | Cured | PaymentDueSoon


@dataclass(frozen=True, slots=True)
class Episode:
    """What collections was told of an account: whether its delinquency episode is open,
    and, when a payment ended it before the days up to its value date were aged, that date."""

    open: bool = False
    cured_on: date | None = None


class Posting(Enum):
    PAYMENT = "payment"
    REVERSAL = "reversal"
    STATEMENT = "statement"
    STATUS_CHANGE = "status change"


@dataclass(frozen=True, slots=True)
class DayAged:
    """Facts of one account when business day `state.as_of` is aged.

    reported_past_due: the state last recorded as reported shows past-due amounts;
    status: the account's status that day; reminders: unpaid minimums whose reminder
    window opened since the last aged day and by this one."""

    state: DayState
    episode: Episode = Episode()
    reported_past_due: bool = False
    status: AccountStatus = AccountStatus.OPEN
    reminders: tuple[CycleDue, ...] = ()


@dataclass(frozen=True, slots=True)
class PostingApplied:
    """Facts of one account when a posting was applied.

    known: collections holds a recorded state of the account; reported / restated: the
    last aged day as it was reported before the posting and as it is with it; since:
    the account on the posting's value date, when that is after the last aged day. The
    states are None where they do not exist (no day aged yet), and also when the account
    is not known and the posting is after the last aged day: there is then no episode
    to move and no reported day to correct, so the service does not assess them."""

    posting: Posting
    episode: Episode
    known: bool
    reported: DayState | None
    restated: DayState | None
    since: DayState | None


@dataclass(frozen=True, slots=True)
class Decisions:
    """What to tell collections, the episode after it, and the state to record as
    reported (None: the recorded state stays, only the episode may change)."""

    events: tuple[Decision, ...] = ()
    episode: Episode = Episode()
    record: DayState | None = None


def decide(facts: DayAged | PostingApplied) -> Decisions:
    """Every delinquency decision about one account (the module docstring has the rules)."""
    if isinstance(facts, DayAged):
        return _day_aged(facts)
    if facts.since is None and facts.reported is not None:
        return _restated(facts)
    return _between_closes(facts)


def _day_aged(facts: DayAged) -> Decisions:
    state, episode = facts.state, facts.episode
    # Recorded while the account is or was last reported in trouble; a cured account's
    # state stays as of its cure (nothing past due, episode closed) until it is again.
    in_trouble = state.delinquent or episode.open or episode.cured_on is not None or facts.reported_past_due
    record = state if in_trouble else None
    reminders = tuple(PaymentDueSoon(state, cycle) for cycle in facts.reminders
                      if cycle.amount > 0 and state.as_of <= cycle.due_date
                      ) if facts.reminders and facts.status in _REMINDED else ()
    if state.charged_off:
        return Decisions(reminders, episode, record)
    cured_later = episode.cured_on is not None and state.as_of < episode.cured_on
    after = Episode(open=False, cured_on=episode.cured_on if cured_later else None)
    if state.delinquent:
        if cured_later:
            return Decisions(reminders, after, record)
        opening = () if episode.open else (BecameDelinquent(state),)
        return Decisions((*opening, DelinquencyUpdated(state), *reminders), Episode(open=True), record)
    if episode.open:
        return Decisions((Cured(state), *reminders), after, record)
    return Decisions(reminders, after, record)


def _restated(facts: PostingApplied) -> Decisions:
    reported, restated, episode = facts.reported, facts.restated, facts.episode
    record = restated if facts.known or restated.delinquent else None
    # An episode a payment valued after the reported day already ended stays ended:
    # the snapshot of that day no longer drives what collections does.
    if restated.charged_off or episode.open != _in_episode(reported):
        return Decisions((), episode, record)
    if not restated.delinquent:
        return Decisions((Cured(restated),), Episode(), record) if episode.open else Decisions((), episode, record)
    if not episode.open:
        return Decisions((BecameDelinquent(restated), DelinquencyUpdated(restated, correction=True)),
                         Episode(open=True), record)
    if _reported_state(reported) != _reported_state(restated):
        return Decisions((DelinquencyUpdated(restated, correction=True),), episode, record)
    return Decisions((), episode, record)


def _between_closes(facts: PostingApplied) -> Decisions:
    since, episode = facts.since, facts.episode
    if not facts.known or since is None or since.charged_off:
        return Decisions((), episode)
    if facts.posting is Posting.PAYMENT and episode.open and not since.delinquent:
        # Days closed before the value date and not aged yet belong to the episode just ended.
        return Decisions((Cured(since),), Episode(open=False, cured_on=since.as_of))
    if (facts.posting is Posting.REVERSAL and not episode.open and facts.restated is not None
            and _in_episode(facts.restated) and since.delinquent):
        # The reversed payment had cured the episode early; it is open again as of the last aged day.
        return Decisions((BecameDelinquent(facts.restated),), Episode(open=True))
    return Decisions((), episode)


def _in_episode(state: DayState | None) -> bool:
    return state is not None and state.delinquent and not state.charged_off


def _reported_state(state: DayState) -> tuple[object, ...]:
    # What DelinquencyUpdated carries; a change elsewhere (e.g. credit) is not worth a correction.
    return (state.dpd, state.bucket, state.past_due_amount, state.balance)
