"""What a partner may see of a customer (PIPL: the minimum necessary).

A partner working a case gets the customer's name, one phone number and the
postal address, with the amount placed and the days past due. Never the e-mail,
other contact points, consents, time zone or anything else the bank holds: the
view is built field by field here, so a new field on the customer record cannot
reach a partner by accident.
"""

from __future__ import annotations

from dataclasses import dataclass

from collections_core.money import Money

SHARED_FIELDS = ("name", "phone", "address")


@dataclass(frozen=True, slots=True)
class PostalAddress:
    lines: tuple[str, ...] = ()
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    """The customer as the gateway keeps it (decrypted, in memory only)."""

    customer_id: str
    name: str
    phone: str
    address: PostalAddress


@dataclass(frozen=True, slots=True)
class PartnerCaseView:
    name: str | None
    phone: str | None
    address: PostalAddress | None
    amount: Money
    dpd: int

    @property
    def fields_shared(self) -> tuple[str, ...]:
        """For the access audit: which PII fields this view disclosed."""
        return tuple(f for f in SHARED_FIELDS if getattr(self, f))


def minimum_view(customer: CustomerRecord | None, amount: Money, dpd: int) -> PartnerCaseView:
    if customer is None:
        # Core banking has not published the customer yet: the partner still sees the debt.
        return PartnerCaseView(None, None, None, amount, dpd)
    return PartnerCaseView(customer.name or None, customer.phone or None, customer.address, amount, dpd)
