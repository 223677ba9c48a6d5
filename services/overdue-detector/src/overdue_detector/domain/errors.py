"""Rejections raised by the overdue-detector domain; each message names the offending fact."""


class DomainError(ValueError):
    """Base of every rejection raised by the domain."""


class InvalidPolicy(DomainError):
    """A DelinquencyPolicy whose numbers cannot describe a delinquency ladder."""


class InvalidAccount(DomainError):
    """An account with no id or a currency that is not an ISO 4217 code."""


class CurrencyMismatch(DomainError):
    """A statement or payment in another currency than the account's."""


class InvalidStatement(DomainError):
    """A statement with a negative minimum, a due date before its cycle date, or non-integer money."""


class InvalidPayment(DomainError):
    """A payment whose amount is not a positive integer of minor units."""


class UnknownPayment(DomainError):
    """A reversal of a payment the ledger has never seen."""


class ConflictingDuplicate(DomainError):
    """An id already on the ledger arriving with different facts (exact re-deliveries are no-ops)."""

