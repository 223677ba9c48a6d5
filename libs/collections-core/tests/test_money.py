import pytest

from collections_core.money import CurrencyMismatch, Money


def test_adds_and_subtracts_in_minor_units():
    assert Money(1050, "CNY") + Money(25, "CNY") == Money(1075, "CNY")
    assert Money(1050, "CNY") - Money(2000, "CNY") == Money(-950, "CNY")
    assert -Money(5, "USD") == Money(-5, "USD")


def test_refuses_floats_and_bad_currency_codes():
    with pytest.raises(TypeError):
        Money(10.5, "CNY")
    with pytest.raises(TypeError):
        Money(True, "CNY")
    with pytest.raises(ValueError):
        Money(10, "yuan")


def test_never_mixes_currencies():
    with pytest.raises(CurrencyMismatch):
        Money(1, "CNY") + Money(1, "USD")
    with pytest.raises(CurrencyMismatch):
        Money(1, "CNY") < Money(1, "USD")


def test_orders_and_reports_zero():
    assert Money(1, "CNY") < Money(2, "CNY")
    assert Money(2, "CNY") <= Money(2, "CNY")
    assert Money.zero("EUR").is_zero and not Money(1, "EUR").is_zero


def test_round_trips_through_the_contract():
    original = Money(-123_456_789_012, "USD")
    assert Money.from_proto(original.to_proto()) == original
