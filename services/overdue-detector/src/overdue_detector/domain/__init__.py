"""Pure domain of the overdue detector: ledger facts in, delinquency snapshots and decisions out.

No I/O, clocks, messaging or storage here; money is int minor units, days are datetime.date.
"""

from overdue_detector.domain.decisions import (
    BecameDelinquent,
    Cured,
    Decision,
    DelinquencyUpdated,
    Episode,
    PaymentDueSoon,
    close_business_day,
    restate_business_day,
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
    SnapshotMismatch,
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
    "CycleDue",
    "Decision",
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
    "SnapshotMismatch",
    "Statement",
    "StatusChange",
    "UnknownPayment",
    "assess",
    "close_business_day",
    "restate_business_day",
]
