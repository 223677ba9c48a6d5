"""Commission: integer minor units, one rounding per statement line."""

from datetime import date

import pytest
from agency_gateway.domain.commission import Attribution, commission_minor, statement_lines
from collections_core.money import Money
from hypothesis import given
from hypothesis import strategies as st


@pytest.mark.parametrize("name, net, rate, expected", [
    ("exact", 100_000, 1_250, 12_500),
    ("half a fen rounds up", 1, 5_000, 1),  # 0.5 → 1
    ("under half rounds down", 3, 1_500, 0),  # 0.45 → 0
    ("over half rounds up", 7, 1_000, 1),  # 0.7 → 1
    ("claw-back rounds half away from zero", -1, 5_000, -1),
    ("zero rate", 99_999, 0, 0),
    ("full rate", 12_345, 10_000, 12_345),
])
def test_commission_rounding(name, net, rate, expected):
    assert commission_minor(net, rate) == expected, name


def test_commission_refuses_floats_and_impossible_rates():
    with pytest.raises(TypeError):
        commission_minor(10.5, 100)
    with pytest.raises(ValueError):
        commission_minor(100, 10_001)


@given(st.integers(-10**12, 10**12), st.integers(0, 10_000))
def test_commission_is_within_half_a_minor_unit_of_the_exact_value(net, rate):
    exact = net * rate  # in 1/10,000 minor units
    assert abs(commission_minor(net, rate) * 10_000 - exact) <= 5_000
    assert commission_minor(-net, rate) == -commission_minor(net, rate)


def attribution(payment_id, amount, entry="payment", rate=1_000, currency="CNY"):
    return Attribution(payment_id, "PL-1", entry, Money(amount, currency), date(2026, 11, 5), rate)


def test_statement_nets_reversals_and_rounds_once_per_line():
    lines = statement_lines([attribution("P1", 5), attribution("P2", 5), attribution("P3", 5),
                             attribution("P1", -5, "reversal"), attribution("P9", 1_000, currency="USD")])
    assert [(l.currency, l.payments, l.reversals, l.net.amount_minor, l.commission.amount_minor) for l in lines] == [
        ("CNY", 3, 1, 10, 1), ("USD", 1, 0, 1_000, 100)]
    # Rounding each payment (0.5 → 1) would have paid 3 - 1 = 2 on a net of 10 at 10 %.
