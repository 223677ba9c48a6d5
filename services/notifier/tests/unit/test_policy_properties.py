"""Invariants of the contact policy over arbitrary instants, zones and histories."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st
from notifier.domain.policy import PACKS, Allow, Attempt, ContactFacts, Defer, _holidays, evaluate_contact

ZONES = ["Asia/Shanghai", "America/New_York", "Europe/London", "America/Los_Angeles", "Australia/Sydney",
         "Asia/Kolkata", "Pacific/Chatham"]
instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31),
                        timezones=st.just(UTC))
packs = st.sampled_from(sorted(PACKS))
zones = st.sampled_from(ZONES)
channels = st.sampled_from(["sms", "email", "call"])


def lawful_moment(at: datetime, zone: str, pack) -> bool:
    local = at.astimezone(ZoneInfo(zone))
    in_hours = pack.allowed_from <= local.time() < pack.allowed_until
    holiday = pack.rest_on_public_holidays and local.date() in _holidays(pack.holiday_country, local.date().year)
    return in_hours and not holiday


@st.composite
def histories(draw, channel_strategy=channels):
    now = draw(instants)
    offsets = draw(st.lists(st.integers(min_value=1, max_value=8 * 24 * 60), max_size=12))
    outcomes = st.sampled_from(["no-answer", "connected", "conversation", "wrong-number", "pending"])
    channel = draw(channel_strategy)
    attempts = [Attempt(now - timedelta(minutes=m), channel, draw(outcomes) if channel == "call" else "sent")
                for m in offsets]
    return now, channel, attempts


@settings(max_examples=300, deadline=None)
@given(histories(), zones, packs)
def test_no_contact_is_allowed_outside_the_packs_hours_in_the_customers_zone(history, zone, pack_name):
    now, channel, attempts = history
    pack = PACKS[pack_name]
    decision = evaluate_contact(ContactFacts(channel, zone, attempts=attempts), pack, now)
    moment = now if isinstance(decision, Allow) else decision.until
    assert lawful_moment(moment, zone, pack), (decision, moment.astimezone(ZoneInfo(zone)))


@settings(max_examples=150, deadline=None)
@given(histories(), zones, packs)
def test_a_deferral_is_never_later_than_the_next_allowed_moment(history, zone, pack_name):
    now, channel, attempts = history
    pack = PACKS[pack_name]
    facts = ContactFacts(channel, zone, attempts=attempts)
    decision = evaluate_contact(facts, pack, now)
    if not isinstance(decision, Defer):
        return
    assert evaluate_contact(facts, pack, decision.until) == Allow()
    step = max((decision.until - now) / 40, timedelta(minutes=1))
    probe = now
    while probe < decision.until - timedelta(seconds=1):
        assert not isinstance(evaluate_contact(facts, pack, probe), Allow), probe
        probe += step
    assert not isinstance(evaluate_contact(facts, pack, decision.until - timedelta(seconds=1)), Allow)


@settings(max_examples=100, deadline=None)
@given(st.lists(instants, min_size=1, max_size=25), zones, packs, st.sampled_from(["sms", "email"]))
def test_daily_caps_hold_whatever_order_requests_arrive_in(requests, zone, pack_name, channel):
    """Each request goes out at the moment the policy names, and joins the ledger
    before the next request is judged. No local day ever exceeds the cap."""
    pack = PACKS[pack_name]
    ledger: list[Attempt] = []
    for requested in sorted(requests):
        requested = max([requested] + [a.at for a in ledger])
        decision = evaluate_contact(ContactFacts(channel, zone, attempts=ledger), pack, requested)
        ledger.append(Attempt(requested if isinstance(decision, Allow) else decision.until, channel))
    per_day = Counter(a.at.astimezone(ZoneInfo(zone)).date() for a in ledger)
    assert max(per_day.values()) <= pack.daily_caps[channel]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(min_value=0, max_value=14 * 24 * 60),
                          st.sampled_from(["no-answer", "connected", "conversation", "wrong-number"])),
                min_size=1, max_size=30), st.sampled_from(["America/New_York", "America/Chicago"]))
def test_reg_f_seven_calls_in_any_seven_days_and_the_pause_after_a_conversation(requests, zone):
    pack = PACKS["US"]
    start = datetime(2026, 6, 1, tzinfo=UTC)
    ledger: list[Attempt] = []
    for minutes, outcome in sorted(requests):
        requested = max([start + timedelta(minutes=minutes)] + [a.at for a in ledger])
        decision = evaluate_contact(ContactFacts("call", zone, attempts=ledger), pack, requested)
        at = requested if isinstance(decision, Allow) else decision.until
        ledger.append(Attempt(at, "call", outcome))
    for attempt in ledger:
        window = [a for a in ledger if attempt.at - timedelta(days=7) < a.at <= attempt.at]
        assert len(window) <= 7
        talks = [a.at for a in ledger if a.outcome == "conversation" and a.at < attempt.at]
        assert not talks or attempt.at >= max(talks) + timedelta(days=7)
