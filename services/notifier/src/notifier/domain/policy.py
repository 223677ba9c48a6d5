"""The contact policy: may this contact happen now, later, or never?

A pack (CN, US, UK) is data: allowed hours in the customer's own time zone,
whether public holidays are rest days, caps per channel and per debtor summed
over the bank and its agencies, call rules (CN unanswered and connected caps,
Reg F 7-in-7 and the 7-day pause after a conversation), which holds stop contact,
and when a third party may be called. ``evaluate_contact`` reads a pack and the
facts of one customer and answers:

- ``Block(rule)`` when the contact may never happen as asked (opt-out, an
  open-ended hold, a third party the pack forbids, or no allowed moment before
  the request expires: rule ``expired``);
- ``Defer(until, rule)`` when it may happen later: ``until`` is the earliest
  instant at which every rule allows it, and ``rule`` is the first rule that
  pushed it there;
- ``Allow()`` when it may happen now.

The earliest allowed instant is found as a fixpoint: each time rule maps an
instant to the earliest instant not before it that the rule allows; applying
them in turn until none moves the candidate gives the earliest instant every
rule allows. Local times go through ``zoneinfo``, so DST changes move the
window with the customer's clock, not with UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

import holidays

CHANNELS = ("sms", "email", "letter", "call")
CALL_OUTCOMES = ("pending", "no-answer", "connected", "conversation", "wrong-number")
HOLDS = ("cease-contact", "dispute", "hardship", "breathing-space", "attorney", "bankruptcy", "deceased")


@dataclass(frozen=True)
class Pack:
    """One jurisdiction's contact rules; every number is configurable."""

    name: str
    allowed_from: time = time(8, 0)
    allowed_until: time = time(21, 0)  # exclusive: 21:00 itself is outside
    holiday_country: str | None = None
    rest_on_public_holidays: bool = True
    daily_caps: dict[str, int] = field(default_factory=lambda: {"sms": 2, "email": 2, "letter": 1})
    unanswered_calls_per_number_per_day: int | None = None
    connected_calls_per_day: int | None = None
    call_attempts_in_seven_days: int | None = None
    pause_after_conversation: timedelta | None = None
    blocking_holds: frozenset[str] = frozenset({"cease-contact", "dispute", "bankruptcy", "deceased"})
    # None: third parties may never be contacted; n: only after n failed calls to the debtor in a row.
    third_party_after_failed_calls: int | None = None
    electronic_opt_out_required: bool = False
    letter_marking: str | None = None


CN = Pack(
    name="CN", holiday_country="CN",
    unanswered_calls_per_number_per_day=6, connected_calls_per_day=3,
    blocking_holds=frozenset({"cease-contact", "dispute", "hardship", "bankruptcy", "deceased"}),
    third_party_after_failed_calls=3,
)
US = Pack(
    name="US", holiday_country="US", rest_on_public_holidays=False,
    call_attempts_in_seven_days=7, pause_after_conversation=timedelta(days=7),
    blocking_holds=frozenset({"cease-contact", "dispute", "attorney", "bankruptcy", "deceased"}),
    third_party_after_failed_calls=None, electronic_opt_out_required=True,
)
UK = Pack(
    name="UK", holiday_country="GB",
    blocking_holds=frozenset({"cease-contact", "dispute", "breathing-space", "bankruptcy", "deceased"}),
    third_party_after_failed_calls=None, letter_marking="Private and confidential",
)
PACKS = {pack.name: pack for pack in (CN, US, UK)}


@dataclass(frozen=True)
class Attempt:
    """One earlier contact attempt in the ledger, by the bank or an agency."""

    at: datetime
    channel: str
    outcome: str = "sent"  # calls: one of CALL_OUTCOMES
    recipient: str = "debtor"


@dataclass(frozen=True)
class ContactFacts:
    channel: str
    time_zone: str
    opted_out: frozenset[str] = frozenset()
    holds: dict[str, datetime | None] = field(default_factory=dict)  # hold → end (None: until lifted)
    attempts: Sequence[Attempt] = ()
    recipient: str = "debtor"  # or "third-party"
    not_before: datetime | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Allow:
    rule: None = None


@dataclass(frozen=True)
class Defer:
    until: datetime
    rule: str


@dataclass(frozen=True)
class Block:
    rule: str


Decision = Allow | Defer | Block
TimeRule = Callable[[datetime], datetime]


def evaluate_contact(facts: ContactFacts, pack: Pack, now: datetime) -> Decision:
    if facts.channel in facts.opted_out:
        return Block("opt-out")
    for hold, until in sorted(facts.holds.items()):
        if hold in pack.blocking_holds and until is None:
            return Block(hold)
    if facts.recipient == "third-party" and not _third_party_allowed(facts, pack):
        return Block("third-party")
    rules = _time_rules(facts, pack)
    candidate, first_rule = now, None
    for _ in range(400):
        moved = False
        for name, rule in rules:
            later = rule(candidate)
            if later > candidate:
                candidate, moved = later, True
                first_rule = first_rule or name
        if not moved:
            break
        if facts.expires_at is not None and candidate >= facts.expires_at:
            return Block("expired")
    else:
        return Block("expired")
    if facts.expires_at is not None and candidate >= facts.expires_at:
        return Block("expired")
    return Allow() if first_rule is None else Defer(candidate, first_rule)


def next_allowed_moment(facts: ContactFacts, pack: Pack, now: datetime) -> datetime | None:
    """The instant a contact would go out, or None when it may never happen."""
    decision = evaluate_contact(facts, pack, now)
    if isinstance(decision, Block):
        return None
    return decision.until if isinstance(decision, Defer) else now


def _time_rules(facts: ContactFacts, pack: Pack) -> list[tuple[str, TimeRule]]:
    zone = ZoneInfo(facts.time_zone)
    rules: list[tuple[str, TimeRule]] = []
    if facts.not_before is not None:
        not_before = facts.not_before
        rules.append(("not-before", lambda at: max(at, not_before)))
    for hold, until in facts.holds.items():
        if hold in pack.blocking_holds and until is not None:
            rules.append((hold, lambda at, end=until: max(at, end)))
    if facts.channel != "letter":  # a letter goes to the print vendor; the post brings it in daytime
        rules.append(("quiet-hours", lambda at: _within_hours(at, zone, pack)))
        if pack.rest_on_public_holidays and pack.holiday_country:
            rules.append(("public-holiday", lambda at: _not_on_holiday(at, zone, pack)))
    own = [a for a in facts.attempts if a.channel == facts.channel]
    if facts.channel != "call" and facts.channel in pack.daily_caps:
        cap = pack.daily_caps[facts.channel]
        rules.append(("daily-cap", lambda at: _daily_cap(at, zone, pack, own, cap, lambda a: True)))
    if facts.channel == "call":
        if pack.unanswered_calls_per_number_per_day is not None:
            rules.append(("unanswered-calls-cap", lambda at: _daily_cap(
                at, zone, pack, own, pack.unanswered_calls_per_number_per_day,
                lambda a: a.outcome in ("pending", "no-answer"))))
        if pack.connected_calls_per_day is not None:
            rules.append(("connected-calls-cap", lambda at: _daily_cap(
                at, zone, pack, own, pack.connected_calls_per_day,
                lambda a: a.outcome in ("connected", "conversation"))))
        if pack.call_attempts_in_seven_days is not None:
            rules.append(("calls-in-seven-days", lambda at: _rolling_cap(
                at, own, pack.call_attempts_in_seven_days, timedelta(days=7))))
        if pack.pause_after_conversation is not None:
            conversations = [a.at for a in own if a.outcome == "conversation"]
            if conversations:
                resume = max(conversations) + pack.pause_after_conversation
                rules.append(("pause-after-conversation", lambda at: max(at, resume)))
    return rules


@lru_cache(maxsize=8192)
def _local_instant(day: date, clock_time: time, zone: ZoneInfo) -> datetime:
    """The instant the customer's clock shows ``clock_time`` on ``day``: the first of
    two when the clock is set back (fold=0), and past the gap when it is set forward.
    Remembered: a run asks it for the same few days and zones thousands of times."""
    return datetime.combine(day, clock_time, tzinfo=zone).astimezone(UTC)


def _within_hours(at: datetime, zone: ZoneInfo, pack: Pack) -> datetime:
    local = at.astimezone(zone)
    opens = _local_instant(local.date(), pack.allowed_from, zone)
    closes = _local_instant(local.date(), pack.allowed_until, zone)
    if at < opens:
        return opens
    if at >= closes:
        return _local_instant(local.date() + timedelta(days=1), pack.allowed_from, zone)
    return at


def _not_on_holiday(at: datetime, zone: ZoneInfo, pack: Pack) -> datetime:
    day = at.astimezone(zone).date()
    if day not in _holidays(pack.holiday_country, day.year):
        return at
    while day in _holidays(pack.holiday_country, day.year):
        day += timedelta(days=1)
    return _local_instant(day, pack.allowed_from, zone)


@cache
def _holidays(country: str, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, years=year))


def _daily_cap(at: datetime, zone: ZoneInfo, pack: Pack, attempts: Sequence[Attempt], cap: int,
               counts: Callable[[Attempt], bool]) -> datetime:
    day = at.astimezone(zone).date()
    made = sum(1 for a in attempts if counts(a) and a.at.astimezone(zone).date() == day)
    if made < cap:
        return at
    return _local_instant(day + timedelta(days=1), pack.allowed_from, zone)


def _rolling_cap(at: datetime, attempts: Sequence[Attempt], cap: int, window: timedelta) -> datetime:
    within = sorted(a.at for a in attempts if at - window < a.at <= at)
    if len(within) < cap:
        return at
    # Wait until enough of the oldest attempts have left the window.
    return within[len(within) - cap] + window


def _third_party_allowed(facts: ContactFacts, pack: Pack) -> bool:
    needed = pack.third_party_after_failed_calls
    if needed is None:
        return False
    calls = sorted((a for a in facts.attempts if a.channel == "call" and a.recipient == "debtor"),
                   key=lambda a: a.at)
    recent = calls[-needed:]
    return len(recent) == needed and all(a.outcome in ("no-answer", "wrong-number") for a in recent)
