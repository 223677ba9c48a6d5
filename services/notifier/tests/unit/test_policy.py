"""Contact-policy table tests: hours in the customer's own zone across DST edges,
holidays, caps, holds, opt-outs, third parties and expiry."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from notifier.domain.policy import CN, UK, US, Allow, Attempt, Block, ContactFacts, Defer, evaluate_contact


def local(zone: str, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=ZoneInfo(zone)).astimezone(UTC)


SH, NY, LDN = "Asia/Shanghai", "America/New_York", "Europe/London"

HOURS = [
    # (case, pack, zone, now, expected decision)
    ("07:59 in Shanghai waits for 08:00", CN, SH, local(SH, 2026, 11, 3, 7, 59),
     Defer(local(SH, 2026, 11, 3, 8, 0), "quiet-hours")),
    ("08:00 in Shanghai is allowed", CN, SH, local(SH, 2026, 11, 3, 8, 0), Allow()),
    ("20:59 in Shanghai is allowed", CN, SH, local(SH, 2026, 11, 3, 20, 59), Allow()),
    ("21:00 in Shanghai waits for tomorrow 08:00", CN, SH, local(SH, 2026, 11, 3, 21, 0),
     Defer(local(SH, 2026, 11, 4, 8, 0), "quiet-hours")),
    ("New York spring-forward day: 07:59 EDT waits one minute", US, NY, local(NY, 2026, 3, 8, 7, 59),
     Defer(local(NY, 2026, 3, 8, 8, 0), "quiet-hours")),
    ("New York spring-forward night: 21:30 EST eve waits for 08:00 EDT", US, NY, local(NY, 2026, 3, 7, 21, 30),
     Defer(datetime(2026, 3, 8, 12, 0, tzinfo=UTC), "quiet-hours")),
    ("New York fall-back night: 02:00 waits for 08:00 EST", US, NY, local(NY, 2026, 11, 1, 2, 0),
     Defer(datetime(2026, 11, 1, 13, 0, tzinfo=UTC), "quiet-hours")),
    ("12:30 UTC is 07:30 in New York in winter", US, NY, datetime(2026, 12, 1, 12, 30, tzinfo=UTC),
     Defer(datetime(2026, 12, 1, 13, 0, tzinfo=UTC), "quiet-hours")),
    ("12:30 UTC is 08:30 in New York in summer", US, NY, datetime(2026, 7, 1, 12, 30, tzinfo=UTC), Allow()),
    ("London on BST-end day: 20:59 GMT allowed", UK, LDN, local(LDN, 2026, 10, 26, 20, 59), Allow()),
    ("London 07:30 BST waits for 08:00 BST (07:00 UTC)", UK, LDN, local(LDN, 2026, 3, 30, 7, 30),
     Defer(datetime(2026, 3, 30, 7, 0, tzinfo=UTC), "quiet-hours")),
]


@pytest.mark.parametrize("case,pack,zone,now,expected", HOURS, ids=[row[0] for row in HOURS])
def test_allowed_hours_in_the_customers_own_zone(case, pack, zone, now, expected):
    assert evaluate_contact(ContactFacts(channel="sms", time_zone=zone), pack, now) == expected


HOLIDAYS = [
    ("National Day in China: 10-05 to 10-07 are days off, the 8th is not", CN, SH, local(SH, 2026, 10, 5, 10, 0),
     Defer(local(SH, 2026, 10, 8, 8, 0), "public-holiday")),
    ("Christmas in England waits past Boxing Day", UK, LDN, local(LDN, 2026, 12, 25, 10, 0),
     Defer(local(LDN, 2026, 12, 27, 8, 0), "public-holiday")),
    ("US pack does not rest on Independence Day (bank choice)", US, NY, local(NY, 2026, 7, 4, 10, 0), Allow()),
    ("Late evening before a holiday skips both the night and the holiday", CN, SH,
     local(SH, 2026, 9, 30, 21, 30), Defer(local(SH, 2026, 10, 4, 8, 0), "quiet-hours")),
]


@pytest.mark.parametrize("case,pack,zone,now,expected", HOLIDAYS, ids=[row[0] for row in HOLIDAYS])
def test_public_holidays(case, pack, zone, now, expected):
    assert evaluate_contact(ContactFacts(channel="sms", time_zone=zone), pack, now) == expected


NOON_SH = local(SH, 2026, 11, 3, 12, 0)
NOON_NY = local(NY, 2026, 11, 3, 12, 0)


def calls(outcome: str, *hours_ago: float, start=NOON_SH, recipient="debtor"):
    return [Attempt(start - timedelta(hours=h), "call", outcome, recipient) for h in hours_ago]


RULES = [
    ("opt-out of SMS blocks an SMS", CN, ContactFacts("sms", SH, opted_out=frozenset({"sms"})), NOON_SH,
     Block("opt-out")),
    ("opt-out of SMS leaves email open", CN, ContactFacts("email", SH, opted_out=frozenset({"sms"})), NOON_SH,
     Allow()),
    ("cease-contact blocks every channel", CN, ContactFacts("letter", SH, holds={"cease-contact": None}), NOON_SH,
     Block("cease-contact")),
    ("CN hardship hold blocks", CN, ContactFacts("sms", SH, holds={"hardship": None}), NOON_SH, Block("hardship")),
    ("US hardship is not a hold", US, ContactFacts("sms", NY, holds={"hardship": None}), NOON_NY, Allow()),
    ("US attorney hold blocks", US, ContactFacts("sms", NY, holds={"attorney": None}), NOON_NY, Block("attorney")),
    ("UK breathing space defers to its end", UK,
     ContactFacts("sms", LDN, holds={"breathing-space": local(LDN, 2027, 1, 4, 0, 0)}),
     local(LDN, 2026, 11, 5, 12, 0), Defer(local(LDN, 2027, 1, 4, 8, 0), "breathing-space")),
    ("a hold that has ended is ignored", UK,
     ContactFacts("sms", LDN, holds={"breathing-space": local(LDN, 2026, 11, 1, 0, 0)}),
     local(LDN, 2026, 11, 5, 12, 0), Allow()),
    ("two SMS today reach the daily cap", CN,
     ContactFacts("sms", SH, attempts=[Attempt(NOON_SH - timedelta(hours=2), "sms"),
                                        Attempt(NOON_SH - timedelta(hours=1), "sms")]), NOON_SH,
     Defer(local(SH, 2026, 11, 4, 8, 0), "daily-cap")),
    ("yesterday's SMS do not count today", CN,
     ContactFacts("sms", SH, attempts=[Attempt(NOON_SH - timedelta(hours=20), "sms"),
                                        Attempt(NOON_SH - timedelta(hours=19), "sms")]), NOON_SH, Allow()),
    ("CN: six unanswered calls today", CN,
     ContactFacts("call", SH, attempts=calls("no-answer", 1, 1.2, 1.4, 1.6, 1.8, 2)), NOON_SH,
     Defer(local(SH, 2026, 11, 4, 8, 0), "unanswered-calls-cap")),
    ("CN: five unanswered calls leave one", CN,
     ContactFacts("call", SH, attempts=calls("no-answer", 1, 1.2, 1.4, 1.6, 2)), NOON_SH, Allow()),
    ("CN: a permit without outcome counts as unanswered", CN,
     ContactFacts("call", SH, attempts=calls("no-answer", 1, 1.2, 1.4, 1.6, 2) + calls("pending", 0.1)),
     NOON_SH, Defer(local(SH, 2026, 11, 4, 8, 0), "unanswered-calls-cap")),
    ("CN: three connected calls today", CN, ContactFacts("call", SH, attempts=calls("connected", 1, 2, 3)), NOON_SH,
     Defer(local(SH, 2026, 11, 4, 8, 0), "connected-calls-cap")),
    ("US: seven calls in seven days wait for the oldest to age out", US,
     ContactFacts("call", NY, attempts=calls("no-answer", 1, 24, 48, 72, 96, 120, 144, start=NOON_NY)), NOON_NY,
     Defer(NOON_NY - timedelta(hours=144) + timedelta(days=7), "calls-in-seven-days")),
    ("US: a conversation pauses calls for seven days", US,
     ContactFacts("call", NY, attempts=calls("conversation", 24, start=NOON_NY)), NOON_NY,
     Defer(NOON_NY + timedelta(days=6), "pause-after-conversation")),
    ("US: third parties are never called", US, ContactFacts("call", NY, recipient="third-party"), NOON_NY,
     Block("third-party")),
    ("CN: third party only after three failed calls in a row", CN,
     ContactFacts("call", SH, recipient="third-party", attempts=calls("no-answer", 1, 2) + calls("connected", 3)),
     NOON_SH, Block("third-party")),
    ("CN: third party allowed after three failed calls in a row", CN,
     ContactFacts("call", SH, recipient="third-party", attempts=calls("no-answer", 1, 2) + calls("wrong-number", 3)),
     NOON_SH, Allow()),
    ("not-before in the future defers to it", CN,
     ContactFacts("sms", SH, not_before=NOON_SH + timedelta(hours=2)), NOON_SH,
     Defer(NOON_SH + timedelta(hours=2), "not-before")),
    ("no allowed moment before expiry blocks as expired", CN,
     ContactFacts("sms", SH, expires_at=local(SH, 2026, 11, 4, 7, 0)), local(SH, 2026, 11, 3, 22, 0),
     Block("expired")),
    ("letters ignore the clock: the post delivers in daytime", CN, ContactFacts("letter", SH),
     local(SH, 2026, 11, 3, 23, 0), Allow()),
]


@pytest.mark.parametrize("case,pack,facts,now,expected", RULES, ids=[row[0] for row in RULES])
def test_contact_rules(case, pack, facts, now, expected):
    assert evaluate_contact(facts, pack, now) == expected
