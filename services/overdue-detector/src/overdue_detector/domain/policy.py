"""The bank's delinquency policy: grace period, reminder lead time, the DPD buckets
and which minimums a payment counts toward.

Every number and choice the detector uses lives here so credit policy can change
them without touching the aging rules.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from enum import Enum

from overdue_detector.domain.errors import InvalidPolicy

_BUCKETS_BELOW_TOP = 7  # M0..M6 have an upper DPD bound; M7+ is open-ended


class PaymentRule(Enum):
    """Which statements' minimums a payment counts toward (delinquency.py has the rules).

    ISSUED_STATEMENTS (the card rule, default): only statements issued on or before the
    payment's value date; money beyond their minimums pays no later minimum, because
    core banking already netted it into the later statement's balance and minimum.
    PAID_AHEAD: money beyond the minimums is credit that pays later minimums too, for
    portfolios (e.g. instalment products) whose later minimums are not netted.
    """

    ISSUED_STATEMENTS = "issued-statements"
    PAID_AHEAD = "paid-ahead"


@dataclass(frozen=True, slots=True)
class DelinquencyPolicy:
    """grace_days: days after the due date a minimum may stay unpaid before it is past due.
    due_soon_days: a PaymentDueSoon reminder goes out this many days before the due date.
    bucket_upper_bounds: inclusive upper DPD of M0, M1, ..., M6; anything above is M7+.
    payment_rule: which minimums a payment counts toward (PaymentRule).
    """

    grace_days: int = 3
    due_soon_days: int = 3
    bucket_upper_bounds: tuple[int, ...] = (0, 30, 60, 90, 120, 150, 180)
    payment_rule: PaymentRule = PaymentRule.ISSUED_STATEMENTS

    def __post_init__(self) -> None:
        for name in ("grace_days", "due_soon_days"):
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise InvalidPolicy(f"{name} must be a non-negative int, got {value!r}")
        bounds = self.bucket_upper_bounds
        if len(bounds) != _BUCKETS_BELOW_TOP or any(type(b) is not int for b in bounds):
            raise InvalidPolicy(f"bucket_upper_bounds needs {_BUCKETS_BELOW_TOP} ints (M0..M6), got {bounds!r}")
        if bounds[0] != 0:
            raise InvalidPolicy(f"M0 means current: its upper bound must be 0, got {bounds[0]}")
        if any(lower >= upper for lower, upper in zip(bounds, bounds[1:])):
            raise InvalidPolicy(f"bucket_upper_bounds must be strictly increasing, got {bounds!r}")
        if not isinstance(self.payment_rule, PaymentRule):
            raise InvalidPolicy(f"payment_rule must be a PaymentRule, got {self.payment_rule!r}")


DEFAULT_POLICY = DelinquencyPolicy()


class Bucket(Enum):
    """Delinquency bucket by days past due, as reported to collections and the regulator."""

    M0 = "M0"
    M1 = "M1"
    M2 = "M2"
    M3 = "M3"
    M4 = "M4"
    M5 = "M5"
    M6 = "M6"
    M7_PLUS = "M7+"

    @classmethod
    def for_dpd(cls, dpd: int, policy: DelinquencyPolicy = DEFAULT_POLICY) -> Bucket:
        """The bucket holding `dpd` days past due under `policy`."""
        if type(dpd) is not int or dpd < 0:
            raise ValueError(f"days past due must be a non-negative int, got {dpd!r}")
        # The first bucket whose upper bound is at least dpd; past the last, M7+.
        return _IN_ORDER[bisect_left(policy.bucket_upper_bounds, dpd)]


_IN_ORDER = tuple(Bucket)
