"""Who the simulated bank lends to: customers in several time zones and two languages,
one card account each, and how each customer behaves when a bill comes due.

Everything is drawn from one seeded random generator, so the same seed and size give
the same portfolio, the same behaviour and therefore the same run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum


class Segment(StrEnum):
    """How a customer treats a minimum payment (shares in ``SEGMENT_SHARES``)."""

    ALWAYS_PAYS = "always-pays"  # pays the minimum a few days before it is due
    PAYS_WITHIN_GRACE = "pays-within-grace"  # a day or two late, never past the grace period
    SELF_CURES = "self-cures"  # falls behind, pays all arrears days after a reminder reaches them
    PROMISES_KEPT = "promises-kept"  # falls behind further, then catches up in the second month
    PROMISES_BROKEN = "promises-broken"  # pays part of the arrears now and then, never all of it
    HARDSHIP = "hardship"  # stops paying for months, then pays small regular amounts
    DISPUTES = "disputes"  # disputes a statement and pays once it is resolved
    OPTS_OUT = "opts-out"  # pays late, and replies STOP to the first SMS that reaches them
    NEVER_PAYS = "never-pays"  # never pays again: walks the whole ladder to charge-off


SEGMENT_SHARES = {
    Segment.ALWAYS_PAYS: 0.55,
    Segment.PAYS_WITHIN_GRACE: 0.12,
    Segment.SELF_CURES: 0.09,
    Segment.PROMISES_KEPT: 0.06,
    Segment.PROMISES_BROKEN: 0.04,
    Segment.HARDSHIP: 0.04,
    Segment.DISPUTES: 0.02,
    Segment.OPTS_OUT: 0.03,
    Segment.NEVER_PAYS: 0.05,
}


@dataclass(frozen=True, slots=True)
class Region:
    time_zone: str
    language: str
    currency: str
    country: str
    weight: float


REGIONS = (
    Region("Asia/Shanghai", "zh-CN", "CNY", "CN", 0.55),
    Region("Asia/Urumqi", "zh-CN", "CNY", "CN", 0.05),
    Region("America/New_York", "en", "USD", "US", 0.15),
    Region("America/Los_Angeles", "en", "USD", "US", 0.10),
    Region("Europe/London", "en", "GBP", "GB", 0.15),
)

_ZH_FAMILY = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
_ZH_GIVEN = ("伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超", "秀英", "桂英", "建华")
_EN_GIVEN = ("Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Jamie", "Robin", "Chris", "Pat", "Lee", "Drew")
_EN_FAMILY = ("Smith", "Jones", "Brown", "Taylor", "Wilson", "Evans", "Walker", "Clark", "Hall", "Young", "King")


@dataclass(frozen=True, slots=True)
class Customer:
    customer_id: str
    name: str
    phone: str  # E.164, from ranges reserved for drama and testing where the country has one
    email: str  # at example.com, which is reserved and never delivers
    address_lines: tuple[str, ...]
    city: str
    postal_code: str
    region: Region


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str
    customer: Customer
    segment: Segment
    currency: str
    credit_limit_minor: int
    cycle_day: int  # day of the month a statement is cut (1-28)
    monthly_spend_minor: int  # what the customer typically spends in a cycle

    @property
    def customer_id(self) -> str:
        return self.customer.customer_id


def _segment(rng: random.Random) -> Segment:
    return rng.choices(list(SEGMENT_SHARES), weights=list(SEGMENT_SHARES.values()))[0]


def _customer(rng: random.Random, number: int) -> Customer:
    region = rng.choices(REGIONS, weights=[r.weight for r in REGIONS])[0]
    customer_id = f"C{number:07d}"
    if region.country == "CN":
        name = rng.choice(_ZH_FAMILY) + rng.choice(_ZH_GIVEN)
        phone = f"+86138{number % 100_000_000:08d}"
        lines, city, postal = (f"{rng.randint(1, 300)}号 幸福路", ), "上海市", f"2000{rng.randint(10, 99)}"
    elif region.country == "US":
        name = f"{rng.choice(_EN_GIVEN)} {rng.choice(_EN_FAMILY)}"
        phone = f"+1202555{number % 10_000:04d}"
        lines, city, postal = (f"{rng.randint(1, 999)} Main Street",), "Springfield", f"{rng.randint(10000, 99999)}"
    else:
        name = f"{rng.choice(_EN_GIVEN)} {rng.choice(_EN_FAMILY)}"
        phone = f"+447700900{number % 1_000:03d}"
        lines, city, postal = (f"{rng.randint(1, 200)} High Street",), "Reading", f"RG{rng.randint(1, 9)} 1AA"
    return Customer(customer_id, name, phone, f"{customer_id.lower()}@example.com", lines, city, postal, region)


def generate(seed: int, accounts: int) -> list[Account]:
    """The portfolio of a run: ``accounts`` card accounts, one customer each."""
    if accounts < 1:
        raise ValueError("a portfolio needs at least one account")
    rng = random.Random(seed)
    portfolio = []
    for number in range(1, accounts + 1):
        customer = _customer(rng, number)
        limit = rng.choice((10_000, 20_000, 50_000, 100_000)) * 100
        portfolio.append(Account(
            account_id=f"A{number:07d}", customer=customer, segment=_segment(rng),
            currency=customer.region.currency, credit_limit_minor=limit, cycle_day=rng.randint(1, 28),
            monthly_spend_minor=rng.randint(limit // 50, limit // 8)))
    return portfolio
