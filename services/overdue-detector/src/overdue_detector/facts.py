"""Reading core-banking facts off their messages. A date or an amount that cannot be
read is a fact the detector can never apply: it is Rejected (dead-lettered, not
retried) with the field named, so core banking knows what to correct."""

from __future__ import annotations

import re
from datetime import date

from collections_core.codec import Rejected
from collections_core.wire import date_from_proto

_CURRENCY = re.compile(r"[A-Z]{3}")


def business_date(message, field: str) -> date:
    if not message.HasField(field):
        raise Rejected(f"{field} is missing")
    try:
        return date_from_proto(getattr(message, field))
    except ValueError:
        value = getattr(message, field)
        raise Rejected(f"{field} {value.year:04d}-{value.month:02d}-{value.day:02d} is not a calendar date") from None


def optional_business_date(message, field: str) -> date | None:
    return business_date(message, field) if message.HasField(field) else None


def amount(message, field: str, currency: str) -> int:
    """The amount in minor units of `field`, which must be in the account's `currency`."""
    if not message.HasField(field):
        raise Rejected(f"{field} is missing")
    money = getattr(message, field)
    if not _CURRENCY.fullmatch(money.currency):
        raise Rejected(f"{field} has no ISO 4217 currency (got {money.currency!r})")
    if money.currency != currency:
        raise Rejected(f"{field} is in {money.currency}; the account is in {currency}")
    return money.amount_minor


def currency(message, field: str = "currency") -> str:
    value = getattr(message, field)
    if not _CURRENCY.fullmatch(value):
        raise Rejected(f"{field} {value!r} is not an ISO 4217 code")
    return value
