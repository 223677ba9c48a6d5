"""Amounts as people type and read them, and as the services keep them (integer
minor units). Never through float: "300.10" is 30010 fen exactly."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

# ISO 4217 minor-unit exponents that differ from the usual 2.
LARGEST_MINOR = 10**13  # the services' own bound on an amount
_EXPONENTS = {"JPY": 0, "KRW": 0, "VND": 0, "BHD": 3, "KWD": 3, "OMR": 3}


class BadAmount(ValueError):
    pass


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def minor_units(text: str, currency: str) -> int:
    """"1,234.5" CNY → 123450; refuses more decimals than the currency has, zero and negatives."""
    places = exponent(currency)
    try:
        value = Decimal(text.replace(",", "").replace(" ", ""))
    except InvalidOperation:
        raise BadAmount(f"{text!r} is not an amount") from None
    if not value.is_finite() or value <= 0:
        raise BadAmount("the amount must be more than zero")
    scaled = value.scaleb(places)
    if scaled != scaled.to_integral_value():
        raise BadAmount(f"{currency} amounts have at most {places} decimals")
    if scaled > LARGEST_MINOR:
        raise BadAmount("the amount is larger than any card balance")
    return int(scaled)


def shown(minor: int, currency: str) -> str:
    places = exponent(currency)
    return f"{Decimal(minor).scaleb(-places):,.{places}f} {currency}"
