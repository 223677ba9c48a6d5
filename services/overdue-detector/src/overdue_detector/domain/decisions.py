"""What to tell collections: decisions from comparing two snapshots of one account.

Two moments produce decisions:

- close_business_day(previous, current): at each business day close, `previous`
  being the snapshot reported for the prior close. A delinquent account is
  reported every day (DelinquencyUpdated); the first delinquent day of an
  episode is announced first (BecameDelinquent); the day the past-due amount
  reaches zero the episode ends (Cured).
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


def close_business_day(previous: DelinquencySnapshot | None, current: DelinquencySnapshot) -> tuple[Decision, ...]:
    """Decisions at the close of `current.as_of`; `previous` is None for an account never reported."""
    if previous is not None:
        _same_account(previous, current)
        if previous.as_of >= current.as_of:
            raise SnapshotMismatch(
                f"account {current.account_id}: previous close {previous.as_of} is not before {current.as_of}"
            )
    if current.charged_off:
        return ()
    decisions: list[Decision] = []
    if current.delinquent:
        if not _in_episode(previous):
            decisions.append(BecameDelinquent(current))
        decisions.append(DelinquencyUpdated(current))
    elif _in_episode(previous):
        decisions.append(Cured(current))
    if current.due_soon:
        decisions.append(PaymentDueSoon(current))
    return tuple(decisions)


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
