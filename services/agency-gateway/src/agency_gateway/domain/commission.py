"""What a partner earns on the money that came in while it held a case.

A payment posted while a placement is open is attributed to that placement's
partner at the commission rate recorded on the placement (basis points, so
1,250 = 12.5 %). A reversal of an attributed payment is attributed back as a
negative amount in the month of the reversal, so a statement already sent is
never changed afterwards.

Rounding rule: commission is computed once per statement line — partner, month,
currency — on the net attributed amount, as ``net × rate / 10,000`` rounded to the
nearest minor unit with halves away from zero. Rounding per payment would let the
sum of many half-units drift from what the contract rate gives on the total.
A month whose reversals exceed its payments gives a negative commission (a claw-back).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from collections_core.money import Money

BASIS_POINTS = 10_000


def commission_minor(net_minor: int, rate_basis_points: int) -> int:
    if type(net_minor) is not int or type(rate_basis_points) is not int:
        raise TypeError("commission is computed from integer minor units and integer basis points")
    if not 0 <= rate_basis_points <= BASIS_POINTS:
        raise ValueError("a commission rate is between 0 and 10,000 basis points")
    product = abs(net_minor) * rate_basis_points
    whole, remainder = divmod(product, BASIS_POINTS)
    if remainder * 2 >= BASIS_POINTS:
        whole += 1
    return whole if net_minor >= 0 else -whole


@dataclass(frozen=True, slots=True)
class Attribution:
    payment_id: str
    placement_id: str
    entry: str  # "payment" or "reversal"
    amount: Money  # negative for a reversal
    booked_on: date
    rate_basis_points: int


@dataclass(frozen=True, slots=True)
class StatementLine:
    currency: str
    rate_basis_points: int
    payments: int
    reversals: int
    net: Money
    commission: Money


def statement_lines(attributions: list[Attribution]) -> list[StatementLine]:
    """One line per (currency, rate): a partner whose rate changed mid-month gets one line per rate."""
    groups: dict[tuple[str, int], list[Attribution]] = defaultdict(list)
    for attribution in attributions:
        groups[(attribution.amount.currency, attribution.rate_basis_points)].append(attribution)
    lines = []
    for (currency, rate), items in sorted(groups.items()):
        net = sum(a.amount.amount_minor for a in items)
        lines.append(StatementLine(
            currency=currency, rate_basis_points=rate,
            payments=sum(1 for a in items if a.entry == "payment"),
            reversals=sum(1 for a in items if a.entry == "reversal"),
            net=Money(net, currency), commission=Money(commission_minor(net, rate), currency)))
    return lines
