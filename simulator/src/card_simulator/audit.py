"""An independent compliance audit of a run: what reached customers (the stand-ins'
delivery logs) checked against the contact ledger (the notifier's API) and the
pack's rules, without trusting the notifier's own decisions.

Pure: the run gathers the inputs, ``audit`` judges them. Checked, for every SMS,
e-mail and letter that reached the outside world:

- ``unledgered``: it has no allowed attempt in the notifier's ledger;
- ``quiet-hours``: an SMS or e-mail arrived outside the pack's hours in the customer's own
  zone (a letter goes to the print vendor at any hour: the post brings it in daytime, as the
  notifier's packs say);
- ``daily-cap``: more of the channel reached the customer on one local day than the cap;
- ``opt-out``: an SMS arrived after the customer replied STOP or opted out of SMS;
- ``hold``: it arrived while a blocking hold was on the customer;
for every call the ledger allowed (a permit to a bank agent or an agency), ``quiet-hours``;
and for every credit-bureau report: ``bureau-without-notice``, no pre-notice had been
delivered to the customer before it. Public holidays are left to the notifier's tests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class Rules:
    """The pack's rules the audit checks (services/notifier/README.md, contact-policy packs)."""

    allowed_from: time = time(8, 0)
    allowed_until: time = time(21, 0)  # exclusive
    daily_caps: dict[str, int] = field(default_factory=lambda: {"sms": 2, "email": 2, "letter": 1})
    blocking_holds: frozenset[str] = frozenset({"cease-contact", "dispute", "hardship", "bankruptcy", "deceased"})


@dataclass(frozen=True, slots=True)
class Delivery:
    """One contact that reached the outside world, as the stand-in logged it."""

    channel: str  # sms | email | letter
    at: datetime
    request_id: str
    template: str = ""


@dataclass(frozen=True, slots=True)
class Customer:
    customer_id: str
    time_zone: str
    opted_out_sms_at: datetime | None = None  # the earlier of a STOP reply and a recorded opt-out
    holds: tuple[tuple[str, datetime, datetime | None], ...] = ()  # (hold, from, until)


@dataclass(frozen=True, slots=True)
class Attempt:
    """An allowed attempt in the notifier's ledger."""

    customer_id: str
    request_id: str
    channel: str
    at: datetime


@dataclass(frozen=True, slots=True)
class BureauReport:
    customer_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    customer_id: str
    request_id: str
    at: datetime
    detail: str


def audit(deliveries: Iterable[Delivery], attempts: Iterable[Attempt], customers: dict[str, Customer],
          bureau_reports: Iterable[BureauReport] = (), rules: Rules = Rules(),
          calls: Iterable[Attempt] = ()) -> list[Violation]:
    ledger = {attempt.request_id: attempt for attempt in attempts}
    violations: list[Violation] = []
    per_day: Counter = Counter()
    notices: dict[str, datetime] = {}
    for delivery in sorted(deliveries, key=lambda d: d.at):
        attempt = ledger.get(delivery.request_id)
        if attempt is None or attempt.channel != delivery.channel:
            violations.append(Violation("unledgered", "", delivery.request_id, delivery.at,
                                        f"{delivery.channel} with no allowed attempt in the ledger"))
            continue
        customer = customers[attempt.customer_id]
        local = delivery.at.astimezone(ZoneInfo(customer.time_zone))

        def flag(rule: str, detail: str) -> None:
            violations.append(Violation(rule, customer.customer_id, delivery.request_id, delivery.at, detail))

        if delivery.channel != "letter" and not rules.allowed_from <= local.time() < rules.allowed_until:
            flag("quiet-hours", f"{delivery.channel} at {local:%H:%M} {customer.time_zone}")
        per_day[customer.customer_id, delivery.channel, local.date()] += 1
        cap = rules.daily_caps.get(delivery.channel)
        if cap is not None and per_day[customer.customer_id, delivery.channel, local.date()] == cap + 1:
            flag("daily-cap", f"more than {cap} {delivery.channel} on {local.date()}")
        if delivery.channel == "sms" and customer.opted_out_sms_at and delivery.at > customer.opted_out_sms_at:
            flag("opt-out", f"sms after the opt-out of {customer.opted_out_sms_at.isoformat()}")
        for hold, start, until in customer.holds:
            # The clock moves in steps: a contact at the very instant a hold starts went out before it.
            if hold in rules.blocking_holds and start < delivery.at and (until is None or delivery.at < until):
                flag("hold", f"{delivery.channel} during the {hold} hold")
        if delivery.template.startswith("bureau-prenotice"):
            notices.setdefault(customer.customer_id, delivery.at)
    for call in calls:
        zone = customers[call.customer_id].time_zone
        local = call.at.astimezone(ZoneInfo(zone))
        if not rules.allowed_from <= local.time() < rules.allowed_until:
            violations.append(Violation("quiet-hours", call.customer_id, call.request_id, call.at,
                                        f"call permitted at {local:%H:%M} {zone}"))
    for report in bureau_reports:
        notice = notices.get(report.customer_id)
        if notice is None or notice >= report.at:
            violations.append(Violation("bureau-without-notice", report.customer_id, "", report.at,
                                        "credit-bureau report with no pre-notice delivered before it"))
    return violations
