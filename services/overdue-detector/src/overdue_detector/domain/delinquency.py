"""Aging: the delinquency state of an account as of one business date.

Which minimums a payment pays (policy.payment_rule). Statements are taken
oldest first, in the order they were issued (cycle date, then due date, then
id); only statements issued by day D (cycle_date <= D) and non-reversed
payments valued by D (value_date <= D) count on D.

- Issued statements (the card rule, default): payments, in value-date order,
  each pay the oldest unpaid minimums among the statements issued on or before
  their value date. Money beyond those minimums pays no later statement's
  minimum: core banking already netted it into that statement's balance and
  minimum, so counting it again would hide a real delinquency (pay 10,000 in
  January, never pay February's 150 minimum: February is past due). A payment
  made before any statement pays nothing. Taking payments in value-date order
  gives each minimum the most money that could lawfully reach it, so the result
  does not depend on the order payments arrived in.
- Paid ahead (an explicit portfolio option): all money paid by D is one pool
  that pays the minimums oldest first, so an overpayment is credit toward later
  minimums and a payment made before any statement counts once one is issued.

Cycle i is past due on D when its minimum is not fully paid and
D > due_date_i + grace_days. DPD counts from the earliest due date among the
past-due cycles (so the first delinquent day already shows grace_days + 1).
credit_available is the money paid by D that no minimum took.

Reminder window: the snapshot lists the unpaid minimums whose reminder window
(due_date - due_soon_days) opened after the last aged day and on or before D.
Aging every day, that is the day exactly due_soon_days before the due date;
after a skipped close it is the next aged day. Which of them get a
PaymentDueSoon is decided in decisions.py.

Account status:
- open, blocked: age normally and get PaymentDueSoon. Blocking stops spending,
  not the obligation to pay, and a reminder is exactly what a blocked card needs.
- closed: keeps aging while any minimum is unpaid (closing the card does not
  cancel the debt) but gets no PaymentDueSoon: reminding to pay a card that
  can no longer be used is the recovery team's call, not an automatic nudge
  (decisions.py applies this).
- charged_off: aging stops. The snapshot is the account's state on the day
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

from overdue_detector.domain.ledger import AccountLedger, AccountStatus, Payment, Statement
from overdue_detector.domain.policy import DEFAULT_POLICY, Bucket, DelinquencyPolicy, PaymentRule

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
    past_due: tuple[CycleDue, ...]  # in the order the statements were issued
    balance: int  # negative is a credit balance
    credit_available: int  # paid by as_of and taken by no minimum
    reminders: tuple[CycleDue, ...] = ()  # unpaid minimums whose reminder window opened since the last aged day
    charged_off_on: date | None = None
    status: AccountStatus = AccountStatus.OPEN

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
        return min(cycle.due_date for cycle in self.past_due) if self.past_due else None


def assess(ledger: AccountLedger, as_of: date, policy: DelinquencyPolicy = DEFAULT_POLICY,
           reminded_until: date | None = None) -> DelinquencySnapshot:
    """Age `ledger` as of business date `as_of` (see the module docstring for the rules);
    `reminded_until` is the last aged day before it (default: the day before)."""
    charged_off_on = ledger.charged_off_on(as_of)
    day = as_of if charged_off_on is None else charged_off_on
    issued = [s for s in ledger.statements if s.cycle_date <= day]
    counted = [p for p in ledger.payments if not p.reversed and p.value_date <= day]
    unpaid = _unpaid_minimums(issued, counted, policy.payment_rule)
    grace = timedelta(days=policy.grace_days)
    window_opened_after = reminded_until if reminded_until is not None else as_of - timedelta(days=1)

    past_due: list[CycleDue] = []
    reminders: list[CycleDue] = []
    for statement, remaining in zip(issued, unpaid):
        if remaining == 0:
            continue
        cycle = CycleDue(statement.statement_id, statement.due_date, remaining)
        if day > statement.due_date + grace:
            past_due.append(cycle)
        if window_opened_after < statement.due_date - timedelta(days=policy.due_soon_days) <= day:
            reminders.append(cycle)

    dpd = (day - min(c.due_date for c in past_due)).days if past_due else 0
    paid = sum(p.amount for p in counted)
    return DelinquencySnapshot(
        account_id=ledger.account_id,
        currency=ledger.currency,
        as_of=as_of,
        dpd=dpd,
        bucket=Bucket.for_dpd(dpd, policy),
        past_due=tuple(past_due),
        balance=_balance(ledger, issued, day),
        credit_available=paid - (sum(s.minimum_due for s in issued) - sum(unpaid)),
        reminders=tuple(reminders),
        charged_off_on=charged_off_on,
        status=ledger.status_on(as_of),
    )


def _unpaid_minimums(issued: list[Statement], counted: list[Payment], rule: PaymentRule) -> list[int]:
    """What is left of each issued statement's minimum (same order) after the payments."""
    unpaid = [s.minimum_due for s in issued]
    if rule is PaymentRule.PAID_AHEAD:
        pools = [(sum(p.amount for p in counted), len(issued))]
    else:
        pools = [(p.amount, sum(1 for s in issued if s.cycle_date <= p.value_date))
                 for p in sorted(counted, key=lambda p: (p.value_date, p.payment_id))]
    for amount, reach in pools:
        for i in range(reach):
            if amount == 0:
                break
            taken = min(amount, unpaid[i])
            unpaid[i] -= taken
            amount -= taken
    return unpaid


def _balance(ledger: AccountLedger, issued: list[Statement], day: date) -> int:
    """Latest statement balance less what was paid since that statement was cut; 0 before any statement."""
    if not issued:
        return 0
    latest = max(issued, key=lambda s: (s.cycle_date, s.due_date, s.statement_id))
    paid_since = sum(
        p.amount for p in ledger.payments if not p.reversed and latest.cycle_date < p.value_date <= day
    )
    return latest.statement_balance - paid_since
