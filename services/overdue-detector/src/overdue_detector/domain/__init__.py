"""Pure domain of the overdue detector: ledger facts in, delinquency snapshots and decisions out.

No I/O, clocks, messaging or storage here; money is int minor units, days are datetime.date.
"""

from overdue_detector.domain.decisions import (
    BecameDelinquent,
    Cured,
    DayAged,
    DayState,
    Decision,
    Decisions,
    DelinquencyUpdated,
    Episode,
    PaymentDueSoon,
    Posting,
    PostingApplied,
    decide,
)
from overdue_detector.domain.delinquency import CycleDue, DelinquencySnapshot, assess
from overdue_detector.domain.errors import (
    ConflictingDuplicate,
    CurrencyMismatch,
    DomainError,
    InvalidAccount,
    InvalidPayment,
    InvalidPolicy,
    InvalidStatement,
    UnknownPayment,
)
from overdue_detector.domain.ledger import AccountLedger, AccountStatus, Payment, Statement, StatusChange
from overdue_detector.domain.policy import DEFAULT_POLICY, Bucket, DelinquencyPolicy, PaymentRule

__all__ = [
    "DEFAULT_POLICY",
    "AccountLedger",
    "AccountStatus",
    "BecameDelinquent",
    "Bucket",
    "ConflictingDuplicate",
    "Cured",
    "CurrencyMismatch",
    "DayAged",
    "DayState",
    "CycleDue",
    "Decision",
    "Decisions",
    "DelinquencyPolicy",
    "DelinquencySnapshot",
    "DelinquencyUpdated",
    "DomainError",
    "Episode",
    "InvalidAccount",
    "InvalidPayment",
    "InvalidPolicy",
    "InvalidStatement",
    "Payment",
    "PaymentRule",
    "PaymentDueSoon",
    "Posting",
    "PostingApplied",
    "Statement",
    "StatusChange",
    "UnknownPayment",
    "assess",
    "decide",
]
