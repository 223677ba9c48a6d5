"""Ageing: the delinquency state of an account as of one business date.

Waterfall (independent of the order payments arrived in). With the cycles
issued by day D (cycle_date <= D) in waterfall order (due date, then id):

    C_i          = minimum_due of cycles 0..i
    P(D)         = non-reversed payments with value_date <= D
    remaining_i  = clamp(C_i - P(D), 0, minimum_due_i)

so money pays the oldest unpaid minimum first, an overpayment is credit
towards later minimums, and a payment made before any statement counts as
soon as one is issued. Cycle i is past due on D when remaining_i > 0 and
D > due_date_i + grace_days. DPD counts from the due date of the oldest
past-due cycle (so the first delinquent day already shows grace_days + 1).

Account status:
- open, blocked: age normally and get PaymentDueSoon. Blocking stops spending,
  not the obligation to pay, and a reminder is exactly what a blocked card needs.
- closed: keeps ageing while any minimum is unpaid (closing the card does not
  cancel the debt) but gets no PaymentDueSoon: reminding to pay a card that
  can no longer be used is the recovery team's call, not an automatic nudge.
- charged_off: ageing stops. The snapshot is the account's state on the day
  the charge-off took effect (DPD, bucket, amounts frozen there) with
  charged_off_on set. After charge-off the debt is a written-off asset worked
  by recoveries; a DPD that kept climbing would report a figure nobody
  manages to, and freezing it keeps the last reported DPD auditable. Payments
  valued after that day are recoveries and do not move the snapshot; a
  backdated one valued on or before it still corrects it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from overdue_detector.domain.ledger import AccountLedger, AccountStatus, Statement
from overdue_detector.domain.policy import DEFAULT_POLICY, Bucket, DelinquencyPolicy

_REMINDED = frozenset({AccountStatus.OPEN, AccountStatus.BLOCKED})


@dataclass(frozen=True, slots=True)
class CycleDue:
    """The unpaid part of one statement's minimum."""

    statement_id: str
    due_date: date
    amount: int


@dataclass(frozen=True, slots=True)
class DelinquencySnapshot:
    """The state of one account as of one business date; all money in minor units of `currency`."""

    account_id: str
    currency: str
    as_of: date
    dpd: int
    bucket: Bucket
    past_due: tuple[CycleDue, ...]  # oldest first
    balance: int  # negative is a credit balance
    credit_available: int  # paid beyond every minimum issued so far
    due_soon: tuple[CycleDue, ...] = ()
    charged_off_on: date | None = None

    @property
    def delinquent(self) -> bool:
        return bool(self.past_due)

    @property
    def charged_off(self) -> bool:
        return self.charged_off_on is not None

    @property
    def past_due_amount(self) -> int:
        return sum(cycle.amount for cycle in self.past_due)

    @property
    def cycles_past_due(self) -> int:
        return len(self.past_due)

    @property
    def oldest_due_date(self) -> date | None:
        return self.past_due[0].due_date if self.past_due else None

    @property
    def due_soon_amount(self) -> int:
        return sum(cycle.amount for cycle in self.due_soon)


def assess(ledger: AccountLedger, as_of: date, policy: DelinquencyPolicy = DEFAULT_POLICY) -> DelinquencySnapshot:
    """Age `ledger` as of business date `as_of` (see the module docstring for the rules)."""
    charged_off_on = ledger.charged_off_on(as_of)
    day = as_of if charged_off_on is None else charged_off_on
    issued = [s for s in ledger.statements if s.cycle_date <= day]
    paid = sum(p.amount for p in ledger.payments if not p.reversed and p.value_date <= day)
    grace = timedelta(days=policy.grace_days)

    owed = 0
    past_due: list[CycleDue] = []
    due_soon: list[CycleDue] = []
    for statement in issued:
        owed += statement.minimum_due
        remaining = min(max(owed - paid, 0), statement.minimum_due)
        if remaining == 0:
            continue
        cycle = CycleDue(statement.statement_id, statement.due_date, remaining)
        if day > statement.due_date + grace:
            past_due.append(cycle)
        elif (statement.due_date - day).days == policy.due_soon_days:
            due_soon.append(cycle)

    dpd = (day - past_due[0].due_date).days if past_due else 0
    return DelinquencySnapshot(
        account_id=ledger.account_id,
        currency=ledger.currency,
        as_of=as_of,
        dpd=dpd,
        bucket=Bucket.for_dpd(dpd, policy),
        past_due=tuple(past_due),
        balance=_balance(ledger, issued, day),
        credit_available=max(0, paid - owed),
        due_soon=tuple(due_soon) if ledger.status_on(as_of) in _REMINDED else (),
        charged_off_on=charged_off_on,
    )


def _balance(ledger: AccountLedger, issued: list[Statement], day: date) -> int:
    """Latest statement balance less what was paid since that statement was cut; 0 before any statement."""
    if not issued:
        return 0
    latest = max(issued, key=lambda s: (s.cycle_date, s.due_date, s.statement_id))
    paid_since = sum(
        p.amount for p in ledger.payments if not p.reversed and latest.cycle_date < p.value_date <= day
    )
    return latest.statement_balance - paid_since
